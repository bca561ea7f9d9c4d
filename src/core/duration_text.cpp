#include "core/duration_text.hpp"

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <limits>

namespace elm {

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = std::llround(seconds);
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%llds", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else if (s < 86400) std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  else std::snprintf(buf, sizeof buf, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
  return buf;
}

double eta_seconds(double seconds, double done, double total) {
  if (!(done > 0)) return std::numeric_limits<double>::quiet_NaN();
  return seconds / done * std::max(0.0, total - done);
}

}  // namespace elm
