#pragma once
// A batch of inputs in its compact form. Backends consume these directly: token
// ids are never expanded to one-hot and spike events never to dense frames.
#include <cstdint>
#include <variant>
#include <vector>

namespace elm {

// x[b, t, i] at data[(b * T + t) * n_in + i].
struct DenseInput {
  std::vector<float> data;
};

// Nonzero entries of x, grouped by (b, t): the events of step (b, t) are
// [offsets[b*T + t], offsets[b*T + t + 1]).
struct SpikeInput {
  std::vector<int64_t> offsets;  // [B*T + 1]
  std::vector<int32_t> channel;
  std::vector<float> value;
};

// One token per (b, t); x is its one-hot over n_in. Negative ids are padding
// (an all-zero input row).
struct TokenInput {
  std::vector<int32_t> ids;  // [B*T]
};

struct InputBatch {
  int batch = 0, steps = 0, channels = 0;
  std::variant<DenseInput, SpikeInput, TokenInput> data;

  void validate() const;  // sizes and ranges; throws ElmError
};

// Conversions, for tests and for data that arrives in another form.
InputBatch spikes_from_dense(const InputBatch& dense);
InputBatch dense_from_any(const InputBatch& in);

}  // namespace elm
