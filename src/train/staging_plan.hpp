#pragma once
// Where one batch's arrays lie in a staging buffer: the compact input (dense
// values, spike events or token ids) and the loss's targets, each at an
// aligned byte offset, so that a batch is written once into pinned host
// memory and crosses to the device in one copy. Host-only (the CUDA backend
// uses it; tests check it without a GPU).
#include <cstddef>
#include <cstdint>

#include "data/task.hpp"

namespace elm {

struct StagingPlan {
  static constexpr size_t kAlign = 256;  // cudaMalloc's alignment: every array may be read as a vector
  struct Array {
    size_t offset = 0, bytes = 0;
  };
  InputKind kind = InputKind::Dense;
  int batch = 0, steps = 0, channels = 0;
  int64_t events = 0;
  Array dense, offsets, channel, value, ids;  // the input, by kind
  Array labels, spike, soma;                  // int32 labels, or the NeuronIO targets
  size_t total = 0;                           // bytes of the whole buffer
};

// The plan of `batch` for a task with `loss` (labels for the classification
// losses, spike and soma targets for NeuronIO).
StagingPlan plan_staging(const Batch& batch, TaskLoss loss);

// Writes the batch into `buffer` (plan.total bytes) as the plan lays it out,
// labels narrowed to int32 (the caller has checked their range).
void fill_staging(const Batch& batch, const StagingPlan& plan, std::byte* buffer);

}  // namespace elm
