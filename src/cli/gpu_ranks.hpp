#pragma once
// Where a GPU rank computes: its device, from its place among all the job's
// ranks on its node (gpu_assignment.hpp), and the all-reduce of its run's
// ranks on device buffers (NCCL, where the build has it).
#include <memory>

#include "dist/comm.hpp"
#include "dist/device_comm.hpp"

namespace elm {

// This rank's GPU; one line (ElmError) when the node has more ranks than GPUs.
// Needs MPI initialised (a WorldSession). Call only for train.backend = cuda.
int gpu_of_this_rank();

// The device all-reduce over `run_comm`'s ranks, all driving their own GPU;
// nullptr for one rank, or without NCCL in the build (the gradient then goes
// through the host Comm). Collective over run_comm.
std::unique_ptr<DeviceComm> device_comm_for(Comm& run_comm, int device);

}  // namespace elm
