// The CPU kernels for x86-64-v3 (AVX2, FMA; 32-byte vectors).
#if defined(__x86_64__)
#define ELM_CPU_ISA_NS cpu_avx2
#define ELM_CPU_VECTOR_BYTES 32
#define ELM_CPU_TARGET "avx2,fma,bmi,bmi2,f16c,lzcnt,popcnt,movbe"
#include "backend/cpu/elm_cpu_level.inc"
#endif
