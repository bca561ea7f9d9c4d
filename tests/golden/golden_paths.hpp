#pragma once
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace elm::test {

// ELM_GOLDEN_DIR, else the golden folder of the shared reference material.
inline std::string golden_dir() {
  if (const char* s = std::getenv("ELM_GOLDEN_DIR"); s && *s) return s;
  return shared_dir() + "/golden";
}

// Every *.h5 in the golden directory, sorted (empty when there is none).
inline std::vector<std::filesystem::path> golden_files() {
  std::vector<std::filesystem::path> files;
  const std::string dir = golden_dir();
  if (std::filesystem::is_directory(dir))
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".h5") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace elm::test
