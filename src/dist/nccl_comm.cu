#include "dist/nccl_comm.hpp"

#include <nccl.h>

#include <chrono>
#include <thread>

#include "backend/cuda/cuda_check.cuh"
#include "core/error.hpp"
#include "dist/mpi_comm.hpp"

#define NCCL_CHECK(expr)                                                                                     \
  do {                                                                                                       \
    const ncclResult_t elm_nccl_res_ = (expr);                                                               \
    if (elm_nccl_res_ != ncclSuccess)                                                                        \
      ::elm::fail("NCCL error ", ncclGetErrorString(elm_nccl_res_), " in ", #expr, " at ", __FILE__, ":",   \
                  __LINE__);                                                                                 \
  } while (0)

namespace elm {

namespace {

class NcclComm final : public Comm {
 public:
  NcclComm(Comm& mpi, const NcclOptions& options) : mpi_(mpi), options_(options) {
    CUDA_CHECK(cudaSetDevice(nccl_device_for_rank(mpi)));
    ncclUniqueId id;
    if (mpi.rank() == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    mpi.broadcast(std::as_writable_bytes(std::span<ncclUniqueId>(&id, 1)), 0);
    // Non-blocking init so that a rank that never arrives cannot hang us.
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    NCCL_CHECK(ncclCommInitRankConfig(&comm_, mpi.size(), id, mpi.rank(), &config));
    wait_ready("ncclCommInitRankConfig");
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~NcclComm() override {
    if (comm_) ncclCommDestroy(comm_);
    if (stream_) cudaStreamDestroy(stream_);
  }
  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }
  std::string kind() const override { return "nccl"; }
  void allreduce_sum(std::span<float> d) override {
    NCCL_CHECK(ncclAllReduce(d.data(), d.data(), d.size(), ncclFloat32, ncclSum, comm_, stream_));
    wait_stream("ncclAllReduce");
  }
  void allreduce_sum(std::span<double> d) override {
    NCCL_CHECK(ncclAllReduce(d.data(), d.data(), d.size(), ncclFloat64, ncclSum, comm_, stream_));
    wait_stream("ncclAllReduce");
  }
  void broadcast(std::span<std::byte> d, int root) override {
    NCCL_CHECK(ncclBroadcast(d.data(), d.data(), d.size(), ncclUint8, root, comm_, stream_));
    wait_stream("ncclBroadcast");
  }
  void barrier() override { mpi_.barrier(); }
  void barrier_idle() override { mpi_.barrier_idle(); }
  std::unique_ptr<Comm> split(int color, int key) override {
    sub_mpi_.push_back(mpi_.split(color, key));
    return std::make_unique<NcclComm>(*sub_mpi_.back(), options_);
  }
  [[noreturn]] void abort_job(int exit_code) override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    mpi_.abort_job(exit_code);
  }

 private:
  // Polls instead of blocking: an asynchronous NCCL error or a timeout (a peer
  // that died) aborts the communicator and ends the job.
  void wait_ready(const char* what) {
    const auto t0 = std::chrono::steady_clock::now();
    while (true) {
      ncclResult_t state;
      NCCL_CHECK(ncclCommGetAsyncError(comm_, &state));
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) fail_and_abort(what, ncclGetErrorString(state));
      check_timeout(what, t0);
      std::this_thread::yield();
    }
  }
  void wait_stream(const char* what) {
    const auto t0 = std::chrono::steady_clock::now();
    while (true) {
      const cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) CUDA_CHECK(q);
      ncclResult_t state;
      NCCL_CHECK(ncclCommGetAsyncError(comm_, &state));
      if (state != ncclSuccess && state != ncclInProgress) fail_and_abort(what, ncclGetErrorString(state));
      check_timeout(what, t0);
    }
  }
  void check_timeout(const char* what, std::chrono::steady_clock::time_point t0) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > options_.timeout_seconds)
      fail_and_abort(what, "timed out (a peer rank stopped?)");
  }
  [[noreturn]] void fail_and_abort(const char* what, const char* why) {
    std::fprintf(stderr, "elmrun: error: [rank %d] %s failed: %s; aborting the job\n", mpi_.rank(), what, why);
    abort_job(1);
  }

  Comm& mpi_;
  NcclOptions options_;
  std::vector<std::unique_ptr<Comm>> sub_mpi_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

int nccl_device_for_rank(Comm& mpi) {
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  ELM_CHECK(count > 0, "no CUDA device visible to rank ", mpi.rank());
  return mpi_local_rank(mpi) % count;
}

std::unique_ptr<Comm> make_nccl_comm(Comm& mpi, const NcclOptions& options) {
  ELM_CHECK(mpi.kind() == "mpi", "make_nccl_comm needs an MPI communicator, got ", mpi.kind());
  return std::make_unique<NcclComm>(mpi, options);
}

}  // namespace elm
