// The CPU kernels for x86-64-v3 (AVX2, FMA; 32-byte vectors). Only this file's
// own code gets the target: see elm_cpu_impl.inc.
#include "backend/cpu/elm_cpu_impl_headers.hpp"

#if defined(__x86_64__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,popcnt,movbe"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi,bmi2,f16c,lzcnt,popcnt,movbe")
#endif
#define ELM_CPU_ISA_NS cpu_avx2
#define ELM_CPU_VECTOR_BYTES 32
#include "backend/cpu/elm_cpu_impl.inc"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
