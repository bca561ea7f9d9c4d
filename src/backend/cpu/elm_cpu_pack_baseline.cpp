// The packed CPU kernels (CpuElmPack) at the level the build targets (x86-64:
// SSE2; 4 models per 16-byte vector).
#define ELM_CPU_ISA_NS cpu_baseline
#define ELM_CPU_VECTOR_BYTES 16
#define ELM_CPU_LEVEL_IMPL "backend/cpu/elm_cpu_pack_impl.inc"
#include "backend/cpu/elm_cpu_level.inc"
