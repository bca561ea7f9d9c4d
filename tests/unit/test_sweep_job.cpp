// Sweep job files: grid expansion order and ids, command-line overrides,
// errors naming the file and key, and every job shipped in jobs/ expands.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "sweep/sweep_job.hpp"
#include "test_support.hpp"

namespace elm {
namespace {

namespace fs = std::filesystem;

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

const char* kBase =
    "[model]\nvariant = v1\nnum_input = 32\nnum_output = 4\nnum_memory = 10\nmemory_tau_max = 150\n"
    "[task]\nname = synthetic_burst\n[train]\nsteps = 4\nbatch_size = 8\n";

TEST(SweepJob, ExpandsTheProductFirstAxisSlowest) {
  test::TempDir dir;
  write(dir.file("base.ini"), kBase);
  write(dir.file("job.ini"),
        "[sweep]\nconfig = base.ini   ; relative to this file\n[set]\ntrain.steps = 7 # fixed\n"
        "[grid]\nmodel.num_memory = 3,5 ; d_m\n"
        "model.memory_tau_max = 20, 200 ,2000\n");
  const SweepJob job = read_sweep_job(dir.file("job.ini"), {});
  EXPECT_EQ(job.name, "job");
  const auto runs = expand_sweep(job);
  ASSERT_EQ(runs.size(), 6u);
  const std::vector<std::vector<std::string>> expect = {{"3", "20"}, {"3", "200"}, {"3", "2000"},
                                                        {"5", "20"}, {"5", "200"}, {"5", "2000"}};
  std::set<std::string> ids;
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].axis_values, expect[i]);
    EXPECT_EQ(runs[i].config.model.num_memory, std::stoi(expect[i][0]));
    EXPECT_EQ(runs[i].config.train.steps, 7);
    EXPECT_EQ(runs[i].id.size(), 16u);
    ids.insert(runs[i].id);
  }
  EXPECT_EQ(ids.size(), 6u);
  // Stable ids: the same job gives the same ids; threads do not change them.
  EXPECT_EQ(expand_sweep(read_sweep_job(dir.file("job.ini"), {"train.threads=2"}))[4].id, runs[4].id);
  EXPECT_NE(expand_sweep(read_sweep_job(dir.file("job.ini"), {"train.seed=9"}))[4].id, runs[4].id);
}

TEST(SweepJob, OverrideOfAnAxisFixesIt) {
  test::TempDir dir;
  write(dir.file("base.ini"), kBase);
  write(dir.file("job.ini"), "[sweep]\nconfig = base.ini\n[grid]\nmodel.num_memory = 3,5\ntrain.seed = 1,2\n");
  const auto runs = expand_sweep(read_sweep_job(dir.file("job.ini"), {"model.num_memory=8", "train.steps=2"}));
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& r : runs) {
    EXPECT_EQ(r.config.model.num_memory, 8);
    EXPECT_EQ(r.config.train.steps, 2);
  }
}

TEST(SweepJob, BadJobFilesGiveOneLineErrorsNamingFileAndKey) {
  test::TempDir dir;
  write(dir.file("base.ini"), kBase);
  struct Case {
    std::string text, expect;
  };
  const std::vector<Case> cases = {
      {"[grid]\nmodel.num_memory = 3\n", "sweep.config"},
      {"[sweep]\nconfig = nowhere.ini\n", "nowhere.ini"},
      {"[sweep]\nconfig = base.ini\nrank_per_run = 2\n", "sweep.rank_per_run"},
      {"[sweep]\nconfig = base.ini\nranks_per_run = 0\n", "ranks_per_run"},
      {"[sweep]\nconfig = base.ini\n[grid]\nmodel.num_memory = 3,,5\n", "empty value"},
      {"[sweep]\nconfig = base.ini\n[grid]\nmodel.num_memory = 3,3\n", "repeats"},
      {"[sweep]\nconfig = base.ini\n[grid]\nmodel.num_memory = 3,x\n", "model.num_memory"},
      {"[sweep]\nconfig = base.ini\n[grid]\nmodel.no_such_key = 1,2\n", "no_such_key"},
      {"[sweep]\nconfig = base.ini\n[grid]\nnum_memory = 1,2\n", "section.key"},
      {"[sweep]\nconfig = base.ini\n[griid]\nmodel.num_memory = 1,2\n", "griid"},
      {"[sweep]\nconfig = base.ini\n[grid]\ntrain.threads = 1,2\n", "duplicate"},
  };
  for (const auto& c : cases) {
    write(dir.file("bad.ini"), c.text);
    const std::string msg =
        test::expect_one_line_elm_error([&] { expand_sweep(read_sweep_job(dir.file("bad.ini"), {})); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.text << " -> " << msg;
    EXPECT_NE(msg.find("bad.ini"), std::string::npos) << msg;
  }
}

TEST(SweepJob, EveryShippedJobExpands) {
  int jobs = 0;
  for (const auto& e : fs::directory_iterator(test::source_dir() + "/jobs")) {
    if (e.path().extension() != ".ini") continue;
    ++jobs;
    const auto runs = expand_sweep(read_sweep_job(e.path().string(), {}));
    EXPECT_GE(runs.size(), 2u) << e.path();
  }
  EXPECT_GE(jobs, 6);
}

}  // namespace
}  // namespace elm
