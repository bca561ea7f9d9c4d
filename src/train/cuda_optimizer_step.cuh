#pragma once
// The CUDA optimizer step from an OptimizerConfig. The kernel launcher
// (backend/cuda/train_kernels.cuh) takes the step's scalars only: the config
// and optimizer_step_scalars belong to train/, which the backend layer must
// not include.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/train_kernels.cuh"
#include "core/error.hpp"
#include "train/optimizer.hpp"

namespace elm::cuda {

// One update of Optimizer::step (train/optimizer.hpp) on n parameters: `step`
// is the step number after this update (1 for the first, the CPU's
// step_count()), lr the schedule's value for it. exp_avg and second are the
// optimizer's two state buffers (zeros before the first step). The scalars are
// computed on the host by optimizer_step_scalars, as the CPU does, so the
// result is bit-identical to the CPU optimizer for the same inputs.
inline void launch_optimizer_step(const OptimizerConfig& config, double lr, int64_t step, float* p, const float* g,
                                  float* exp_avg, float* second, int64_t n, cudaStream_t stream) {
  ELM_CHECK(step >= 1, "optimizer step number must be >= 1, got ", step);
  ELM_CHECK(std::isfinite(lr) && lr >= 0.0, "optimizer: learning rate must be finite and >= 0, got ", lr);
  launch_optimizer_step(optimizer_step_scalars(config, lr, step), p, g, exp_avg, second, n, stream);
}

}  // namespace elm::cuda
