// Which runs of a sweep pack together (sweep/pack_plan.hpp): the rule on every
// shipped job, and on grids that must and must not pack.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.hpp"
#include "sweep/pack_plan.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;

namespace elm {
namespace {

// What must be equal within a pack, read from the configs themselves (not
// from the rule under test).
std::string shape_of(const RunConfig& c) {
  const ElmConfig& m = c.model;
  std::string s = std::string(to_string(m.variant)) + " " + std::to_string(m.num_input) + " " + std::to_string(m.branches()) +
                  " " + std::to_string(m.num_synapse_per_branch) + " " + std::to_string(m.num_memory) + " " +
                  std::to_string(m.hidden()) + " " + std::to_string(m.mlp_num_layers) + " " +
                  std::to_string(m.num_output) + " " + std::to_string(int(m.routing)) + " " +
                  std::to_string(int(m.mlp_activation)) + " " + std::to_string(m.learn_memory_tau) + " " +
                  std::to_string(m.head_hidden);
  s += " | " + c.task.name + " " + to_flat_json(c.task.options) + " | " + std::to_string(c.train.steps) + " " +
       std::to_string(c.train.batch_size) + " " + std::to_string(c.train.threads) + " " + c.train.backend + " " +
       std::to_string(c.train.eval_every) + " " + std::to_string(c.train.train_samples);
  return s;
}

void expect_valid_plan(const std::vector<SweepRun>& runs, const std::vector<Pack>& packs, int k,
                       const std::string& what) {
  std::set<int64_t> seen;
  for (const Pack& p : packs) {
    ASSERT_FALSE(p.runs.empty()) << what;
    EXPECT_LE(int(p.runs.size()), k) << what;
    for (size_t i = 0; i < p.runs.size(); ++i) {
      EXPECT_TRUE(seen.insert(p.runs[i]).second) << what << ": run " << p.runs[i] << " in two packs";
      if (i) EXPECT_LT(p.runs[i - 1], p.runs[i]) << what;
      EXPECT_EQ(shape_of(runs[size_t(p.runs[i])].config), shape_of(runs[size_t(p.runs[0])].config))
          << what << ": runs " << p.runs[0] << " and " << p.runs[i] << " packed but differ in shape";
    }
  }
  EXPECT_EQ(seen.size(), runs.size()) << what << ": every run in exactly one pack";
}

TEST(PackPlan, EveryShippedJobPacksOnlyRunsOfOneShape) {
  int jobs = 0;
  for (const auto& e : fs::directory_iterator(test::source_dir() + "/jobs")) {
    if (e.path().extension() != ".ini") continue;
    ++jobs;
    const SweepJob job = read_sweep_job(e.path().string(), {});
    const auto runs = expand_sweep(job);
    for (int k : {1, 2, 4, 16}) expect_valid_plan(runs, plan_packs(runs, k), k, e.path().string());
    const int k = parse_pack_size(job.pack, runs.front().config, "sweep.pack", job.path);
    expect_valid_plan(runs, plan_packs(runs, k), k, e.path().string() + " (its own pack size)");
    // Runs differing in a shape never share a pack, so a job over shapes
    // has at least as many packs as shapes.
    std::set<std::string> shapes;
    for (const auto& r : runs) shapes.insert(shape_of(r.config));
    EXPECT_GE(plan_packs(runs, 16).size(), shapes.size()) << e.path();
  }
  EXPECT_GE(jobs, 6);
}

class PackGrid : public ::testing::Test {
 protected:
  std::vector<SweepRun> runs_of(const std::string& grid) {
    const std::string path = dir_.file("job.ini");
    std::ofstream(path) << "[sweep]\nname = t\nconfig = " << test::source_dir()
                        << "/configs/synthetic_burst.ini\n[grid]\n"
                        << grid;
    return expand_sweep(read_sweep_job(path, {}));
  }
  test::TempDir dir_;
};

TEST_F(PackGrid, ScalarKeysPackInManifestOrder) {
  const auto runs = runs_of("train.seed = 1,2,3\noptim.lr = 0.01,0.001\nmodel.lambda_value = 2,5\n");
  ASSERT_EQ(runs.size(), 12u);
  const auto packs = plan_packs(runs, 5);
  ASSERT_EQ(packs.size(), 3u);
  EXPECT_EQ(packs[0].runs, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(packs[1].runs, (std::vector<int64_t>{5, 6, 7, 8, 9}));
  EXPECT_EQ(packs[2].runs, (std::vector<int64_t>{10, 11}));
  EXPECT_EQ(plan_packs(runs, 1).size(), 12u);
}

TEST_F(PackGrid, ShapeStepsBatchAndBackendKeysNeverPack) {
  for (const std::string axis : {"model.num_memory = 4,8", "train.steps = 10,20", "train.batch_size = 4,8",
                                 "model.mlp_num_layers = 1,2", "model.learn_memory_tau = true,false",
                                 "train.eval_every = 5,10"}) {
    const auto runs = runs_of(axis + "\ntrain.seed = 1,2\n");
    const auto packs = plan_packs(runs, 16);
    ASSERT_EQ(packs.size(), 2u) << axis;
    EXPECT_EQ(packs[0].runs, (std::vector<int64_t>{0, 1})) << axis;
    EXPECT_EQ(packs[1].runs, (std::vector<int64_t>{2, 3})) << axis;
  }
}

TEST_F(PackGrid, ThreadCountsNeverPack) {  // not in the run identity, so not a grid axis
  auto runs = runs_of("train.seed = 1,2\n");
  EXPECT_EQ(plan_packs(runs, 16).size(), 1u);
  runs[1].config.resolved["train.threads"] = "2";
  EXPECT_EQ(plan_packs(runs, 16).size(), 2u);
}

TEST_F(PackGrid, GpuRunsPackApartFromCpuRuns) {
  auto runs = runs_of("train.seed = 1,2,3,4\n");
  EXPECT_EQ(plan_packs(runs, 16).size(), 1u);
  for (auto& r : runs) {
    r.config.train.backend = "cuda";
    r.config.resolved["train.backend"] = "cuda";
  }
  EXPECT_EQ(plan_packs(runs, 16).size(), 1u);
  runs[1].config.train.backend = "cpu";
  runs[1].config.resolved["train.backend"] = "cpu";
  const auto packs = plan_packs(runs, 16);
  ASSERT_EQ(packs.size(), 2u);
  EXPECT_EQ(packs[0].runs, (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(packs[1].runs, (std::vector<int64_t>{1}));
}

TEST_F(PackGrid, TwoTowerRunsTrainAlone) {
  auto runs = runs_of("train.seed = 1,2,3\n");
  for (auto& r : runs) r.config.model.head_hidden = 8;
  EXPECT_EQ(plan_packs(runs, 16).size(), 3u);
  EXPECT_EQ(pack_key(runs[0].config), "");
}

TEST_F(PackGrid, PackSizeIsAutoOrInRange) {
  const auto runs = runs_of("train.seed = 1,2\n");
  EXPECT_EQ(parse_pack_size("3", runs[0].config, "sweep.pack", "job.ini"), 3);
  EXPECT_GE(parse_pack_size("auto", runs[0].config, "sweep.pack", "job.ini"), 1);
  for (const std::string bad : {"0", "17", "-1", "many"}) {
    const std::string msg = test::expect_one_line_elm_error(
        [&] { parse_pack_size(bad, runs[0].config, "sweep.pack", "job.ini"); });
    EXPECT_NE(msg.find("sweep.pack"), std::string::npos) << msg;
  }
  RunConfig gpu = runs[0].config;
  gpu.train.backend = "cuda";
  EXPECT_EQ(parse_pack_size("64", gpu, "sweep.pack", "job.ini"), 64);
  EXPECT_EQ(parse_pack_size("auto", gpu, "sweep.pack", "job.ini"), 1);  // until a GPU measures a winner
  const std::string msg =
      test::expect_one_line_elm_error([&] { parse_pack_size("65", gpu, "sweep.pack", "job.ini"); });
  EXPECT_NE(msg.find("[1, 64]"), std::string::npos) << msg;
}

TEST(PackPlan, PacksTextListsEachPacksRuns) {
  EXPECT_EQ(packs_text({Pack{{0, 2}}, Pack{{1}}}), "pack\truns\n0\t0 2\n1\t1\n");
}

}  // namespace
}  // namespace elm
