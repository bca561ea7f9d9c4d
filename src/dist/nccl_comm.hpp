#pragma once
// The NCCL implementation of Comm for device buffers (the CUDA backend's flat
// gradient): one NCCL communicator per MPI communicator, GPU = local rank
// (MPI_Comm_split_type shared) mod the device count, the unique id broadcast
// over MPI. Collectives take DEVICE pointers; an NCCL error or a peer that
// stops answering aborts the communicator and the job instead of hanging.
// Built only with CUDA and NCCL (library elm_nccl, ELM_HAVE_NCCL).
#include <memory>

#include "dist/comm.hpp"

namespace elm {

struct NcclOptions {
  double timeout_seconds = 600;  // a collective still running after this is treated as a dead peer
};

// `mpi` must be an MPI communicator (MpiSession's world or a split of it); it
// stays in use for barriers and host-side agreement and must outlive the result.
std::unique_ptr<Comm> make_nccl_comm(Comm& mpi, const NcclOptions& options = {});

// The device this rank uses: local rank on its node mod the visible device count.
int nccl_device_for_rank(Comm& mpi);

}  // namespace elm
