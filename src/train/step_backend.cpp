#include "train/step_backend.hpp"

#include "core/error.hpp"
#include "train/cpu_step_backend.hpp"
#include "train/cuda_step_backend.hpp"

namespace elm {

BackendKind parse_backend_kind(std::string_view name) {
  if (name == "cpu") return BackendKind::Cpu;
  if (name == "cuda") return BackendKind::Cuda;
  fail("config key 'train.backend' is '", name, "' (expected cpu or cuda)");
}

const char* to_string(BackendKind kind) { return kind == BackendKind::Cpu ? "cpu" : "cuda"; }

void require_backend_usable(const StepBackendOptions& options) {
  if (options.kind == BackendKind::Cpu) return;
#ifdef ELM_HAVE_CUDA
  require_cuda_usable(options.device);
#else
  fail("train.backend = cuda: this elmrun was built without the CUDA backend (rebuild on a machine with the CUDA ",
       "toolkit, or set train.backend = cpu)");
#endif
}

std::unique_ptr<StepBackend> make_step_backend(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss,
                                               const OptimizerConfig& optim, const StepBackendOptions& options) {
  if (options.kind == BackendKind::Cpu)
    return std::make_unique<CpuStepBackend>(config, routing, loss, optim, options.threads);
  require_backend_usable(options);
#ifdef ELM_HAVE_CUDA
  return make_cuda_step_backend(config, routing, loss, optim, options);
#else
  fail("unreachable");
#endif
}

}  // namespace elm
