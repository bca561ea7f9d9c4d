#pragma once
// One data-parallel training step, written once for every backend and caller
// (trainer, benches): forward, the task's loss, backward, one all-reduce of the
// gradient with the loss and stop flag, clipping, the optimizer.
#include <cmath>
#include <functional>

#include "train/step_backend.hpp"

namespace elm {

struct StepSettings {
  double lr = 0;
  double clip_norm = 0;  // 0: no clipping (the norm is still reported)
  // Asked after the backward, before the all-reduce: this rank's stop request.
  std::function<bool()> want_stop;
};

struct StepResult {
  double loss = 0;       // mean over the ranks
  double grad_norm = 0;  // of the mean gradient, before clipping; NaN when the loss was not finite
  bool stop = false;     // some rank wants to stop
  bool updated = false;  // the optimizer stepped: loss and norm were finite
};

// `batch` is this rank's share of the global batch. A non-finite loss or
// gradient norm leaves the parameters as they were (updated = false).
// `next`, the following step's batch, is staged while this step computes (a
// GPU copies it during the step); the following call must then pass it as
// `batch`, and both must stay valid until that call returns.
StepResult train_step(StepBackend& backend, const Batch& batch, Comm& comm, const StepSettings& settings,
                      const Batch* next = nullptr);

// The step after the backward (the rest of train_step): the all-reduce,
// clipping and the optimizer, for a backend whose gradient is computed (a
// packed step computes many runs' gradients in one pass).
StepResult reduce_and_update(StepBackend& backend, Comm& comm, const StepSettings& settings);

}  // namespace elm
