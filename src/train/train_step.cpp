#include "train/train_step.hpp"

#include <limits>

namespace elm {

StepResult train_step(StepBackend& backend, const Batch& batch, Comm& comm, const StepSettings& settings,
                      const Batch* next) {
  if (!backend.has_staged()) backend.stage(batch);  // else the previous call staged it as its `next`
  backend.forward_backward();
  if (next) backend.stage(*next);
  return reduce_and_update(backend, comm, settings);
}

StepResult reduce_and_update(StepBackend& backend, Comm& comm, const StepSettings& settings) {
  const bool want_stop = settings.want_stop && settings.want_stop();
  const ReducedStep reduced = backend.reduce(comm, want_stop);
  StepResult r;
  r.loss = reduced.loss_sum / comm.size();
  r.stop = reduced.stop;
  r.grad_norm = std::numeric_limits<double>::quiet_NaN();
  if (!std::isfinite(r.loss)) return r;
  r.grad_norm = backend.clip_gradient(settings.clip_norm);
  if (!std::isfinite(r.grad_norm)) return r;
  backend.optimizer_step(settings.lr);
  r.updated = true;
  return r;
}

}  // namespace elm
