#pragma once
// The StepBackend on one CUDA device (cuda_step_backend.cu). This header has no
// CUDA includes; in a build without CUDA the factory is not defined and
// make_step_backend says so instead.
#include <memory>

#include "train/step_backend.hpp"

namespace elm {

#ifdef ELM_HAVE_CUDA
// require_backend_usable's CUDA half: a usable driver, `device` visible, code for it.
void require_cuda_usable(int device);
// The devices this process sees (CUDA_VISIBLE_DEVICES applied); 0 without a driver.
int cuda_visible_device_count();
std::unique_ptr<StepBackend> make_cuda_step_backend(const ElmConfig& config, const RoutingTable& routing,
                                                    TaskLoss loss, const OptimizerConfig& optim,
                                                    const StepBackendOptions& options);
#endif

}  // namespace elm
