#pragma once
// A device array that only grows: reallocated (contents lost) when asked for
// more than it holds, freed with its owner. Copies are queued on the caller's
// stream.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "backend/cuda/cuda_check.cuh"

namespace elm::cuda {

template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  ~DeviceArray() {
    if (p_) cudaFree(p_);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  // Room for n values; true when it had to reallocate.
  bool reserve(size_t n) {
    if (p_ && n <= cap_) return false;
    if (p_) CUDA_CHECK(cudaFree(p_));
    p_ = nullptr;
    cap_ = 0;
    CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), std::max<size_t>(n, 1) * sizeof(T)));
    cap_ = n;
    return true;
  }
  T* ensure(size_t n) {
    reserve(n);
    return p_;
  }
  T* get() const { return p_; }
  void upload(const T* host, size_t n, cudaStream_t st) {
    reserve(n);
    if (n) CUDA_CHECK(cudaMemcpyAsync(p_, host, n * sizeof(T), cudaMemcpyHostToDevice, st));
  }
  // Returns once the values are on the host.
  void download(T* host, size_t n, cudaStream_t st) const {
    if (n) CUDA_CHECK(cudaMemcpyAsync(host, p_, n * sizeof(T), cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaStreamSynchronize(st));
  }
  void zero(size_t n, cudaStream_t st) {
    reserve(n);
    CUDA_CHECK(cudaMemsetAsync(p_, 0, std::max<size_t>(n, 1) * sizeof(T), st));
  }

 private:
  T* p_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace elm::cuda
