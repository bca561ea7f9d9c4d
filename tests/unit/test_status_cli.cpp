// `elmrun status` end to end on hand-made sweep and run directories: one line
// per run, the totals, the --array= of what remains, one-line errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_support.hpp"
#include "train/run_status.hpp"

namespace fs = std::filesystem;
using elm::test::elmrun;
using elm::test::run_command;
using elm::test::shell_quote;
using elm::test::TempDir;

namespace {

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

void running_status(const fs::path& run, int64_t step, double age) {
  elm::RunStatusFile s;
  s.state = "running";
  s.step = step;
  s.steps = 400;
  s.host = "node7";
  s.pid = 4242;
  s.updated = elm::seconds_since_epoch() - age;
  s.started = s.updated - 100;
  elm::write_run_status(run.string(), s);
}

struct Output {
  int status = -1;
  std::string out, err;
  std::vector<std::string> lines;
};

Output status_of(const TempDir& tmp, const std::string& args) {
  const std::string out_file = tmp.file("status.out");
  // run_command sends stdout to /dev/null: the inner redirection keeps it.
  const auto r = run_command("{ " + elmrun() + " status " + args + " > " + shell_quote(out_file) + "; }");
  Output o{r.status, "", r.stderr_text, {}};
  std::ifstream f(out_file);
  std::stringstream ss;
  ss << f.rdbuf();
  o.out = ss.str();
  std::istringstream lines(o.out);
  for (std::string line; std::getline(lines, line);) o.lines.push_back(line);
  return o;
}

// A sweep of 8 runs: 0 done, 1 running, 2 stale, 3 interrupted, 4 failed, 5
// not started (config.json only), 6 never created, 7 done.
fs::path make_sweep(const TempDir& tmp) {
  const fs::path sweep = tmp.path() / "sweep";
  write(sweep / "job.ini", "[sweep]\nname = hand\n");
  std::string manifest = "index\trun_id\tmodel.num_memory\ttrain.seed\n";
  for (int i = 0; i < 8; ++i)
    manifest += std::to_string(i) + "\t00000000000000a" + std::to_string(i) + "\t" + std::to_string(8 << (i / 2)) +
                "\t" + std::to_string(i % 2) + "\n";
  write(sweep / "manifest.tsv", manifest);
  auto run = [&](int i) { return sweep / "runs" / ("00000000000000a" + std::to_string(i)); };
  write(run(0) / "DONE", "steps 400\n");
  fs::create_directories(run(1));
  running_status(run(1), 123, 2);
  fs::create_directories(run(2));
  running_status(run(2), 77, 3600);
  write(run(3) / "checkpoints" / "step_00000200" / "state.h5", "");
  write(run(3) / "checkpoints" / "step_00000200" / "DONE", "step 200\n");
  write(run(4) / "FAILED", "loss NaN at step 12\n");
  write(run(5) / "config.json", "{}");
  write(run(7) / "DONE", "steps 400\n");
  return sweep;
}

TEST(StatusCli, SweepLinesTotalsAndArray) {
  TempDir tmp("elm-status-cli");
  const fs::path sweep = make_sweep(tmp);
  const Output o = status_of(tmp, shell_quote(sweep.string()));
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.err, "");
  ASSERT_EQ(o.lines.size(), 12u) << o.out;  // header, 8 runs, blank, totals, remains
  EXPECT_EQ(o.lines[0], "index  run_id            model.num_memory  train.seed  state");
  EXPECT_EQ(o.lines[1], "0      00000000000000a0  8                 0           done");
  EXPECT_EQ(o.lines[2].rfind("1      00000000000000a1  8                 1           running (step 123 of 400, heartbeat ", 0),
            0u) << o.lines[2];
  EXPECT_NE(o.lines[2].find(" s ago, node7:4242)"), std::string::npos) << o.lines[2];
  // The age grows while elmrun starts (seconds on a loaded machine): only its first digits are fixed.
  EXPECT_EQ(o.lines[3].rfind("2      00000000000000a2  16                0           stale (no heartbeat for 36", 0), 0u)
      << o.lines[3];
  EXPECT_NE(o.lines[3].find(" s from node7:4242, last step 77 of 400; no checkpoint)"), std::string::npos)
      << o.lines[3];
  EXPECT_EQ(o.lines[4], "3      00000000000000a3  16                1           interrupted (checkpoint at step 200)");
  EXPECT_EQ(o.lines[5], "4      00000000000000a4  32                0           failed (loss NaN at step 12)");
  EXPECT_EQ(o.lines[6], "5      00000000000000a5  32                1           not started");
  EXPECT_EQ(o.lines[7], "6      00000000000000a6  64                0           not started");
  EXPECT_EQ(o.lines[8], "7      00000000000000a7  64                1           done");
  EXPECT_EQ(o.lines[9], "");
  EXPECT_EQ(o.lines[10], "8 runs: 2 done, 1 running, 1 stale, 1 interrupted, 1 failed, 2 not_started");
  EXPECT_EQ(o.lines[11], "remains 5 runs (1 running): --array=2-6");

  // A longer --stale-after turns the stale run back into a running one.
  const Output patient = status_of(tmp, shell_quote(sweep.string()) + " --stale-after 7200");
  ASSERT_EQ(patient.status, 0) << patient.err;
  EXPECT_EQ(patient.lines[10], "8 runs: 2 done, 2 running, 1 interrupted, 1 failed, 2 not_started");
  EXPECT_EQ(patient.lines[11], "remains 4 runs (2 running): --array=3-6");
}

TEST(StatusCli, NothingRemains) {
  TempDir tmp("elm-status-cli");
  const fs::path sweep = tmp.path() / "sweep";
  write(sweep / "manifest.tsv", "index\trun_id\n0\tr0\n1\tr1\n");
  write(sweep / "runs" / "r0" / "DONE", "");
  fs::create_directories(sweep / "runs" / "r1");
  running_status(sweep / "runs" / "r1", 5, 0);
  const Output o = status_of(tmp, shell_quote(sweep.string()));
  ASSERT_EQ(o.status, 0) << o.err;
  ASSERT_GE(o.lines.size(), 2u);
  EXPECT_EQ(o.lines[o.lines.size() - 2], "2 runs: 1 done, 1 running");
  EXPECT_EQ(o.lines.back(), "nothing remains (1 running)");
}

TEST(StatusCli, OneRunDirectory) {
  TempDir tmp("elm-status-cli");
  const fs::path run = make_sweep(tmp) / "runs" / "00000000000000a3";
  const Output o = status_of(tmp, shell_quote(run.string()));
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.lines, (std::vector<std::string>{run.string() + ": interrupted (checkpoint at step 200)",
                                               "1 run: 1 interrupted"}));
}

TEST(StatusCli, NeitherSweepNorRunIsOneLineError) {
  TempDir tmp("elm-status-cli");
  fs::create_directories(tmp.path() / "empty");
  write(tmp.path() / "plain" / "notes.txt", "hello\n");
  for (const char* name : {"empty", "plain", "absent"}) {
    const Output o = status_of(tmp, shell_quote(tmp.file(name)));
    EXPECT_NE(o.status, 0) << name;
    EXPECT_EQ(o.out, "") << name;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_NE(o.err.find(tmp.file(name)), std::string::npos) << o.err;
  }
  // A damaged manifest names the file and line.
  write(tmp.path() / "bad" / "manifest.tsv", "index\trun_id\n0\t../../etc\n");
  const Output bad = status_of(tmp, shell_quote(tmp.file("bad")));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("manifest.tsv:2"), std::string::npos) << bad.err;
  const Output none = status_of(tmp, "");
  EXPECT_NE(none.status, 0);
  const Output negative = status_of(tmp, shell_quote(tmp.file("empty")) + " --stale-after -5");
  EXPECT_NE(negative.status, 0);
  EXPECT_NE(negative.err.find("--stale-after"), std::string::npos) << negative.err;
}

}  // namespace
