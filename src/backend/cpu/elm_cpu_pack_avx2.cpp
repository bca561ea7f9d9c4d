// The packed CPU kernels (CpuElmPack) for x86-64-v3 (AVX2, FMA; 8 models per
// 32-byte vector). Same level options as elm_cpu_avx2.cpp: the two must agree
// bit for bit.
#if defined(__x86_64__)
#define ELM_CPU_ISA_NS cpu_avx2
#define ELM_CPU_VECTOR_BYTES 32
#define ELM_CPU_TARGET "avx2,fma,bmi,bmi2,f16c,lzcnt,popcnt,movbe"
#define ELM_CPU_LEVEL_IMPL "backend/cpu/elm_cpu_pack_impl.inc"
#include "backend/cpu/elm_cpu_level.inc"
#endif
