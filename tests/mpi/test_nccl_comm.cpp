// The NCCL Comm under mpirun: all-reduce and broadcast of device buffers agree
// with the MPI Comm's host results. Skips where no GPU is usable (as on the
// CPU machines; cudaGetDeviceCount fails without a driver).
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include "dist/nccl_comm.hpp"
#include "mpi_world.hpp"

namespace elm {
namespace {

bool gpu_usable() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

TEST(NcclComm, AllReduceAndBroadcastOfDeviceBuffersMatchMpi) {
  Comm& world = test::mpi_world();
  double usable = gpu_usable() ? 1.0 : 0.0;
  world.allreduce_sum(std::span<double>(&usable, 1));  // skip together, or not at all
  if (usable < world.size()) GTEST_SKIP() << "no usable CUDA device on every rank";
  auto nccl = make_nccl_comm(world);
  EXPECT_EQ(nccl->kind(), "nccl");
  const size_t n = 6829;  // neuronio_dm15's gradient + loss + stop flag
  std::vector<float> host(n);
  for (size_t i = 0; i < n; ++i) host[i] = float(world.rank() + 1) * 0.5f + float(i % 13);
  std::vector<float> expect = host;
  world.allreduce_sum(std::span<float>(expect));
  float* dev = nullptr;
  ASSERT_EQ(cudaMalloc(&dev, n * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  nccl->allreduce_sum(std::span<float>(dev, n));
  std::vector<float> got(n);
  ASSERT_EQ(cudaMemcpy(got.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (size_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(got[i], expect[i]) << i;
  // Broadcast from the last rank.
  for (size_t i = 0; i < n; ++i) host[i] = float(world.rank() * 1000 + int(i));
  ASSERT_EQ(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  const int root = world.size() - 1;
  nccl->broadcast(std::as_writable_bytes(std::span<float>(dev, n)), root);
  ASSERT_EQ(cudaMemcpy(got.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(got[i], float(root * 1000 + int(i))) << i;
  cudaFree(dev);
}

}  // namespace
}  // namespace elm
