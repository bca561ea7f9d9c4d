// The loader bench (bench/loader_bench.hpp) runs end to end on tiny synthetic
// stores and reports sane figures. Speed is not asserted here.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "bench/loader_bench.hpp"
#include "core/error.hpp"
#include "test_support.hpp"

namespace elm {
namespace {

LoaderBenchOptions tiny_options(const test::TempDir& dir) {
  LoaderBenchOptions o;
  o.configs_dir = (std::filesystem::path(ELM_SOURCE_DIR) / "configs").string();
  o.work_dir = dir.path().string();
  o.threads = 1;
  o.min_seconds = 0;
  o.min_batches = 2;
  o.max_trainer_batch = 2;
  o.tiny = true;
  return o;
}

void expect_sane(const LoaderBenchResult& r, const std::string& task) {
  EXPECT_EQ(r.task, task);
  EXPECT_GT(r.batch, 0);
  EXPECT_GT(r.steps, 0);
  EXPECT_GE(r.loader_batches, 2);
  EXPECT_TRUE(std::isfinite(r.loader_samples_per_s) && r.loader_samples_per_s > 0) << r.loader_samples_per_s;
  EXPECT_TRUE(std::isfinite(r.loader_mb_per_s) && r.loader_mb_per_s > 0) << r.loader_mb_per_s;
  ASSERT_TRUE(r.trainer_timed);
  EXPECT_GE(r.trainer_steps, 2);
  EXPECT_TRUE(std::isfinite(r.trainer_samples_per_s) && r.trainer_samples_per_s > 0) << r.trainer_samples_per_s;
  EXPECT_TRUE(std::isfinite(r.ratio) && r.ratio > 0) << r.ratio;
  const std::string line = format_loader_bench(r);
  EXPECT_EQ(line.rfind("task=" + task + " loader_samples_per_s=", 0), 0u) << line;
  EXPECT_NE(line.find(" ratio="), std::string::npos) << line;
}

TEST(LoaderBench, ShdOnATinyStore) {
  test::TempDir dir("elm-loader-bench");
  const LoaderBenchResult r = run_loader_bench("shd", tiny_options(dir));
  expect_sane(r, "shd");
  EXPECT_EQ(r.batch, 8);     // configs/shd.ini
  EXPECT_EQ(r.steps, 500);   // 1 s in 2 ms bins
  EXPECT_EQ(r.store_samples, 32);
}

TEST(LoaderBench, SyntheticListOpsAndVerdict) {
  test::TempDir dir("elm-loader-bench");
  const LoaderBenchResult r = run_loader_bench("synthetic_listops", tiny_options(dir));
  expect_sane(r, "synthetic_listops");
  EXPECT_EQ(r.batch, 32);
  EXPECT_EQ(r.steps, 60);
  const std::string v = loader_bench_verdict({r}, 0.0);
  EXPECT_EQ(v.rfind("verdict=PASS", 0), 0u) << v;
  const std::string never = loader_bench_verdict({r}, 1e30);
  EXPECT_EQ(never.rfind("verdict=FAIL", 0), 0u) << never;
}

TEST(LoaderBench, UnknownTaskIsAnError) {
  test::TempDir dir("elm-loader-bench");
  EXPECT_THROW(run_loader_bench("retrieval", tiny_options(dir)), ElmError);
}

}  // namespace
}  // namespace elm
