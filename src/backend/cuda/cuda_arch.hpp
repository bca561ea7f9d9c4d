#pragma once
// Which GPUs a build has code for. CMAKE_CUDA_ARCHITECTURES is recorded in the
// build (kCudaArchitectures) and read back here, so that a device the binary
// cannot run is named in one line at start-up instead of failing at its first
// kernel launch. Plain C++ (no CUDA headers): built and tested everywhere.
#include <string>
#include <string_view>
#include <vector>

namespace elm::cuda {

struct CudaArchList {
  std::vector<int> sass;  // machine code, e.g. 80 for sm_80
  std::vector<int> ptx;   // PTX the driver can compile for its device, e.g. 90 for compute_90
  std::string symbolic;   // "native", "all" or "all-major": CMake chose, the list is not known here
};

// CMake's syntax: ';'- or ' '-separated entries "80" (both), "80-real" (SASS)
// or "90-virtual" (PTX), or one of native/all/all-major. Throws ElmError
// naming the entry it cannot read.
CudaArchList parse_cuda_architectures(std::string_view cmake_list);

// SASS for X.y runs on X.z with z >= y; PTX for X.y is compiled by the driver
// for any device of compute capability >= X.y. True for a symbolic list (the
// runtime's kernel probe then decides).
bool cuda_arch_runs_on(const CudaArchList& archs, int major, int minor);

// "sm_80 sm_90, PTX compute_90"
std::string describe_cuda_architectures(const CudaArchList& archs);

// The one line for a device the build has no code for, with the fix.
std::string cuda_no_code_message(int device, const std::string& name, int major, int minor,
                                 const CudaArchList& archs);

// The architectures this binary was built with (empty without CUDA).
CudaArchList built_cuda_architectures();

}  // namespace elm::cuda
