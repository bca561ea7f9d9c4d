# CUDA is optional: AUTO builds the backend when a compiler is found, ON fails loudly without one.
set(ELM_HAVE_CUDA OFF)
if(NOT ELM_ENABLE_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    file(GLOB ELM_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cu)
    if(ELM_CUDA_SOURCES)
      set(ELM_HAVE_CUDA ON)
      # Device-side parts of the bench and the trainer (src/bench/*.cu, src/train/*.cu) and the
      # device all-reduce step (no NCCL or MPI in it) belong to the same library.
      file(GLOB ELM_CUDA_BENCH_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/bench/*.cu ${CMAKE_SOURCE_DIR}/src/train/*.cu
        ${CMAKE_SOURCE_DIR}/src/dist/device_comm.cu)
      list(APPEND ELM_CUDA_SOURCES ${ELM_CUDA_BENCH_SOURCES})
    endif()
  elseif(ELM_ENABLE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ELM_ENABLE_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
if(ELM_HAVE_CUDA)
  # No GPU is needed at build time: never "native" (fails without a device), and
  # CUDA 13 rejects anything below sm_75. Machine code for the GPUs clusters
  # have: sm_80 (A100; also runs on sm_86/sm_89: A40, A10, L40S, L4), sm_90
  # (H100, H200), sm_100 (B200, GB200; also B300) and sm_120 (RTX PRO 6000
  # Blackwell), plus compute_90 PTX that the driver compiles for newer GPUs.
  # A device with none of these is named at start-up (backend/cuda/cuda_arch.hpp).
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80-real 90-real 100-real 120-real 90-virtual)
  endif()
  set(CMAKE_CUDA_SEPARABLE_COMPILATION OFF)
  enable_language(CUDA)
  # CMake 3.25 knows no C++20 dialect for nvcc, and the CUDA standard falls back
  # to CXX_STANDARD (20): teach it the flag nvcc 12+ accepts.
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION AND CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
    set(CMAKE_CUDA20_COMPILE_FEATURES cuda_std_20)
  endif()
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(CMAKE_CUDA_EXTENSIONS OFF)
  find_package(CUDAToolkit REQUIRED)
  add_library(elm_cuda STATIC ${ELM_CUDA_SOURCES})
  target_include_directories(elm_cuda PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(elm_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-O3 -lineinfo --Werror=all-warnings>)
  set_target_properties(elm_cuda PROPERTIES CUDA_SEPARABLE_COMPILATION OFF POSITION_INDEPENDENT_CODE OFF)
  # Runtime API and cuBLAS only (shared): never the driver API (-lcuda), so that
  # binaries start on machines without a GPU driver and can report that.
  target_link_libraries(elm_cuda PUBLIC CUDA::cudart CUDA::cublas)
  target_compile_definitions(elm_cuda PRIVATE ELM_HAVE_CUDA=1)
  # elm_cuda uses the model code of `elm` (layout, routing, config) and `elm`
  # links elm_cuda: a cycle of static libraries, which CMake repeats on the link line.
  target_link_libraries(elm_cuda INTERFACE $<LINK_ONLY:elm>)
  # The trainer (elm) reaches the CUDA backend (elm_cuda), which needs the host
  # planning code (elm) again: three passes over the pair on the link line.
  set_property(TARGET elm_cuda PROPERTY LINK_INTERFACE_MULTIPLICITY 3)

  # NCCL has no CMake package: the shared library and header under the toolkit.
  find_library(ELM_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  find_path(ELM_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
  if(ELM_NCCL_LIBRARY AND ELM_NCCL_INCLUDE_DIR AND NOT TARGET elm::nccl)
    add_library(elm::nccl UNKNOWN IMPORTED)
    set_target_properties(elm::nccl PROPERTIES IMPORTED_LOCATION ${ELM_NCCL_LIBRARY}
      INTERFACE_INCLUDE_DIRECTORIES ${ELM_NCCL_INCLUDE_DIR})
  endif()
  message(STATUS "elmrun CUDA architectures: ${CMAKE_CUDA_ARCHITECTURES}; NCCL: ${ELM_NCCL_LIBRARY}")
endif()
message(STATUS "elmrun CUDA backend: ${ELM_HAVE_CUDA}")
