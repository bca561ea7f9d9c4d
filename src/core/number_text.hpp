#pragma once
// One rule for the numbers elmrun shows people (progress, eval and test lines,
// DONE, the sweep's table): counts as integers ("samples 10000", never
// "1e+04"); measured values with kMeasuredDigits significant digits, trailing
// zeros kept, so that 0.7130 next to 0.7166 does not read as less precise.
// Config and grid values are shown as written and never pass through here.
// analysis/number_text.py is the same rule for the Python reports.
#include <cstdint>
#include <string>

namespace elm {

inline constexpr int kMeasuredDigits = 4;

std::string count_text(int64_t n);

// "0.7130", "6.229", "77.40", "1235", "1.581e+06", "2.000e-03", "nan", "inf".
std::string measured_text(double v);

}  // namespace elm
