#include "dist/nccl_comm.hpp"

#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/device_guard.cuh"
#include "core/error.hpp"
#include "dist/mpi_comm.hpp"
#include "dist/nccl_wait.hpp"

namespace elm {

namespace {

NcclState state_of(ncclResult_t r) {
  if (r == ncclSuccess) return NcclState::Success;
  if (r == ncclInProgress) return NcclState::InProgress;
  return NcclState::Error;
}

class NcclComm final : public DeviceComm {
 public:
  // `owned_mpi` is set for a split: the sub-communicator's MPI side lives as long as it.
  NcclComm(Comm& mpi, int device, const NcclOptions& options, std::unique_ptr<Comm> owned_mpi = nullptr)
      : owned_mpi_(std::move(owned_mpi)), mpi_(mpi), device_(device), options_(options) {
    cuda::DeviceGuard on(device_);
    ncclUniqueId id;
    if (mpi.rank() == 0) {
      const ncclResult_t r = ncclGetUniqueId(&id);
      if (r != ncclSuccess) fail("NCCL error ", ncclGetErrorString(r), " in ncclGetUniqueId");
    }
    mpi.broadcast(std::as_writable_bytes(std::span<ncclUniqueId>(&id, 1)), 0);
    // Non-blocking: a rank that never arrives cannot hang us (every wait times out).
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const ncclResult_t r = ncclCommInitRankConfig(&comm_, mpi.size(), id, mpi.rank(), &config);
    // No stream yet: the wait is for the communicator only.
    wait("ncclCommInitRankConfig", r, nullptr);
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
  }
  ~NcclComm() override {
    if (!comm_ && !stream_) return;
    try {
      cuda::DeviceGuard on(device_);
      if (comm_) {
        // Finalize flushes outstanding work and may answer ncclInProgress like
        // any non-blocking call; destroying before it settled leaks or crashes.
        const ncclResult_t r = ncclCommFinalize(comm_);
        const std::string why = wait_nonblocking(state_of(r), ncclGetErrorString(r), pollers(nullptr));
        if (why.empty())
          ncclCommDestroy(comm_);
        else
          ncclCommAbort(comm_);  // frees what destroy would, without waiting for peers
      }
      if (ready_) cudaEventDestroy(ready_);
      if (stream_) cudaStreamDestroy(stream_);
    } catch (const std::exception&) {
      // The device cannot be made current: nothing left to free safely, and a destructor must not throw.
    }
  }
  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }
  int device() const override { return device_; }

  void allreduce_sum(float* d, size_t n, void* stream) override {
    cuda::DeviceGuard on(device_);
    order_after(stream);
    const ncclResult_t r = ncclAllReduce(d, d, n, ncclFloat32, ncclSum, comm_, stream_);
    wait("ncclAllReduce", r, stream_);
  }
  void broadcast(void* d, size_t bytes, int root, void* stream) override {
    cuda::DeviceGuard on(device_);
    order_after(stream);
    const ncclResult_t r = ncclBroadcast(d, d, bytes, ncclUint8, root, comm_, stream_);
    wait("ncclBroadcast", r, stream_);
  }
  std::unique_ptr<DeviceComm> split(int color, int key) override {
    std::unique_ptr<Comm> sub = mpi_.split(color, key);
    Comm& sub_ref = *sub;
    return std::make_unique<NcclComm>(sub_ref, device_, options_, std::move(sub));
  }
  [[noreturn]] void abort_job(int exit_code) override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    mpi_.abort_job(exit_code);
    std::_Exit(exit_code);  // not reached; the host compiler does not see [[noreturn]] through the virtual call
  }

 private:
  // The collective runs on our stream; what produced its input (the backend's
  // kernels) runs on the caller's. The event makes ours wait for theirs on the
  // device, without a host synchronisation.
  void order_after(void* stream) {
    CUDA_CHECK(cudaEventRecord(ready_, static_cast<cudaStream_t>(stream)));
    CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_, 0));
  }

  NcclPollers pollers(cudaStream_t stream) {
    const auto t0 = std::chrono::steady_clock::now();
    NcclPollers p;
    p.async_state = [this] {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
      return r != ncclSuccess ? NcclState::Error : state_of(state);
    };
    p.async_error = [this] {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
      return std::string(ncclGetErrorString(r != ncclSuccess ? r : state));
    };
    if (stream) {
      p.stream_state = [stream] {
        const cudaError_t q = cudaStreamQuery(stream);
        return q == cudaSuccess ? StreamState::Idle : q == cudaErrorNotReady ? StreamState::Busy : StreamState::Error;
      };
      p.stream_error = [stream] { return std::string(cudaGetErrorString(cudaStreamQuery(stream))); };
    }
    const double limit = options_.timeout_seconds;
    p.timed_out = [t0, limit] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > limit;
    };
    p.pause = [] { std::this_thread::yield(); };
    return p;
  }

  // Waits for a non-blocking call (and the kernel it queued on `stream`);
  // on failure aborts the communicator and the job.
  void wait(const char* what, ncclResult_t call, cudaStream_t stream) {
    const std::string why = wait_nonblocking(state_of(call), ncclGetErrorString(call), pollers(stream));
    if (why.empty()) return;
    std::fprintf(stderr, "elmrun: error: [rank %d] %s failed: %s; aborting the job\n", mpi_.rank(), what,
                 why.c_str());
    abort_job(1);
  }

  std::unique_ptr<Comm> owned_mpi_;  // first member: destroyed last, after the NCCL side
  Comm& mpi_;
  int device_ = 0;
  NcclOptions options_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;
};

}  // namespace

std::unique_ptr<DeviceComm> make_nccl_comm(Comm& mpi, int device, const NcclOptions& options) {
  // Several ranks need MPI to carry rank 0's unique id to the others. A single
  // rank's id is its own and the broadcast is a no-op, so any one-rank Comm
  // (a SerialComm) serves: one GPU without mpirun still gets a DeviceComm.
  ELM_CHECK(mpi.kind() == "mpi" || mpi.size() == 1, "make_nccl_comm needs an MPI communicator for ", mpi.size(),
            " ranks, got ", mpi.kind());
  return std::make_unique<NcclComm>(mpi, device, options);
}

}  // namespace elm
