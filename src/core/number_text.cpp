#include "core/number_text.hpp"

#include <cmath>
#include <cstdio>

namespace elm {

std::string count_text(int64_t n) { return std::to_string(n); }

std::string measured_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[48];
  // '#' keeps the trailing zeros; it also keeps a bare trailing point ("1235."), dropped below.
  std::snprintf(buf, sizeof buf, "%#.*g", kMeasuredDigits, v);
  std::string s = buf;
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace elm
