# GPU tests (CUDA backend against the golden files and the CPU backend) plus the
# host-side planning tests, which run everywhere. No MPI: runs without mpirun.
# GPU tests skip (GTEST_SKIP) where no usable device is present.
if(ELM_HAVE_CUDA)
  file(GLOB ELM_CUDA_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
  add_executable(elm_cuda_tests ${ELM_CUDA_TEST_SOURCES}
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_support.cpp ${CMAKE_CURRENT_SOURCE_DIR}/golden/check_model_case.cpp)
  target_include_directories(elm_cuda_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit ${CMAKE_CURRENT_SOURCE_DIR}/golden)
  target_link_libraries(elm_cuda_tests PRIVATE elm GTest::gtest)
  target_compile_definitions(elm_cuda_tests PRIVATE ELM_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  target_compile_options(elm_cuda_tests PRIVATE -O2)
  gtest_discover_tests(elm_cuda_tests DISCOVERY_MODE PRE_TEST TEST_PREFIX "cuda." PROPERTIES LABELS gpu)
endif()

# NCCL on one GPU without mpirun, apart from elm_cuda_tests: elm_nccl brings
# MPI's libraries (never initialised here; they travel in the GPU pack).
if(TARGET elm_nccl)
  add_executable(elm_nccl_tests ${CMAKE_CURRENT_LIST_DIR}/nccl/test_nccl_one_rank.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cuda_test_support.cpp ${CMAKE_CURRENT_LIST_DIR}/step_backend_compare.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_support.cpp)
  target_include_directories(elm_nccl_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(elm_nccl_tests PRIVATE elm_nccl GTest::gtest_main)
  target_compile_definitions(elm_nccl_tests PRIVATE ELM_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  gtest_discover_tests(elm_nccl_tests DISCOVERY_MODE PRE_TEST TEST_PREFIX "cuda.nccl." PROPERTIES LABELS gpu)
endif()

# scripts/gpu_check.sh on this machine, without a GPU: its reading of gtest
# output (a skipped GPU test fails the check) and a dry run on a pack of this build.
if(ELM_HAVE_CUDA)
  add_test(NAME cuda.gpu_check_lib COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/gpu_check_lib_test.sh)
  add_test(NAME cuda.gpu_check_dry_run COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/gpu_check_dry_run_test.sh)
  set_tests_properties(cuda.gpu_check_dry_run PROPERTIES ENVIRONMENT "ELM_BUILD_DIR=${CMAKE_BINARY_DIR}"
    SKIP_RETURN_CODE 77 TIMEOUT 120)
  set_tests_properties(cuda.gpu_check_lib cuda.gpu_check_dry_run PROPERTIES LABELS gpu_check)
endif()

# 200 steps of configs/sfmnist_pool2.ini on the GPU against the CPU run (final
# loss within 1e-3 relative); skipped (77) where no GPU can run it. Needs
# Debian's Fashion-MNIST files, as the quickstart does.
if(ELM_HAVE_CUDA AND EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  add_test(NAME cuda.sfmnist_gpu_vs_cpu
    COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/gpu_train_check.sh /usr/share/datasets/fashion-mnist
      ${CMAKE_CURRENT_BINARY_DIR}/sfmnist_gpu_vs_cpu 200 $<TARGET_FILE:elmrun>)
  set_tests_properties(cuda.sfmnist_gpu_vs_cpu PROPERTIES SKIP_RETURN_CODE 77 LABELS gpu TIMEOUT 600)
endif()

# A sweep packed on the GPU against the same sweep one run at a time
# (scripts/gpu_pack_sweep_check.sh; skipped, 77, where no GPU can run it), and
# the same script on the CPU, where packs must agree bit for bit.
if(ELM_HAVE_CUDA)
  add_test(NAME cuda.pack_sweep_gpu_vs_alone
    COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/gpu_pack_sweep_check.sh ${CMAKE_CURRENT_BINARY_DIR}/pack_sweep_gpu
      $<TARGET_FILE:elmrun>)
  set_tests_properties(cuda.pack_sweep_gpu_vs_alone PROPERTIES SKIP_RETURN_CODE 77 LABELS gpu TIMEOUT 300)
endif()
add_test(NAME cuda.pack_sweep_check_on_cpu
  COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/gpu_pack_sweep_check.sh ${CMAKE_CURRENT_BINARY_DIR}/pack_sweep_cpu
    $<TARGET_FILE:elmrun>)
set_tests_properties(cuda.pack_sweep_check_on_cpu PROPERTIES ENVIRONMENT "GPU_BACKEND=cpu" LABELS gpu_check TIMEOUT 120)
