#pragma once
// Which instruction set the CPU kernels run with. The kernels are compiled
// once per level (elm_cpu_<level>.cpp) into one binary; the highest level the
// CPU supports is chosen at start-up, so one portable build runs at the speed
// of whichever node it lands on. ELM_CPU_ISA forces a lower level (tests of
// every path, or a suspected miscompilation on one level).
#include <string>
#include <string_view>
#include <vector>

namespace elm {

// Ordered: each level includes the ones below it.
enum class CpuIsa {
  Baseline = 0,  // what the build targets (x86-64: SSE2; other CPUs: their default)
  Avx2 = 1,      // x86-64-v3: AVX2, FMA, BMI2
  Avx512 = 2,    // x86-64-v4: AVX-512 F/BW/CD/DQ/VL
};

inline constexpr const char* kCpuIsaEnv = "ELM_CPU_ISA";

const char* cpu_isa_name(CpuIsa isa);
// Accepts the names cpu_isa_name() gives ("baseline", "avx2", "avx512") and
// "sse2" for baseline; throws ElmError naming the variable otherwise.
CpuIsa parse_cpu_isa(std::string_view text, std::string_view where);

// Highest level both compiled into this binary and supported by this CPU.
CpuIsa best_cpu_isa();
// Every level this binary can run here, lowest first.
std::vector<CpuIsa> available_cpu_isas();

// The level to run: best_cpu_isa(), or ELM_CPU_ISA when set (which must not
// exceed it; an unknown or unsupported value throws one line naming it).
// Read from the environment on each call; CpuElm calls it once per model.
CpuIsa chosen_cpu_isa();

// "avx512 (available: baseline avx2 avx512)", for --version and bench lines.
std::string describe_cpu_isa();

}  // namespace elm
