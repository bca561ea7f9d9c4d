// Run states (train/run_status.hpp) on hand-made run directories: every state,
// the stale threshold, torn and empty status files, FAILED before everything;
// the Slurm --array expression; manifest.tsv read back; the totals lines.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.hpp"
#include "io/hdf5_io.hpp"
#include "sweep/array_expression.hpp"
#include "sweep/sweep_dir.hpp"
#include "sweep/sweep_job.hpp"
#include "sweep/sweep_summary.hpp"
#include "test_support.hpp"
#include "train/run_status.hpp"

namespace elm {
namespace {

namespace fs = std::filesystem;

constexpr double kNow = 1'800'000'000.0;  // a fixed "now": no test depends on the clock

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

void checkpoint(const fs::path& run, int64_t step, bool with_done = true, bool with_state = true) {
  char name[32];
  std::snprintf(name, sizeof name, "step_%08lld", (long long)step);
  const fs::path d = run / "checkpoints" / name;
  fs::create_directories(d);
  if (with_state) write(d / "state.h5", "");
  if (with_done) write(d / "DONE", "step " + std::to_string(step) + "\n");
}

RunStatusFile status(const std::string& state, int64_t step, double updated, int64_t checkpoint_step = 0,
                     const std::string& reason = "") {
  RunStatusFile s;
  s.state = state;
  s.step = step;
  s.steps = 400;
  s.checkpoint_step = checkpoint_step;
  s.host = "node7";
  s.pid = 4242;
  s.started = updated - 100;
  s.updated = updated;
  s.reason = reason;
  return s;
}

class RunStateTest : public ::testing::Test {
 protected:
  test::TempDir tmp_{"elm-run-state"};
  fs::path run_ = tmp_.path() / "run";
  void SetUp() override { fs::create_directories(run_); }
  RunStateInfo read(double stale_after = kStaleSeconds) { return read_run_state(run_.string(), kNow, stale_after); }
};

TEST_F(RunStateTest, AbsentOrEmptyDirectoryIsNotStarted) {
  const RunStateInfo absent = read_run_state((tmp_.path() / "nothing").string(), kNow);
  EXPECT_EQ(absent.state, RunState::not_started);
  EXPECT_EQ(describe_run_state(absent), "not started");
  EXPECT_EQ(read().state, RunState::not_started);
  write(run_ / "config.json", "{}");  // what elmrun sweep prepares for every run
  write(run_ / "log.txt", "step 1\n");
  write(run_ / "results.h5", "");  // no DONE: not final
  EXPECT_EQ(read().state, RunState::not_started);
}

TEST_F(RunStateTest, DoneReportsItsSteps) {
  write_run_status(run_.string(), status("done", 400, kNow - 5000));
  write(run_ / "DONE", "steps 400\n");
  const RunStateInfo i = read();
  EXPECT_EQ(i.state, RunState::done);
  EXPECT_EQ(i.steps, 400);
  EXPECT_EQ(describe_run_state(i), "done");
  // DONE alone (an older elmrun without status files) is done as well.
  fs::remove(run_ / "status");
  EXPECT_EQ(read().state, RunState::done);
}

TEST_F(RunStateTest, RunningWithAFreshHeartbeat) {
  checkpoint(run_, 100);
  write_run_status(run_.string(), status("running", 123, kNow - 3.4, 100));
  const RunStateInfo i = read();
  EXPECT_EQ(i.state, RunState::running);
  EXPECT_EQ(i.step, 123);
  EXPECT_EQ(i.steps, 400);
  EXPECT_EQ(i.checkpoint_step, 100);
  EXPECT_NEAR(i.heartbeat_age, 3.4, 1e-3);
  EXPECT_EQ(i.holder, "node7:4242");
  EXPECT_EQ(describe_run_state(i), "running (step 123 of 400, heartbeat 3 s ago, node7:4242)");
  // A heartbeat from the future (clocks of two hosts) is as fresh as can be.
  write_run_status(run_.string(), status("running", 123, kNow + 30));
  EXPECT_EQ(read().state, RunState::running);
  EXPECT_EQ(read().heartbeat_age, 0);
}

TEST_F(RunStateTest, StaleThreshold) {
  write_run_status(run_.string(), status("running", 50, kNow - kStaleSeconds));
  EXPECT_EQ(read().state, RunState::running);  // exactly at the limit: still running
  write_run_status(run_.string(), status("running", 50, kNow - kStaleSeconds - 0.5));
  RunStateInfo i = read();
  EXPECT_EQ(i.state, RunState::stale);
  EXPECT_EQ(describe_run_state(i), "stale (no heartbeat for 60 s from node7:4242, last step 50 of 400; no checkpoint)");
  EXPECT_TRUE(run_state_remains(i.state));
  // --stale-after moves the limit both ways.
  EXPECT_EQ(read(120).state, RunState::running);
  write_run_status(run_.string(), status("running", 50, kNow - 11));
  EXPECT_EQ(read().state, RunState::running);
  EXPECT_EQ(read(10).state, RunState::stale);
  // A stale run names its checkpoint: that is where a resubmission resumes.
  checkpoint(run_, 40);
  write_run_status(run_.string(), status("running", 50, kNow - 600, 40));
  i = read();
  EXPECT_EQ(i.state, RunState::stale);
  EXPECT_EQ(i.checkpoint_step, 40);
  EXPECT_NE(describe_run_state(i).find("checkpoint at step 40 of 400"), std::string::npos) << describe_run_state(i);
}

TEST_F(RunStateTest, InterruptedByCheckpointOrStatus) {
  checkpoint(run_, 40);
  checkpoint(run_, 80, /*with_done=*/false);         // being written when the job died: not counted
  checkpoint(run_, 90, true, /*with_state=*/false);  // DONE without state.h5: not counted
  RunStateInfo i = read();  // no status file at all (killed before the first one, or an older elmrun)
  EXPECT_EQ(i.state, RunState::interrupted);
  EXPECT_EQ(i.checkpoint_step, 40);
  EXPECT_EQ(describe_run_state(i), "interrupted (checkpoint at step 40)");
  write_run_status(run_.string(), status("interrupted", 57, kNow - 1000, 40, "SIGTERM"));
  i = read();
  EXPECT_EQ(i.state, RunState::interrupted);
  EXPECT_EQ(i.reason, "SIGTERM");
  EXPECT_EQ(describe_run_state(i), "interrupted (checkpoint at step 40 of 400)");
  // Stopped before the first checkpoint: interrupted, nothing to resume from.
  fs::remove_all(run_ / "checkpoints");
  i = read();
  EXPECT_EQ(i.state, RunState::interrupted);
  EXPECT_EQ(describe_run_state(i), "interrupted (no checkpoint)");
  // A done/failed status without its marker was cut short while finishing.
  write_run_status(run_.string(), status("done", 400, kNow - 10));
  EXPECT_EQ(read().state, RunState::not_started);
  checkpoint(run_, 300);
  EXPECT_EQ(read().state, RunState::interrupted);
}

TEST_F(RunStateTest, FailedWinsOverEverything) {
  write(run_ / "FAILED", "loss NaN at step 812\nmore detail\n");
  RunStateInfo i = read();
  EXPECT_EQ(i.state, RunState::failed);
  EXPECT_EQ(describe_run_state(i), "failed (loss NaN at step 812)");
  // A fresh running heartbeat, checkpoints and even DONE do not outvote FAILED.
  checkpoint(run_, 40);
  write_run_status(run_.string(), status("running", 50, kNow - 1, 40));
  write(run_ / "DONE", "steps 400\n");
  i = read();
  EXPECT_EQ(i.state, RunState::failed);
  EXPECT_EQ(i.reason, "loss NaN at step 812");
  EXPECT_TRUE(run_state_remains(i.state));
  // An empty FAILED still fails the run.
  write(run_ / "FAILED", "");
  EXPECT_EQ(describe_run_state(read()), "failed (FAILED without a reason)");
}

TEST_F(RunStateTest, TornEmptyAndForeignStatusFiles) {
  write(run_ / "status", "");
  EXPECT_EQ(read().state, RunState::not_started);
  write(run_ / "status", "step=12\nsteps=400\nupd");  // torn before the state line would matter
  EXPECT_EQ(read().state, RunState::not_started);
  checkpoint(run_, 40);
  EXPECT_EQ(read().state, RunState::interrupted);  // the checkpoint still counts
  fs::remove_all(run_ / "checkpoints");
  write(run_ / "status", "\x89HDF\r\n\x1a\n\0\0garbage");
  EXPECT_EQ(read().state, RunState::not_started);
  // running, but the heartbeat is missing or no number: stale, never running forever.
  write(run_ / "status", "state=running\nstep=12\nsteps=400\nhost=n\npid=1\n");
  RunStateInfo i = read();
  EXPECT_EQ(i.state, RunState::stale);
  EXPECT_EQ(describe_run_state(i), "stale (no valid heartbeat from n:1, last step 12 of 400; no checkpoint)");
  for (const char* updated : {"nan", "inf", "-inf", "soon", ""}) {
    write(run_ / "status", std::string("state=running\nstep=12\nupdated=") + updated + "\n");
    EXPECT_EQ(read(1e12).state, RunState::stale) << "updated=" << updated;
  }
  // Unknown state names say nothing.
  write(run_ / "status", "state=paused\nstep=12\nupdated=1800000000\n");
  EXPECT_EQ(read().state, RunState::not_started);
}

TEST_F(RunStateTest, StatusFileRoundTrip) {
  RunStatusFile s = status("interrupted", 57, 1'799'999'999.25, 40, "SIGTERM\nwhile evaluating");
  write_run_status(run_.string(), s);
  const auto back = read_run_status(run_.string());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->state, "interrupted");
  EXPECT_EQ(back->step, 57);
  EXPECT_EQ(back->steps, 400);
  EXPECT_EQ(back->checkpoint_step, 40);
  EXPECT_EQ(back->host, "node7");
  EXPECT_EQ(back->pid, 4242);
  EXPECT_DOUBLE_EQ(back->updated, 1'799'999'999.25);
  EXPECT_EQ(back->reason, "SIGTERM while evaluating");  // one line
  EXPECT_FALSE(read_run_status((tmp_.path() / "nothing").string()));
}

TEST(RunStates, ManyDirectoriesOnThreadsAgreeWithOneByOne) {
  test::TempDir tmp("elm-run-states");
  std::vector<std::string> dirs;
  for (int i = 0; i < 700; ++i) {
    const fs::path d = tmp.path() / std::to_string(i);
    dirs.push_back(d.string());
    switch (i % 7) {
      case 0: break;  // absent
      case 1: write(d / "DONE", "x\n"); break;
      case 2: write(d / "FAILED", "why " + std::to_string(i) + "\n"); break;
      case 3: fs::create_directories(d), write_run_status(d.string(), status("running", i, kNow - 1)); break;
      case 4: fs::create_directories(d), write_run_status(d.string(), status("running", i, kNow - 100)); break;
      case 5: checkpoint(d, i); break;
      case 6: write(d / "config.json", "{}"); break;
    }
  }
  const std::vector<RunStateInfo> many = read_run_states(dirs, kNow);
  ASSERT_EQ(many.size(), dirs.size());
  const RunState expected[] = {RunState::not_started, RunState::done,        RunState::failed,     RunState::running,
                               RunState::stale,       RunState::interrupted, RunState::not_started};
  for (size_t i = 0; i < dirs.size(); ++i) {
    const RunStateInfo one = read_run_state(dirs[i], kNow);
    EXPECT_EQ(many[i].state, expected[i % 7]) << dirs[i];
    EXPECT_EQ(describe_run_state(many[i]), describe_run_state(one)) << dirs[i];
  }
  EXPECT_TRUE(read_run_states({}, kNow).empty());
}

TEST(RunStates, WhatRemains) {
  EXPECT_FALSE(run_state_remains(RunState::done));
  EXPECT_FALSE(run_state_remains(RunState::running));
  for (RunState s : {RunState::failed, RunState::interrupted, RunState::stale, RunState::not_started})
    EXPECT_TRUE(run_state_remains(s)) << to_string(s);
  std::vector<std::string> names;
  for (RunState s : kRunStates) names.push_back(to_string(s));
  EXPECT_EQ(names, (std::vector<std::string>{"done", "running", "stale", "interrupted", "failed", "not_started"}));
}

// The cases of analysis/tests/test_collect.py::test_array_expression.
TEST(ArrayExpression, SameAsThePythonVersion) {
  EXPECT_EQ(array_expression({}), "");
  EXPECT_EQ(array_expression({5}), "5");
  EXPECT_EQ(array_expression({10, 9, 0, 1, 2, 3, 7, 3}), "0-3,7,9-10");
  EXPECT_EQ(array_expression({1, 3, 5}), "1,3,5");
  EXPECT_EQ(array_expression({0, 1, 2, 3, 7, 9, 10}), "0-3,7,9-10");
  EXPECT_EQ(array_expression({4, 5}), "4-5");
  EXPECT_EQ(array_expression({9999, 0}), "0,9999");
}

TEST(RunTotals, CountsAndRemains) {
  const std::vector<RunState> states = {RunState::done, RunState::not_started, RunState::running, RunState::failed,
                                        RunState::done, RunState::stale,       RunState::interrupted};
  const std::vector<int64_t> indices = {0, 1, 2, 3, 4, 5, 6};
  EXPECT_EQ(run_totals_text(states, &indices),
            "7 runs: 2 done, 1 running, 1 stale, 1 interrupted, 1 failed, 1 not_started\n"
            "remains 4 runs (1 running): --array=1,3,5-6\n");
  EXPECT_EQ(run_totals_text({RunState::done}, nullptr), "1 run: 1 done\n");
  const std::vector<int64_t> two = {3, 8};
  EXPECT_EQ(run_totals_text({RunState::done, RunState::running}, &two),
            "2 runs: 1 done, 1 running\nnothing remains (1 running)\n");
  EXPECT_EQ(run_totals_text({}, &indices), "0 runs\nnothing remains\n");
}

TEST(Manifest, ReadsWhatManifestTextWrites) {
  test::TempDir tmp("elm-manifest");
  write(tmp.path() / "manifest.tsv",
        "index\trun_id\tmodel.num_memory\ttrain.seed\n0\tab12\t8\t1\n1\tcd34\t16\t1\r\n\n5\tef56\t\t2\n");
  const SweepManifest m = read_manifest(tmp.file("manifest.tsv"));
  EXPECT_EQ(m.axis_keys, (std::vector<std::string>{"model.num_memory", "train.seed"}));
  ASSERT_EQ(m.rows.size(), 3u);
  EXPECT_EQ(m.rows[1].run_id, "cd34");
  EXPECT_EQ(m.rows[1].axis_values, (std::vector<std::string>{"16", "1"}));
  EXPECT_EQ(m.rows[2].index, 5);
  EXPECT_EQ(m.rows[2].axis_values, (std::vector<std::string>{"", "2"}));
  EXPECT_EQ(run_dir_of("/s", "ab12"), "/s/runs/ab12");

  const std::string path = tmp.file("bad.tsv");
  auto error_for = [&](const std::string& text) {
    write(path, text);
    return test::expect_one_line_elm_error([&] { read_manifest(path); });
  };
  EXPECT_NE(error_for("").find("empty manifest"), std::string::npos);
  EXPECT_NE(error_for("run_id\tindex\n").find("bad.tsv:1"), std::string::npos);
  EXPECT_NE(error_for("index\trun_id\tk\n0\tab\n").find("bad.tsv:2: 2 fields, the header has 3"), std::string::npos);
  EXPECT_NE(error_for("index\trun_id\n0\t../x\n").find("'../x'"), std::string::npos);
  EXPECT_NE(error_for("index\trun_id\n0\t..\n").find("cannot name a run directory"), std::string::npos);
  EXPECT_NE(error_for("index\trun_id\nx1\tab\n").find("index 'x1'"), std::string::npos);
  EXPECT_NE(error_for("index\trun_id\n-1\tab\n").find("index '-1'"), std::string::npos);
  const std::string absent = test::expect_one_line_elm_error([&] { read_manifest(tmp.file("none.tsv")); });
  EXPECT_NE(absent.find("none.tsv"), std::string::npos);
}


// The summary table of `elmrun sweep` (--collect) reads the same states: one
// row per run, numbers from done runs only, the totals and what remains.
TEST(SweepSummaryStates, OneRowPerRunInTheRunStates) {
  test::TempDir tmp("elm-summary-states");
  write(tmp.path() / "base.ini",
        "[model]\nvariant = v1\nnum_input = 32\nnum_output = 4\nnum_memory = 10\nmemory_tau_max = 150\n"
        "[task]\nname = synthetic_burst\n[train]\nsteps = 4\nbatch_size = 8\n");
  write(tmp.path() / "job.ini", "[sweep]\nconfig = base.ini\n[grid]\nmodel.num_memory = 2,3,4,5,6,7,8\n");
  const SweepJob job = read_sweep_job(tmp.file("job.ini"), {});
  const std::vector<SweepRun> runs = expand_sweep(job);
  ASSERT_EQ(runs.size(), 7u);
  const std::string sweep = tmp.file("sweep");
  auto dir = [&](int i) { return fs::path(run_dir_of(sweep, runs[size_t(i)])); };
  const double now = seconds_since_epoch();
  {  // 0: done, with a results.h5 that has what the table reads
    fs::create_directories(dir(0));
    H5AtomicWriter w((dir(0) / "results.h5").string());
    w.write_attr("parameter_count", 123.0);
    w.write_attr("wall_seconds", 4.5);
    w.write_attr("steps_completed", 4.0);
    const double accuracy = 0.75;
    w.write_double("test/accuracy", &accuracy, {});
    w.commit();
    write(dir(0) / "DONE", "steps 4\n");
  }
  write(dir(1) / "DONE", "steps 4\n");  // 1: DONE, results.h5 unreadable: failed
  write(dir(1) / "results.h5", "not hdf5");
  fs::create_directories(dir(2));  // 2: running
  write_run_status(dir(2).string(), status("running", 2, now - 1));
  fs::create_directories(dir(3));  // 3: stale
  write_run_status(dir(3).string(), status("running", 2, now - 3600));
  checkpoint(dir(4), 2);  // 4: interrupted
  write(dir(5) / "FAILED", "loss NaN at step 3\n");  // 5: failed; 6: never started
  const SweepSummary s = collect_sweep(sweep, job, runs);
  ASSERT_EQ(s.rows.size(), 7u);
  std::vector<std::string> statuses;
  for (const auto& r : s.rows) statuses.push_back(r.status);
  EXPECT_EQ(statuses,
            (std::vector<std::string>{"done", "failed", "running", "stale", "interrupted", "failed", "not_started"}));
  EXPECT_EQ(s.rows[0].parameter_count, 123);
  EXPECT_EQ(s.rows[0].wall_seconds, 4.5);
  ASSERT_EQ(s.test_names, std::vector<std::string>{"accuracy"});
  EXPECT_EQ(s.rows[0].test[0], 0.75);
  for (size_t i = 1; i < s.rows.size(); ++i) {
    EXPECT_EQ(s.rows[i].parameter_count, -1) << i;
    EXPECT_TRUE(std::isnan(s.rows[i].wall_seconds) && std::isnan(s.rows[i].steps_completed)) << i;
    EXPECT_TRUE(std::isnan(s.rows[i].test[0])) << i;
  }
  EXPECT_NE(s.rows[1].detail.find("unreadable results.h5"), std::string::npos) << s.rows[1].detail;
  EXPECT_EQ(s.rows[5].detail, "failed (loss NaN at step 3)");
  const std::string text = summary_table_text(s);
  EXPECT_NE(text.find("run 4 (" + runs[4].id + "): interrupted (checkpoint at step 2)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("7 runs: 1 done, 1 running, 1 stale, 1 interrupted, 2 failed, 1 not_started\n"
                      "remains 5 runs (1 running): --array=1,3-6\n"),
            std::string::npos)
      << text;
  // summary.csv keeps its columns; the status column holds the states.
  write_sweep_summary(s, sweep);
  std::ifstream csv(sweep + "/summary.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("index,run_id,status,model.num_memory,parameter_count,wall_seconds,steps_completed,", 0), 0u)
      << header;
  std::vector<std::string> csv_status;
  while (std::getline(csv, line)) {
    const size_t b = line.find(',', line.find(',') + 1);  // index,run_id,status,...
    const size_t c = line.find(',', b + 1);
    csv_status.push_back(line.substr(b + 1, c - b - 1));
  }
  EXPECT_EQ(csv_status, statuses);
}

}  // namespace
}  // namespace elm
