#pragma once
// Elapsed times and estimates on progress lines: "45s", "3m05s", "2h07m",
// "4d03h"; negative or not finite: "?".
#include <string>

namespace elm {

std::string duration_text(double seconds);

// The time left when `done` of `total` units took `seconds` at a steady rate;
// NaN when nothing is done yet.
double eta_seconds(double seconds, double done, double total);

}  // namespace elm
