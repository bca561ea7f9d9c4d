// Which GPUs a build has code for (backend/cuda/cuda_arch.hpp): plain logic,
// tested without a GPU. The runtime probe itself (cudaFuncGetAttributes) needs
// a device the build lacks code for, which no test machine here has.
#include <gtest/gtest.h>

#include "backend/cuda/cuda_arch.hpp"
#include "build_config.hpp"
#include "core/error.hpp"
#include "test_support.hpp"

namespace {

using elm::cuda::CudaArchList;
using elm::cuda::cuda_arch_runs_on;
using elm::cuda::parse_cuda_architectures;

TEST(CudaArch, ParsesCMakeEntries) {
  const CudaArchList a = parse_cuda_architectures("80-real 90-real 100-real 120-real 90-virtual");
  EXPECT_EQ(a.sass, (std::vector<int>{80, 90, 100, 120}));
  EXPECT_EQ(a.ptx, (std::vector<int>{90}));
  const CudaArchList b = parse_cuda_architectures("90;80");
  EXPECT_EQ(b.sass, (std::vector<int>{80, 90}));
  EXPECT_EQ(b.ptx, (std::vector<int>{80, 90}));
  EXPECT_EQ(elm::cuda::describe_cuda_architectures(a), "sm_80 sm_90 sm_100 sm_120, PTX compute_90");
  EXPECT_TRUE(parse_cuda_architectures("").sass.empty());
  for (const char* bad : {"sm_80", "80-fake", "8", "80-real;x"}) {
    try {
      parse_cuda_architectures(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const elm::ElmError& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA architecture '"), std::string::npos) << e.what();
    }
  }
}

TEST(CudaArch, MachineCodeRunsWithinItsMajorVersionAndPtxOnAnythingNewer) {
  const CudaArchList a = parse_cuda_architectures("80-real 90-real 100-real 120-real 90-virtual");
  EXPECT_TRUE(cuda_arch_runs_on(a, 8, 0));   // A100
  EXPECT_TRUE(cuda_arch_runs_on(a, 8, 6));   // A40, RTX 30: sm_80 code
  EXPECT_TRUE(cuda_arch_runs_on(a, 8, 9));   // L40S
  EXPECT_TRUE(cuda_arch_runs_on(a, 9, 0));   // H100, H200
  EXPECT_TRUE(cuda_arch_runs_on(a, 10, 3));  // B300: sm_100 code
  EXPECT_TRUE(cuda_arch_runs_on(a, 11, 0));  // through compute_90 PTX
  EXPECT_TRUE(cuda_arch_runs_on(a, 13, 0));
  EXPECT_FALSE(cuda_arch_runs_on(a, 7, 0));  // V100
  EXPECT_FALSE(cuda_arch_runs_on(a, 7, 5));  // T4
  const CudaArchList only90 = parse_cuda_architectures("90-real");
  EXPECT_FALSE(cuda_arch_runs_on(only90, 8, 0));
  EXPECT_FALSE(cuda_arch_runs_on(only90, 10, 0));  // no PTX: a newer major version has no code
  EXPECT_TRUE(cuda_arch_runs_on(parse_cuda_architectures("native"), 7, 0));  // the runtime probe decides
}

TEST(CudaArch, TheNoCodeLineNamesTheDeviceAndTheFix) {
  const std::string msg = elm::cuda::cuda_no_code_message(1, "Tesla V100-SXM2-32GB", 7, 0,
                                                          parse_cuda_architectures("80-real 90"));
  EXPECT_EQ(msg,
            "GPU 1 (Tesla V100-SXM2-32GB, compute capability 7.0) cannot run this elmrun: it was built for "
            "sm_80 sm_90, PTX compute_90; rebuild with -DCMAKE_CUDA_ARCHITECTURES=70");
}

TEST(CudaArch, TheDefaultBuildCoversClusterGpus) {
#ifndef ELM_HAVE_CUDA
  GTEST_SKIP() << "built without CUDA";
#else
  // What cmake/cuda.cmake compiles in unless told otherwise (a build with its
  // own CMAKE_CUDA_ARCHITECTURES fails here if it leaves these GPUs out).
  const CudaArchList built = elm::cuda::built_cuda_architectures();
  for (auto [major, minor] : {std::pair{8, 0}, {8, 6}, {8, 9}, {9, 0}, {10, 0}, {12, 0}, {12, 1}})
    EXPECT_TRUE(cuda_arch_runs_on(built, major, minor)) << major << "." << minor;
  const auto v = elm::test::run_command("(" + elm::test::shell_quote(elm::test::elmrun()) + " --version 1>&2)");
  ASSERT_EQ(v.status, 0) << v.stderr_text;
  EXPECT_NE(v.stderr_text.find("cuda architectures: " + elm::cuda::describe_cuda_architectures(built)),
            std::string::npos)
      << v.stderr_text;
#endif
}

}  // namespace
