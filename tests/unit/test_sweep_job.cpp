// Sweep job files: grid expansion order and ids, command-line overrides,
// errors naming the file and key, and every job shipped in jobs/ expands.
// Suite files: job names and paths, --only, one-line errors, suite.tsv, and the
// paper's suite (jobs/paper/suite.ini) lists every paper job once.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "sweep/sweep_job.hpp"
#include "sweep/sweep_suite.hpp"
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
  for (const auto& e : fs::recursive_directory_iterator(test::source_dir() + "/jobs")) {
    if (e.path().extension() != ".ini" || is_suite_file(e.path().string())) continue;
    ++jobs;
    const auto runs = expand_sweep(read_sweep_job(e.path().string(), {}));
    EXPECT_GE(runs.size(), 1u) << e.path();
  }
  EXPECT_GE(jobs, 6 + 16);
}

TEST(SweepSuite, ReadsJobsRelativeToTheSuiteAndSelectsByName) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "sub");
  write(dir.file("base.ini"), kBase);
  write(dir.file("sub/a.ini"), "[sweep]\nname = alpha\nconfig = ../base.ini\n[grid]\ntrain.seed = 1,2\n");
  write(dir.file("b.ini"), "[sweep]\nconfig = base.ini\n[grid]\nmodel.num_memory = 3,5\n");
  write(dir.file("suite.ini"), "[suite]\nname = pair ; comment\njobs = sub/a.ini, b.ini\n");
  EXPECT_TRUE(is_suite_file(dir.file("suite.ini")));
  EXPECT_FALSE(is_suite_file(dir.file("b.ini")));
  const SweepSuite suite = read_sweep_suite(dir.file("suite.ini"));
  EXPECT_EQ(suite.name, "pair");
  ASSERT_EQ(suite.jobs.size(), 2u);
  EXPECT_EQ(suite.jobs[0].name, "alpha");  // sweep.name
  EXPECT_EQ(suite.jobs[1].name, "b");      // the file stem
  EXPECT_TRUE(fs::equivalent(suite.jobs[0].path, dir.file("sub/a.ini")));
  EXPECT_EQ(select_suite_jobs(suite, {}).size(), 2u);
  // By sweep name, by file stem or file name; suite order, each once.
  for (const std::vector<std::string> only : {std::vector<std::string>{"alpha"}, {"a"}, {"a.ini"}, {"a", "alpha"}}) {
    const auto picked = select_suite_jobs(suite, only);
    ASSERT_EQ(picked.size(), 1u);
    EXPECT_EQ(picked[0].name, "alpha");
  }
  const auto both = select_suite_jobs(suite, {"b", "alpha"});
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].name, "alpha");
  const std::string msg = test::expect_one_line_elm_error([&] { select_suite_jobs(suite, {"alpah"}); });
  EXPECT_NE(msg.find("did you mean 'alpha'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("alpha, b"), std::string::npos) << msg;
  // suite.tsv: every job, absolute paths, the suite file on each line.
  const std::string tsv = suite_record_text(suite);
  EXPECT_EQ(tsv.rfind("sweep\tjob_file\tsuite_file\nalpha\t/", 0), 0u) << tsv;
  EXPECT_NE(tsv.find("\nb\t/"), std::string::npos) << tsv;
  EXPECT_NE(tsv.find("suite.ini\n"), std::string::npos) << tsv;
  // A nameless suite is named after its file.
  write(dir.file("nameless.ini"), "[suite]\njobs = b.ini\n");
  EXPECT_EQ(read_sweep_suite(dir.file("nameless.ini")).name, "nameless");
}

TEST(SweepSuite, BadSuiteFilesGiveOneLineErrorsNamingTheFile) {
  test::TempDir dir;
  write(dir.file("base.ini"), kBase);
  write(dir.file("a.ini"), "[sweep]\nname = same\nconfig = base.ini\n");
  write(dir.file("b.ini"), "[sweep]\nname = same\nconfig = base.ini\n");
  write(dir.file("broken.ini"), "[sweep]\nconfig = nowhere.ini\n");
  write(dir.file("inner.ini"), "[suite]\njobs = a.ini\n");
  struct Case {
    std::string text, expect;
  };
  const std::vector<Case> cases = {
      {"[suite]\nname = x\n", "suite.jobs"},
      {"[suite]\njobs =\n", "suite.jobs"},
      {"[suite]\njobs = a.ini,,a.ini\n", "empty entry"},
      {"[suite]\njobs = absent.ini\n", "absent.ini"},
      {"[suite]\njobs = a.ini, b.ini\n", "both have the sweep name 'same'"},
      {"[suite]\njobs = broken.ini\n", "nowhere.ini"},
      {"[suite]\njobs = inner.ini\n", "suites do not nest"},
      {"[suite]\njob = a.ini\n", "did you mean 'jobs'"},
      {"[suite]\njobs = a.ini\n[sweep]\nconfig = base.ini\n", "unknown section [sweep]"},
      {"[suite]\nname = ../up\njobs = a.ini\n", "cannot name a directory"},
  };
  for (const auto& c : cases) {
    write(dir.file("bad.ini"), c.text);
    const std::string msg = test::expect_one_line_elm_error([&] { read_sweep_suite(dir.file("bad.ini")); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.text << " -> " << msg;
    EXPECT_NE(msg.find("bad.ini"), std::string::npos) << msg;
  }
}

TEST(SweepSuite, ThePaperSuiteListsEveryPaperJobOnce) {
  const std::string dir = test::source_dir() + "/jobs/paper";
  const SweepSuite suite = read_sweep_suite(dir + "/suite.ini");
  EXPECT_EQ(suite.name, "paper");
  std::set<std::string> listed;
  for (const auto& j : suite.jobs) {
    listed.insert(fs::path(j.path).filename().string());
    EXPECT_EQ(j.name, fs::path(j.path).stem().string()) << "the sweep name is the file name: " << j.path;
  }
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".ini" && e.path().filename() != "suite.ini") files.insert(e.path().filename().string());
  EXPECT_EQ(listed, files);
  EXPECT_EQ(suite.jobs.size(), 16u);
}

}  // namespace
}  // namespace elm
