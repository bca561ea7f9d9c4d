#include "backend/cpu/cpu_isa.hpp"

#include <cstdlib>

#include "core/error.hpp"

namespace elm {

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Baseline: return "baseline";
    case CpuIsa::Avx2: return "avx2";
    case CpuIsa::Avx512: return "avx512";
  }
  return "?";
}

CpuIsa parse_cpu_isa(std::string_view text, std::string_view where) {
  if (text == "baseline" || text == "sse2") return CpuIsa::Baseline;
  if (text == "avx2") return CpuIsa::Avx2;
  if (text == "avx512") return CpuIsa::Avx512;
  fail(where, "='", text, "' is not a CPU kernel level (use baseline, avx2 or avx512)");
}

namespace {
bool cpu_supports(CpuIsa isa) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  switch (isa) {
    case CpuIsa::Baseline: return true;
    case CpuIsa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
    case CpuIsa::Avx512:
      return cpu_supports(CpuIsa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl");
  }
  return false;
#else
  return isa == CpuIsa::Baseline;  // the x86 levels are not compiled for other CPUs
#endif
}
}  // namespace

std::vector<CpuIsa> available_cpu_isas() {
  std::vector<CpuIsa> out;
  for (CpuIsa isa : {CpuIsa::Baseline, CpuIsa::Avx2, CpuIsa::Avx512})
    if (cpu_supports(isa)) out.push_back(isa);
  return out;
}

CpuIsa best_cpu_isa() { return available_cpu_isas().back(); }

CpuIsa chosen_cpu_isa() {
  const CpuIsa best = best_cpu_isa();
  const char* forced = std::getenv(kCpuIsaEnv);
  if (forced == nullptr || *forced == '\0') return best;
  const CpuIsa isa = parse_cpu_isa(forced, kCpuIsaEnv);
  ELM_CHECK(isa <= best, kCpuIsaEnv, "=", forced, " but this CPU runs at most ", cpu_isa_name(best),
            " (it can only force a lower level)");
  return isa;
}

std::string describe_cpu_isa() {
  std::string s = cpu_isa_name(chosen_cpu_isa());
  s += " (available:";
  for (CpuIsa isa : available_cpu_isas()) (s += ' ') += cpu_isa_name(isa);
  s += ")";
  return s;
}

}  // namespace elm
