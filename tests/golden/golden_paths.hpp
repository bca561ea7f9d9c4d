#pragma once
#include <cstdlib>
#include <string>

#include "test_support.hpp"

namespace elm::test {

// ELM_GOLDEN_DIR, else the golden folder of the shared reference material.
inline std::string golden_dir() {
  if (const char* s = std::getenv("ELM_GOLDEN_DIR"); s && *s) return s;
  return shared_dir() + "/golden";
}

}  // namespace elm::test
