// The NCCL DeviceComm under mpirun: all-reduce and broadcast of device buffers
// agree with the MPI Comm's host results, ordered after work queued on the
// caller's stream, on this rank's own GPU, and the training step's device
// reduction equals the host one. Skips where no GPU is usable (as on the CPU
// machines; cudaGetDeviceCount fails without a driver).
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cmath>

#include "dist/mpi_comm.hpp"
#include "dist/nccl_comm.hpp"
#include "train/cuda_step_backend.hpp"
#include "mpi_world.hpp"

namespace elm {
namespace {

bool gpu_usable() {
  int n = 0;
  const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  cudaGetLastError();
  return ok;
}

// Skip together or not at all: a lone rank in a collective would hang the others.
bool every_rank_has_a_gpu(Comm& world) {
  double usable = gpu_usable() ? 1.0 : 0.0;
  world.allreduce_sum(std::span<double>(&usable, 1));
  return usable == world.size();
}

struct DeviceBuffer {
  explicit DeviceBuffer(size_t bytes) { EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess); }
  ~DeviceBuffer() { cudaFree(p); }
  void* p = nullptr;
};

TEST(NcclComm, AllReduceAndBroadcastOfDeviceBuffersMatchMpi) {
  Comm& world = test::mpi_world();
  if (!every_rank_has_a_gpu(world)) GTEST_SKIP() << "no usable CUDA device on every rank";
  const int device = gpu_for_this_rank(mpi_world_node_ranks());
  auto nccl = make_nccl_comm(world, device);
  EXPECT_EQ(nccl->rank(), world.rank());
  EXPECT_EQ(nccl->size(), world.size());
  EXPECT_EQ(nccl->device(), device);
  ASSERT_EQ(cudaSetDevice(device), cudaSuccess);
  const size_t n = 6829;  // neuronio_dm15's gradient + loss + stop flag
  std::vector<float> host(n);
  for (size_t i = 0; i < n; ++i) host[i] = float(world.rank() + 1) * 0.5f + float(i % 13);
  std::vector<float> expect = host;
  world.allreduce_sum(std::span<float>(expect));
  DeviceBuffer buf(n * sizeof(float));
  float* dev = static_cast<float*>(buf.p);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  // The input is written on the caller's stream and not waited for: the
  // collective must order itself after it.
  ASSERT_EQ(cudaMemsetAsync(dev, 0, n * sizeof(float), stream), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice, stream), cudaSuccess);
  nccl->allreduce_sum(dev, n, stream);
  std::vector<float> got(n);
  ASSERT_EQ(cudaMemcpy(got.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (size_t i = 0; i < n; ++i) ASSERT_FLOAT_EQ(got[i], expect[i]) << i;
  // Broadcast from the last rank.
  for (size_t i = 0; i < n; ++i) host[i] = float(world.rank() * 1000 + int(i));
  ASSERT_EQ(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  const int root = world.size() - 1;
  nccl->broadcast(dev, n * sizeof(float), root, stream);
  ASSERT_EQ(cudaMemcpy(got.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], float(root * 1000 + int(i))) << i;
  cudaStreamDestroy(stream);
}

TEST(NcclComm, DeviceStepReductionEqualsTheHostOne) {
  Comm& world = test::mpi_world();
  if (!every_rank_has_a_gpu(world)) GTEST_SKIP() << "no usable CUDA device on every rank";
  const int device = gpu_for_this_rank(mpi_world_node_ranks());
  auto nccl = make_nccl_comm(world, device);
  ASSERT_EQ(cudaSetDevice(device), cudaSuccess);
  const size_t n_grad = 1000, n_total = n_grad + 2;
  std::vector<float> host(n_total);
  for (size_t i = 0; i < n_total; ++i) host[i] = 0.25f * float(world.rank() + 1) + 0.001f * float(i);
  std::vector<float> expect = host;
  allreduce_step(world, std::span<float>(expect), n_grad);
  DeviceBuffer buf(n_total * sizeof(float));
  float* dev = static_cast<float*>(buf.p);
  ASSERT_EQ(cudaMemcpy(dev, host.data(), n_total * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  allreduce_step_device(*nccl, dev, n_total, n_grad, nullptr);
  std::vector<float> got(n_total);
  ASSERT_EQ(cudaMemcpy(got.data(), dev, n_total * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  // Sums of a few floats may be ordered differently by NCCL and MPI.
  for (size_t i = 0; i < n_total; ++i) ASSERT_NEAR(got[i], expect[i], 1e-6f * (1.0f + std::abs(expect[i]))) << i;
}

TEST(NcclComm, SplitKeepsTheDeviceAndTheCallerCurrentDevice) {
  Comm& world = test::mpi_world();
  if (!every_rank_has_a_gpu(world)) GTEST_SKIP() << "no usable CUDA device on every rank";
  const int device = gpu_for_this_rank(mpi_world_node_ranks());
  auto nccl = make_nccl_comm(world, device);
  // The upper half of the ranks in a group of their own stays on its GPU.
  auto half = nccl->split(world.rank() < world.size() / 2 ? 0 : 1, world.rank());
  EXPECT_EQ(half->device(), device);
  int n = 0;
  ASSERT_EQ(cudaGetDeviceCount(&n), cudaSuccess);
  const int other = (device + 1) % n;
  ASSERT_EQ(cudaSetDevice(device), cudaSuccess);
  DeviceBuffer mine(sizeof(float));
  const float one = 1.0f;
  ASSERT_EQ(cudaMemcpy(mine.p, &one, sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaSetDevice(other), cudaSuccess);
  half->allreduce_sum(static_cast<float*>(mine.p), 1, nullptr);
  int current = -1;
  ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
  EXPECT_EQ(current, other) << "a collective must leave the caller's current device as it was";
  float got = 0;
  ASSERT_EQ(cudaMemcpy(&got, mine.p, sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(got, float(half->size()));
}

}  // namespace
}  // namespace elm
