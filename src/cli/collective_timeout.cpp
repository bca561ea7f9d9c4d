#include "cli/collective_timeout.hpp"

#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace elm {

double collective_timeout_seconds() {
  const char* text = std::getenv("ELMRUN_COLLECTIVE_TIMEOUT");
  if (!text || !*text) return kDefaultCollectiveTimeoutSeconds;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  ELM_CHECK(end && *end == '\0' && seconds >= 0 && seconds < 1e9, "environment variable ELMRUN_COLLECTIVE_TIMEOUT='",
            text, "': expected seconds (0 waits for ever)");
  return seconds;
}

}  // namespace elm
