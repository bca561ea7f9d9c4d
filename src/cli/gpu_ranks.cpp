#include "cli/gpu_ranks.hpp"

#include "core/error.hpp"
#include "dist/mpi_comm.hpp"
#include "train/cuda_step_backend.hpp"
#ifdef ELM_HAVE_NCCL
#include "dist/nccl_comm.hpp"
#endif

namespace elm {

int gpu_of_this_rank() {
#ifdef ELM_HAVE_CUDA
  return gpu_for_this_rank(mpi_world_node_ranks());
#else
  return 0;  // require_backend_usable has said why there is no GPU
#endif
}

std::unique_ptr<DeviceComm> device_comm_for(Comm& run_comm, int device) {
#ifdef ELM_HAVE_NCCL
  if (run_comm.size() > 1) return make_nccl_comm(run_comm, device);
#else
  (void)device;
#endif
  (void)run_comm;
  return nullptr;
}

}  // namespace elm
