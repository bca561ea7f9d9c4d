#include "train/step_pack.hpp"

#include <cstdlib>

#include "core/error.hpp"
#include "train/cpu_step_pack.hpp"
#include "train/cuda_step_backend.hpp"

namespace elm {

StepBackend& QueuedStepPack::add_member(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss,
                                        const OptimizerConfig& optim) {
  return add_gpu_pack_member(members_, loss,
                             [&] { return make_step_backend(config, routing, loss, optim, options_); });
}

std::string QueuedStepPack::description() const {
  return members_.empty() ? "empty pack"
                          : members_.front()->description() + ", " + std::to_string(size()) +
                                " runs packed (one stream each)";
}

void QueuedStepPack::forward_backward(std::span<const int> members) {
  // A GPU member only queues its kernels here and returns; the first host
  // wait is the next call's (reduce), by when every member's step is queued.
  for (int k : members) member(k).forward_backward();
}

void request_queues_for_gpu_packs() { setenv("CUDA_DEVICE_MAX_CONNECTIONS", "32", 0); }

std::unique_ptr<StepPack> make_step_pack(const StepBackendOptions& options) {
  if (options.kind == BackendKind::Cpu) return std::make_unique<CpuStepPack>(options.threads);
#ifdef ELM_HAVE_CUDA
  return make_cuda_step_pack(options);
#else
  return std::make_unique<QueuedStepPack>(options);
#endif
}

}  // namespace elm
