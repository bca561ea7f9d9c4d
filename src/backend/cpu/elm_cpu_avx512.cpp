// The CPU kernels for x86-64-v4 (AVX-512 F/BW/CD/DQ/VL; 64-byte vectors, one
// 16-float column tile per register: 1.3-1.6x faster than 32-byte vectors on
// the d_m = 100 workloads, BENCHMARKS.md).
#if defined(__x86_64__)
#define ELM_CPU_ISA_NS cpu_avx512
#define ELM_CPU_VECTOR_BYTES 64
#define ELM_CPU_TARGET "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,fma,bmi,bmi2,f16c,lzcnt,popcnt,movbe"
#include "backend/cpu/elm_cpu_level.inc"
#endif
