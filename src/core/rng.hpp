#pragma once
// Counter-based random numbers: a value depends only on (seed, stream, index),
// so results do not depend on thread count or call order.
#include <cmath>
#include <cstdint>

namespace elm {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class CounterRng {
 public:
  CounterRng(uint64_t seed, uint64_t stream) : key_(splitmix64(seed ^ splitmix64(stream + 0x1234567ULL))) {}
  uint64_t bits(uint64_t index) const { return splitmix64(key_ ^ splitmix64(index)); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform(uint64_t index) const { return (bits(index) >> 11) * 0x1.0p-53; }
  uint64_t below(uint64_t index, uint64_t n) const { return static_cast<uint64_t>(uniform(index) * n); }
  double normal(uint64_t index) const {
    double u1 = uniform(2 * index), u2 = uniform(2 * index + 1);
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t key_;
};

// A sequential view of a CounterRng, for code that draws numbers one by one.
class RngStream {
 public:
  RngStream(uint64_t seed, uint64_t stream) : rng_(seed, stream) {}
  double uniform() { return rng_.uniform(next_++); }
  uint64_t below(uint64_t n) { return rng_.below(next_++, n); }
  double normal() { return rng_.normal(next_++); }

 private:
  CounterRng rng_;
  uint64_t next_ = 0;
};

}  // namespace elm
