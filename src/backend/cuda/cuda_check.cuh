#pragma once
// Error checks for CUDA runtime and cuBLAS calls: a failure throws ElmError
// naming the call, the error and file:line.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/error.hpp"

namespace elm::cuda {

inline const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_<other>";
  }
}

}  // namespace elm::cuda

#define CUDA_CHECK(expr)                                                                                  \
  do {                                                                                                    \
    const cudaError_t elm_cuda_err_ = (expr);                                                             \
    if (elm_cuda_err_ != cudaSuccess)                                                                     \
      ::elm::fail("CUDA error ", cudaGetErrorName(elm_cuda_err_), " (", cudaGetErrorString(elm_cuda_err_), \
                  ") in ", #expr, " at ", __FILE__, ":", __LINE__);                                       \
  } while (0)

// After a kernel launch: launch-configuration errors now, execution errors at the next sync.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

#define CUBLAS_CHECK(expr)                                                                                   \
  do {                                                                                                       \
    const cublasStatus_t elm_cublas_st_ = (expr);                                                            \
    if (elm_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                             \
      ::elm::fail("cuBLAS error ", ::elm::cuda::cublas_status_name(elm_cublas_st_), " in ", #expr, " at ", \
                  __FILE__, ":", __LINE__);                                                                  \
  } while (0)
