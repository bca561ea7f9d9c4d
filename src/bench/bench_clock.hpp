#pragma once
// The benches' wall clock.
#include <chrono>

namespace elm {

using bench_clock = std::chrono::steady_clock;

inline double seconds_since(bench_clock::time_point t0) {
  return std::chrono::duration<double>(bench_clock::now() - t0).count();
}

}  // namespace elm
