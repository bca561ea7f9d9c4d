#pragma once
// The benches' wall clock.
#include <chrono>
#include <cstdint>

namespace elm {

using bench_clock = std::chrono::steady_clock;

inline double seconds_since(bench_clock::time_point t0) {
  return std::chrono::duration<double>(bench_clock::now() - t0).count();
}

// Calls step(i) for i = 0, 1, ... until it has run at least min_steps times
// and min_seconds have passed.
struct TimedLoop {
  int64_t steps = 0;
  double seconds = 0;
};
template <class Step>
TimedLoop time_until(int64_t min_steps, double min_seconds, Step&& step) {
  TimedLoop r;
  const auto t0 = bench_clock::now();
  while (r.steps < min_steps || r.seconds < min_seconds) {
    step(r.steps);
    ++r.steps;
    r.seconds = seconds_since(t0);
  }
  return r;
}

}  // namespace elm
