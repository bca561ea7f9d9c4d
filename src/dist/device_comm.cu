#include "dist/device_comm.hpp"

#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/device_guard.cuh"
#include "core/error.hpp"

namespace elm {

namespace {

__global__ void scale_kernel(float* p, size_t n, float factor) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] *= factor;
}

}  // namespace

void allreduce_step_device(DeviceComm& comm, float* d_buf, size_t n_total, size_t n_grad, void* stream) {
  ELM_ASSERT(n_grad <= n_total);
  if (comm.size() == 1) return;
  comm.allreduce_sum(d_buf, n_total, stream);
  if (n_grad == 0) return;
  // Each rank's gradient is of its mean loss over B/W samples: the mean over W
  // is the global batch's. The same float multiply as allreduce_step on the host.
  const float inv_w = 1.0f / float(comm.size());
  cuda::DeviceGuard on(comm.device());
  constexpr int kThreads = 256;
  const unsigned blocks = unsigned(std::min<size_t>((n_grad + kThreads - 1) / kThreads, 65535));
  scale_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(d_buf, n_grad, inv_w);
  CUDA_CHECK_LAUNCH();
}

}  // namespace elm
