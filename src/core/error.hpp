#pragma once
// Errors raised by elmrun. The CLI turns an ElmError into one line on stderr
// and a non-zero exit, so messages must name the file, key or record at fault.
#include <sstream>
#include <stdexcept>
#include <string>

namespace elm {

class ElmError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw ElmError(detail::concat(args...));
}

}  // namespace elm

// Checks of user-facing conditions: the message is what the user reads.
#define ELM_CHECK(cond, ...)                   \
  do {                                         \
    if (!(cond)) ::elm::fail(__VA_ARGS__);     \
  } while (0)

// Internal invariants: a failure is a bug, so report where it happened.
#define ELM_ASSERT(cond)                                                              \
  do {                                                                                \
    if (!(cond)) ::elm::fail("internal error: ", #cond, " at ", __FILE__, ":", __LINE__); \
  } while (0)
