#pragma once
#include <cstdlib>
#include <string>

namespace elm::test {

inline std::string shared_dir() {
  if (const char* s = std::getenv("ELM_SHARED_DIR"); s && *s) return s;
  return ELM_DEFAULT_SHARED_DIR;
}

inline std::string golden_dir() {
  if (const char* s = std::getenv("ELM_GOLDEN_DIR"); s && *s) return s;
  return shared_dir() + "/golden";
}

}  // namespace elm::test
