#include "io/output_dir.hpp"

#include <unistd.h>

#include <filesystem>

#include "core/error.hpp"

namespace elm {

void make_output_dir(const std::string& dir, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  ELM_CHECK(!ec, what, " ", dir, ": cannot create the directory: ", ec.message());
  ELM_CHECK(fs::is_directory(dir, ec) && ::access(dir.c_str(), W_OK | X_OK) == 0, what, " ", dir,
            ": not a writable directory");
}

void make_parent_dir(const std::string& path, const std::string& what) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  if (!parent.empty()) make_output_dir(parent, what + " " + path + ":");
}

}  // namespace elm
