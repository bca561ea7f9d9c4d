#pragma once
// Makes one CUDA device current for a scope and restores the caller's on exit.
// An object bound to a GPU (CudaElm, the NCCL communicator) takes one at every
// public entry: the current device is per host thread and anyone may change it
// between calls, and a launch or allocation goes to whatever device is current.
#include <cuda_runtime.h>

#include "backend/cuda/cuda_check.cuh"

namespace elm::cuda {

class DeviceGuard {
 public:
  explicit DeviceGuard(int device) : device_(device) {
    CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device_) CUDA_CHECK(cudaSetDevice(device_));
  }
  ~DeviceGuard() {
    if (previous_ != device_) cudaSetDevice(previous_);  // no throw from a destructor; nothing to do on failure
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int device_ = 0, previous_ = 0;
};

}  // namespace elm::cuda
