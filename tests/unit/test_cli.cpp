// The elmrun executable end to end: bad input gives one error line naming the
// file or key and a non-zero exit, and leaves no partial output behind.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "io/hdf5_io.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using elm::test::elmrun;
using elm::test::run_command;
using elm::test::shell_quote;
using elm::test::TempDir;

namespace {

int line_count(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

void expect_one_line_error(const elm::test::CommandResult& r, const std::string& must_name) {
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(line_count(r.stderr_text), 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(must_name), std::string::npos) << "error does not name '" << must_name
                                                              << "': " << r.stderr_text;
}

// Directory holds nothing at all (no results, no temp files).
void expect_empty_or_absent(const fs::path& dir) {
  if (!fs::exists(dir)) return;
  for (const auto& e : fs::recursive_directory_iterator(dir)) ADD_FAILURE() << "left behind: " << e.path();
}

}  // namespace

TEST(Cli, TrainQuickRunWritesResultsAndCheckpoint) {
  TempDir tmp("elm-cli");
  const std::string out = tmp.file("run");
  auto r = run_command(elmrun() + " train --out " + shell_quote(out) +
                       " --set train.steps=30 --set train.eval_every=30 > /dev/null");
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  elm::H5Reader results(out + "/results.h5");
  EXPECT_EQ(results.shape("train/loss"), std::vector<int64_t>{30});
  EXPECT_EQ(results.read_attr_double("parameter_count"), 1146.0);  // d_b 32, d_m 10, H 20, d_o 4
  // The checkpoint evaluates through the eval command.
  auto e = run_command(elmrun() + " train --out " + shell_quote(out) + " --set train.steps=1");
  expect_one_line_error(e, "--overwrite");
}

TEST(Cli, UnknownOrInvalidConfigKeysAreOneLineErrors) {
  TempDir tmp("elm-cli");
  const std::string out = tmp.file("run");
  expect_one_line_error(run_command(elmrun() + " train --out " + shell_quote(out) + " --set model.num_memroy=5"),
                        "num_memroy");
  expect_one_line_error(run_command(elmrun() + " train --out " + shell_quote(out) + " --set train.steps=-3"),
                        "train.steps");
  expect_one_line_error(run_command(elmrun() + " train --out " + shell_quote(out) + " --set optim.kind=sgd"), "sgd");
  expect_one_line_error(run_command(elmrun() + " train --out " + shell_quote(out) + " --set model.num_input=7"),
                        "num_input");
  const std::string ini = tmp.file("bad.ini");
  std::ofstream(ini) << "[model]\nnum_memory = 4\n[trian]\nsteps = 3\n";
  expect_one_line_error(run_command(elmrun() + " train --config " + shell_quote(ini) + " --out " + shell_quote(out)),
                        "trian");
  expect_one_line_error(run_command(elmrun() + " train --config " + shell_quote(tmp.file("missing.ini"))),
                        "missing.ini");
  expect_empty_or_absent(out);
}

TEST(Cli, EvalRejectsTruncatedForeignAndMismatchedFiles) {
  TempDir tmp("elm-cli");
  const std::string run = tmp.file("run");
  ASSERT_EQ(run_command(elmrun() + " train --out " + shell_quote(run) + " --set train.steps=2 > /dev/null").status, 0);
  const std::string ckpt = run + "/checkpoint.h5";
  // Truncated checkpoint.
  const std::string truncated = tmp.file("truncated.h5");
  fs::copy_file(ckpt, truncated);
  fs::resize_file(truncated, fs::file_size(ckpt) / 2);
  const std::string golden = elm::test::shared_dir() + "/golden/v1_dense_small.h5";
  expect_one_line_error(run_command(elmrun() + " eval -m " + shell_quote(truncated) + " -d " + shell_quote(golden)),
                        "truncated.h5");
  // A foreign (non-HDF5) file.
  const std::string foreign = tmp.file("foreign.h5");
  std::ofstream(foreign) << "not hdf5\n";
  expect_one_line_error(run_command(elmrun() + " eval -m " + shell_quote(foreign) + " -d " + shell_quote(golden)),
                        "foreign.h5");
  // Data whose channel count disagrees with the checkpoint's model.
  const std::string out = tmp.file("y.h5");
  expect_one_line_error(run_command(elmrun() + " eval -m " + shell_quote(ckpt) + " -d " + shell_quote(golden) +
                                    " -o " + shell_quote(out)),
                        "v1_dense_small.h5");
  EXPECT_FALSE(fs::exists(out));
}

TEST(Cli, EvalOfAGoldenCaseReportsTheReferenceLoss) {
  // A golden file is also a checkpoint plus data: eval must reproduce its loss.
  const std::string golden = elm::test::shared_dir() + "/golden/v1_shd_like_ce.h5";
  elm::H5Reader ref(golden);
  const double loss = ref.read_float("loss").data.at(0);
  TempDir tmp("elm-cli");
  const std::string log = tmp.file("eval.txt");
  // run_command discards stdout, so the redirect goes inside a subshell.
  auto r = run_command("(" + elmrun() + " eval -m " + shell_quote(golden) + " -d " + shell_quote(golden) + " > " +
                       shell_quote(log) + ")");
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  std::ifstream in(log);
  std::string line;
  double got = NAN, diff = NAN;
  bool matches = false;
  const std::string ref_prefix = "reference output: largest |difference| ";
  while (std::getline(in, line)) {
    if (line.rfind("loss=", 0) == 0) got = std::stod(line.substr(5));
    if (line.rfind(ref_prefix, 0) == 0) {
      diff = std::stod(line.substr(ref_prefix.size()));
      matches = line.find(": matches the reference") != std::string::npos;
    }
  }
  EXPECT_NEAR(got, loss, 1e-4 * std::abs(loss) + 1e-5);
  // The file's own `output` is compared too, and the largest difference printed.
  EXPECT_LT(diff, 1e-4);
  EXPECT_TRUE(matches);
}

TEST(Cli, OutputPathsThatCannotBeMadeAreOneLineBeforeTheWork) {
  TempDir tmp("elm-cli");
  const std::string file = tmp.file("a_file");
  std::ofstream(file) << "x";
  const std::string golden = elm::test::shared_dir() + "/golden/v1_dense_small.h5";
  // A directory below a regular file can never be made (also as root).
  auto train = run_command(elmrun() + " train --out " + shell_quote(file + "/run"));
  expect_one_line_error(train, "run directory " + file + "/run: cannot create the directory");
  EXPECT_EQ(train.stderr_text.find("filesystem error"), std::string::npos) << train.stderr_text;
  const std::string log = tmp.file("eval.txt");
  auto eval = run_command("(" + elmrun() + " eval -m " + shell_quote(golden) + " -d " + shell_quote(golden) +
                          " --out " + shell_quote(file + "/y.h5") + " > " + shell_quote(log) + ")");
  expect_one_line_error(eval, "--out " + file + "/y.h5: " + file + ": cannot create the directory");
  std::ifstream in(log);
  const std::string printed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(printed.find("eval on"), std::string::npos) << "the model ran before the check: " << printed;
}

TEST(Cli, BenchPrintsMsPerStep) {
  TempDir tmp("elm-cli");
  const std::string log = tmp.file("bench.txt");
  auto r = run_command("(" + elmrun() + " bench -w neuronio_dm15 --min-seconds 0 --min-steps 1 > " +
                       shell_quote(log) + ")");
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("workload=neuronio_dm15"), std::string::npos) << text;
  EXPECT_NE(text.find("ms_per_step="), std::string::npos) << text;
  expect_one_line_error(run_command(elmrun() + " bench -w no_such_workload"), "no_such_workload");
}

TEST(Cli, NeuronioEndToEndOnTheSyntheticNeuron) {
  // prep (built-in generator, the converted-NeuronIO layout) -> train -> metrics of the reference protocol.
  TempDir tmp("elm-cli");
  const std::string store = tmp.file("store"), run = tmp.file("run");
  auto p = run_command(elmrun() + " prep synthetic_neuron --out " + shell_quote(store) +
                       " --set channels=64 --set duration_ms=1500 --set train_simulations=6 --set valid_simulations=2"
                       " --set test_simulations=4");
  ASSERT_EQ(p.status, 0) << p.stderr_text;
  auto t = run_command(elmrun() + " train --config " + shell_quote(elm::test::source_dir() + "/configs/neuronio.ini") +
                       " --set task.store=" + shell_quote(store) +
                       " --set model.num_input=64 --set model.num_branch=8 --set model.num_synapse_per_branch=8"
                       " --set train.steps=4 --set train.eval_every=4 --set task.windows_per_epoch=32 --out " +
                       shell_quote(run));
  ASSERT_EQ(t.status, 0) << t.stderr_text;
  elm::H5Reader results(run + "/results.h5");
  const double auc = results.read_double("test/AUC").data.at(0);
  EXPECT_TRUE(std::isnan(auc) || (auc >= 0.0 && auc <= 1.0)) << auc;
  EXPECT_TRUE(results.has("test/soma_RMSE"));
  EXPECT_EQ(results.shape("train/loss"), std::vector<int64_t>{4});
  // eval of the trained checkpoint on the store's test split prints what the
  // run's own test evaluation recorded (DONE: "steps 4, test <metrics>").
  const std::string shapes = " --set task.store=" + shell_quote(store) +
                             " --set model.num_input=64 --set model.num_branch=8 --set model.num_synapse_per_branch=8";
  const std::string printed = tmp.file("eval.out");
  auto e = run_command("(" + elmrun() + " eval -m " + shell_quote(run + "/checkpoint.h5") + " --config " +
                       shell_quote(elm::test::source_dir() + "/configs/neuronio.ini") + shapes + " --split test > " +
                       shell_quote(printed) + ")");
  ASSERT_EQ(e.status, 0) << e.stderr_text;
  std::ifstream printed_file(printed);
  const std::string eval_out((std::istreambuf_iterator<char>(printed_file)), std::istreambuf_iterator<char>());
  std::ifstream done(run + "/DONE");
  std::string done_line;
  std::getline(done, done_line);
  const std::string recorded = done_line.substr(done_line.find(", test ") + 7);
  EXPECT_NE(eval_out.find("\n" + recorded + "\n"), std::string::npos)
      << "eval printed:\n" << eval_out << "the run recorded: " << recorded;
  expect_one_line_error(run_command(elmrun() + " eval -m " + shell_quote(run + "/checkpoint.h5") + " --config " +
                                    shell_quote(elm::test::source_dir() + "/configs/neuronio.ini") + shapes +
                                    " --split tset"),
                        "--split 'tset'");
  // A classification loss on the NeuronIO task is a config error naming the key.
  expect_one_line_error(run_command(elmrun() + " train --config " +
                                    shell_quote(elm::test::source_dir() + "/configs/neuronio.ini") +
                                    " --set task.store=" + shell_quote(store) + " --set model.num_input=64" +
                                    " --set model.num_branch=8 --set model.num_synapse_per_branch=8" +
                                    " --set train.loss=last_step_ce --out " + shell_quote(tmp.file("run2"))),
                        "train.loss");
}

TEST(Cli, CudaBackendThatCannotRunIsOneLineBeforeAnyOutput) {
  // On a machine with a usable GPU the same commands train and evaluate there;
  // without one (or in a build without CUDA) each is one line naming the key,
  // and nothing is written.
  TempDir tmp("elm-cli");
  const std::string run = tmp.file("run"), sweep = tmp.file("sweep");
  auto train = run_command(elmrun() + " train --set train.backend=cuda --set train.steps=3 --set train.eval_every=3" +
                           " --out " + shell_quote(run));
  if (train.status == 0) {
    EXPECT_TRUE(std::filesystem::exists(run + "/DONE"));
  } else {
    expect_one_line_error(train, "train.backend = cuda");
    EXPECT_FALSE(std::filesystem::exists(run)) << "a run directory was made for a run that could not start";
  }
  const std::string golden = elm::test::shared_dir() + "/golden/v1_dense_small.h5";
  auto eval = run_command(elmrun() + " eval -m " + shell_quote(golden) + " -d " + shell_quote(golden) +
                          " --set train.backend=cuda");
  if (eval.status != 0) expect_one_line_error(eval, "train.backend = cuda");
  expect_one_line_error(run_command(elmrun() + " eval -m " + shell_quote(golden) + " -d " + shell_quote(golden) +
                                    " --set train.steps=3"),
                        "--set train.steps");
  const std::string job = tmp.file("job.ini");
  std::ofstream(job) << "[sweep]\nname = gpu\nconfig = " << elm::test::source_dir() << "/configs/synthetic_burst.ini\n[set]\ntrain.backend = cuda\ntrain.steps = 2\n[grid]\nmodel.num_memory = 4, 5\n";
  // The manifest alone is fine on a login node without a GPU.
  EXPECT_EQ(run_command(elmrun() + " sweep " + shell_quote(job) + " --list --out " + shell_quote(sweep)).status, 0);
  std::filesystem::remove_all(sweep);
  auto sw = run_command(elmrun() + " sweep " + shell_quote(job) + " --out " + shell_quote(sweep));
  if (sw.status != 0) {
    EXPECT_NE(sw.stderr_text.find("train.backend = cuda"), std::string::npos) << sw.stderr_text;
    EXPECT_FALSE(std::filesystem::exists(sweep));
  }
}
