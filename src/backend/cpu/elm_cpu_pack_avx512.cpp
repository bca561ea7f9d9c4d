// The packed CPU kernels (CpuElmPack) for x86-64-v4 (AVX-512 F/BW/CD/DQ/VL; 16
// models per 64-byte vector, or 8 per 32-byte one). Same level options as
// elm_cpu_avx512.cpp: the two must agree bit for bit.
#if defined(__x86_64__)
#define ELM_CPU_ISA_NS cpu_avx512
#define ELM_CPU_VECTOR_BYTES 64
#define ELM_CPU_TARGET "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,fma,bmi,bmi2,f16c,lzcnt,popcnt,movbe"
#define ELM_CPU_LEVEL_IMPL "backend/cpu/elm_cpu_pack_impl.inc"
#include "backend/cpu/elm_cpu_level.inc"
#endif
