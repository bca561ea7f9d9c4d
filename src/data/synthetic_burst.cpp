#include "data/synthetic_burst.hpp"

#include "core/did_you_mean.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace elm {

SyntheticBurstOptions SyntheticBurstOptions::from_key_values(const KeyValues& kv, const std::string& source) {
  SyntheticBurstOptions o;
  for (const auto& [k, v] : kv) {
    const std::string key = "task." + k;
    if (k == "classes") o.classes = int(parse_int(v, key, source));
    else if (k == "channels_per_class") o.channels_per_class = int(parse_int(v, key, source));
    else if (k == "steps") o.steps = int(parse_int(v, key, source));
    else if (k == "burst_steps") o.burst_steps = int(parse_int(v, key, source));
    else if (k == "burst_rate") o.burst_rate = parse_double(v, key, source);
    else if (k == "noise_rate") o.noise_rate = parse_double(v, key, source);
    else if (k == "train_samples") o.train_samples = parse_int(v, key, source);
    else if (k == "valid_samples") o.valid_samples = parse_int(v, key, source);
    else if (k == "test_samples") o.test_samples = parse_int(v, key, source);
    else if (k == "seed") o.seed = uint64_t(parse_int(v, key, source));
    else {
      const std::vector<std::string> known = {"classes",       "channels_per_class", "steps",         "burst_steps",
                                              "burst_rate",    "noise_rate",         "train_samples", "valid_samples",
                                              "test_samples",  "seed"};
      fail(source, ": unknown key '", key, "' for task synthetic_burst", did_you_mean(k, known));
    }
  }
  ELM_CHECK(o.classes >= 2, source, ": task.classes must be >= 2");
  ELM_CHECK(o.channels_per_class >= 1, source, ": task.channels_per_class must be >= 1");
  ELM_CHECK(o.steps >= 1 && o.burst_steps >= 1 && o.burst_steps <= o.steps, source,
            ": need 1 <= task.burst_steps <= task.steps");
  ELM_CHECK(o.burst_rate >= 0 && o.burst_rate <= 1 && o.noise_rate >= 0 && o.noise_rate <= 1, source,
            ": task rates must be in [0, 1]");
  ELM_CHECK(o.train_samples >= 1 && o.valid_samples >= 1 && o.test_samples >= 1, source,
            ": task sample counts must be >= 1");
  return o;
}

int64_t SyntheticBurstTask::num_samples(Split s) const {
  return s == Split::Train ? o_.train_samples : s == Split::Valid ? o_.valid_samples : o_.test_samples;
}

Batch SyntheticBurstTask::make_batch(Split split, std::span<const int64_t> indices) const {
  const int n = num_input(), T = o_.steps, B = static_cast<int>(indices.size());
  Batch batch;
  batch.x = InputBatch{B, T, n, {}};
  SpikeInput s;
  s.offsets.reserve(size_t(B) * T + 1);
  s.offsets.push_back(0);
  batch.labels.resize(B);
  for (int b = 0; b < B; ++b) {
    const int64_t idx = indices[b];
    ELM_CHECK(idx >= 0 && idx < num_samples(split), "synthetic_burst: sample ", idx, " outside the ",
              to_string(split), " split");
    // Streams per split keep the splits disjoint draws of the same distribution.
    const CounterRng rng(o_.seed, uint64_t(split) * (uint64_t(1) << 40) + uint64_t(idx));
    const int label = int(rng.below(0, o_.classes));
    batch.labels[b] = label;
    uint64_t draw = 1;
    for (int t = 0; t < T; ++t) {
      for (int i = 0; i < n; ++i) {
        const bool in_burst = t < o_.burst_steps && i / o_.channels_per_class == label;
        if (rng.uniform(draw++) < (in_burst ? o_.burst_rate : o_.noise_rate)) {
          s.channel.push_back(i);
          s.value.push_back(1.0f);
        }
      }
      s.offsets.push_back(int64_t(s.channel.size()));
    }
  }
  batch.x.data = std::move(s);
  return batch;
}

}  // namespace elm
