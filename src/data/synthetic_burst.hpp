#pragma once
// Built-in synthetic task that needs memory: a class-specific burst of spikes
// in the first steps, then only background noise until the label is read at
// the last step. Samples are a pure function of (seed, split, index).
#include "core/key_values.hpp"
#include "data/task.hpp"

namespace elm {

struct SyntheticBurstOptions {
  int classes = 4;
  int channels_per_class = 8;
  int steps = 100;
  int burst_steps = 20;
  double burst_rate = 0.3;
  double noise_rate = 0.05;
  int64_t train_samples = 4096, valid_samples = 512, test_samples = 512;
  uint64_t seed = 7;

  static SyntheticBurstOptions from_key_values(const KeyValues& kv, const std::string& source);
};

class SyntheticBurstTask : public Task {
 public:
  explicit SyntheticBurstTask(const SyntheticBurstOptions& o) : o_(o) {}
  std::string name() const override { return "synthetic_burst"; }
  int num_input() const override { return o_.classes * o_.channels_per_class; }
  int num_output() const override { return o_.classes; }
  InputKind input_kind() const override { return InputKind::Spikes; }
  int64_t num_samples(Split split) const override;
  Batch make_batch(Split split, std::span<const int64_t> indices) const override;

 private:
  SyntheticBurstOptions o_;
};

}  // namespace elm
