// The choice of CPU kernel level: names, what ELM_CPU_ISA may force, and that
// the choice reaches the model and the CLI. Numerics of every level are checked
// against the golden files and finite differences by the cpu_isa.* tests
// (tests/cpu_isa/tests.cmake), which rerun those suites with the level forced.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "backend/cpu/cpu_isa.hpp"
#include "backend/cpu/elm_cpu.hpp"
#include "core/error.hpp"
#include "test_support.hpp"

namespace {

using elm::CpuIsa;

// Sets ELM_CPU_ISA for the scope of one test and restores what was there.
class ForcedIsaEnv {
 public:
  explicit ForcedIsaEnv(const char* value) {
    if (const char* old = std::getenv(elm::kCpuIsaEnv)) saved_ = old;
    if (value)
      setenv(elm::kCpuIsaEnv, value, 1);
    else
      unsetenv(elm::kCpuIsaEnv);
  }
  ~ForcedIsaEnv() {
    if (saved_)
      setenv(elm::kCpuIsaEnv, saved_->c_str(), 1);
    else
      unsetenv(elm::kCpuIsaEnv);
  }

 private:
  std::optional<std::string> saved_;
};

elm::ElmConfig small_config() {
  elm::ElmConfig c;
  c.num_input = 6;
  c.num_output = 2;
  c.num_memory = 5;
  c.num_branch = 3;
  c.num_synapse_per_branch = 2;
  return c;
}

TEST(CpuIsa, NamesRoundTripAndUnknownNamesAreOneLineErrors) {
  for (CpuIsa isa : {CpuIsa::Baseline, CpuIsa::Avx2, CpuIsa::Avx512})
    EXPECT_EQ(elm::parse_cpu_isa(elm::cpu_isa_name(isa), "x"), isa);
  EXPECT_EQ(elm::parse_cpu_isa("sse2", "x"), CpuIsa::Baseline);
  try {
    elm::parse_cpu_isa("avx1024", "ELM_CPU_ISA");
    FAIL() << "no error for an unknown level";
  } catch (const elm::ElmError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("ELM_CPU_ISA='avx1024'"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(CpuIsa, AvailableLevelsStartAtBaselineInOrder) {
  const auto levels = elm::available_cpu_isas();
  ASSERT_FALSE(levels.empty());
  EXPECT_EQ(levels.front(), CpuIsa::Baseline);
  for (size_t i = 1; i < levels.size(); ++i) EXPECT_EQ(int(levels[i]), int(levels[i - 1]) + 1);
  EXPECT_EQ(elm::best_cpu_isa(), levels.back());
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) EXPECT_GE(elm::best_cpu_isa(), CpuIsa::Avx2);
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    EXPECT_EQ(elm::best_cpu_isa(), CpuIsa::Avx512);
#endif
}

TEST(CpuIsa, TheVariableForcesEveryAvailableLevelIntoTheModel) {
  {
    ForcedIsaEnv unset(nullptr);
    EXPECT_EQ(elm::chosen_cpu_isa(), elm::best_cpu_isa());
    elm::CpuElm<float> model(small_config(), elm::RoutingTable::build(small_config()));
    EXPECT_EQ(model.isa(), elm::best_cpu_isa());
  }
  for (CpuIsa isa : elm::available_cpu_isas()) {
    ForcedIsaEnv forced(elm::cpu_isa_name(isa));
    EXPECT_EQ(elm::chosen_cpu_isa(), isa);
    elm::CpuElm<double> model(small_config(), elm::RoutingTable::build(small_config()));
    EXPECT_EQ(model.isa(), isa);
  }
}

TEST(CpuIsa, ALevelAboveTheCpuIsRefusedInOneLine) {
  if (elm::best_cpu_isa() == CpuIsa::Avx512) GTEST_SKIP() << "this CPU runs every level";
  const CpuIsa above = CpuIsa(int(elm::best_cpu_isa()) + 1);
  ForcedIsaEnv forced(elm::cpu_isa_name(above));
  try {
    elm::chosen_cpu_isa();
    FAIL() << "forcing " << elm::cpu_isa_name(above) << " was accepted";
  } catch (const elm::ElmError& e) {
    EXPECT_NE(std::string(e.what()).find("at most"), std::string::npos) << e.what();
  }
  EXPECT_THROW(elm::CpuElm<float>(small_config(), elm::RoutingTable::build(small_config()), 1, above),
               elm::ElmError);
}

TEST(CpuIsa, VersionAndBenchSayWhichLevelRuns) {
  const std::string elmrun = elm::test::shell_quote(elm::test::elmrun());
  const auto plain = elm::test::run_command("(env -u ELM_CPU_ISA " + elmrun + " --version 1>&2)");
  ASSERT_EQ(plain.status, 0) << plain.stderr_text;
  EXPECT_NE(plain.stderr_text.find(std::string("cpu kernels: ") + elm::cpu_isa_name(elm::best_cpu_isa()) + " (available: baseline"),
            std::string::npos)
      << plain.stderr_text;
  const auto forced = elm::test::run_command("(ELM_CPU_ISA=baseline " + elmrun +
                                             " bench -w neuronio_dm15 --min-seconds 0 --min-steps 1 1>&2)");
  ASSERT_EQ(forced.status, 0) << forced.stderr_text;
  EXPECT_NE(forced.stderr_text.find("cpu_isa=baseline"), std::string::npos) << forced.stderr_text;
  const auto bad = elm::test::run_command("ELM_CPU_ISA=avx3 " + elmrun + " --version");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.stderr_text.find("ELM_CPU_ISA='avx3' is not a CPU kernel level"), std::string::npos)
      << bad.stderr_text;
  EXPECT_EQ(std::count(bad.stderr_text.begin(), bad.stderr_text.end(), '\n'), 1) << bad.stderr_text;
}

}  // namespace
