#pragma once
// Collectives on device buffers of this rank's GPU, ordered after the work
// already queued on a CUDA stream. No CUDA headers: a stream is passed as
// void* (a cudaStream_t; null is the legacy default stream). Kept apart from
// the host Comm on purpose: a device pointer handed to a host collective (or a
// host pointer to a device one) is a crash or silent garbage, so the types
// must not mix. Implementation: make_nccl_comm (dist/nccl_comm.hpp).
#include <cstddef>
#include <memory>

namespace elm {

class DeviceComm {
 public:
  virtual ~DeviceComm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int device() const = 0;  // the CUDA device this rank drives
  // In place on every rank. First waits (a cudaEvent recorded on `stream`) for
  // the work queued there, and returns when the result is in d (host-visible
  // completion), or aborts the job on an NCCL error or timeout.
  virtual void allreduce_sum(float* d, size_t n, void* stream) = 0;
  virtual void broadcast(void* d, size_t bytes, int root, void* stream) = 0;
  // Ranks with equal color form a new communicator ordered by key, on the same
  // device as this one (a split never moves a rank to another GPU). Collective.
  virtual std::unique_ptr<DeviceComm> split(int color, int key) = 0;
  [[noreturn]] virtual void abort_job(int exit_code) = 0;
};

// The data-parallel reduction of one training step on the device:
// d_buf[0, n_grad) becomes the mean over ranks (summed, then scaled by 1/W by a
// kernel on `stream`), the values after it (loss, stop flag) are summed.
// Nothing on one rank. The scaling is queued on `stream` after the reduction:
// later work on that stream sees the mean; the host must synchronise `stream`
// before reading it.
void allreduce_step_device(DeviceComm& comm, float* d_buf, size_t n_total, size_t n_grad, void* stream);

}  // namespace elm
