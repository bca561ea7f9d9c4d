#pragma once
// The NCCL implementation of DeviceComm (the CUDA backend's flat gradient):
// one NCCL communicator per MPI communicator, the unique id broadcast over MPI,
// created non-blocking so that every wait can time out. An NCCL error or a
// peer that stops answering aborts the communicator and the job instead of
// hanging. Built only with CUDA and NCCL (library elm_nccl, ELM_HAVE_NCCL).
#include <memory>

#include "dist/comm.hpp"
#include "dist/device_comm.hpp"
#include "dist/gpu_assignment.hpp"

namespace elm {

struct NcclOptions {
  double timeout_seconds = 600;  // a collective still running after this is treated as a dead peer
};

// `mpi` must be an MPI communicator (MpiSession's world or a split of it), or
// any Comm of one rank (SerialComm); it carries the unique id and must outlive
// the result. `device` is this rank's
// GPU (gpu_for_this_rank, train/cuda_step_backend.hpp); every call of the result runs on it and leaves the
// caller's current device as it was.
std::unique_ptr<DeviceComm> make_nccl_comm(Comm& mpi, int device, const NcclOptions& options = {});


}  // namespace elm
