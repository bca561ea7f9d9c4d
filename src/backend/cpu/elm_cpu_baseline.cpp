// The CPU kernels at the level the build targets (x86-64: SSE2, 16-byte
// vectors): the path every CPU can run.
#define ELM_CPU_ISA_NS cpu_baseline
#define ELM_CPU_VECTOR_BYTES 16
#include "backend/cpu/elm_cpu_level.inc"
