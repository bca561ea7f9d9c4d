// Data parallel training under mpirun: W ranks with B/W samples each take the
// step of one rank with B; shards are disjoint and complete; evaluation over
// uneven shards equals one rank's; a stopped run resumes bit for bit (same
// world size) and continues correctly on another world size.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "data/store/sharded_sampler.hpp"
#include "data/task.hpp"
#include "io/hdf5_io.hpp"
#include "model/elm_model.hpp"
#include "mpi_world.hpp"
#include "test_support.hpp"
#include "train/cpu_step_backend.hpp"
#include "train/evaluate.hpp"
#include "train/trainer.hpp"

namespace elm {
namespace {

namespace fs = std::filesystem;

// A directory every rank sees under the same name (rank 0 makes it).
class SharedTempDir {
 public:
  explicit SharedTempDir(Comm& comm) : comm_(comm) {
    if (comm.rank() == 0) {
      char tmpl[] = "/tmp/elm-mpi-XXXXXX";
      path_ = mkdtemp(tmpl);
    }
    broadcast_vector(comm, path_, 0);
  }
  ~SharedTempDir() {
    comm_.barrier();
    if (comm_.rank() == 0) fs::remove_all(path_);
  }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  Comm& comm_;
  std::string path_;
};

RunConfig small_config(int64_t steps, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> o = {"train.steps=" + std::to_string(steps), "train.batch_size=8", "train.threads=1",
                                "train.eval_every=1000", "train.checksum_every=1", "train.clip_norm=1.0",
                                "optim.lr=0.01"};
  o.insert(o.end(), extra.begin(), extra.end());
  return RunConfig::load("", o);
}

std::vector<float> final_params(const std::string& run_dir) { return read_checkpoint(run_dir + "/checkpoint.h5").params; }

std::vector<double> train_loss(const std::string& run_dir) {
  return H5Reader(run_dir + "/results.h5").read_double("train/loss").data;
}

// Largest |a - b| relative to |b| (floored at 1e-3 of the largest finite |b|).
// Non-finite entries (a saturated _proto_tau_m is +inf) must match exactly.
double max_relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::isfinite(b[i])) scale = std::max(scale, double(std::fabs(b[i])));
  for (size_t i = 0; i < a.size(); ++i)
    if (!std::isfinite(b[i]) || !std::isfinite(a[i]))
      worst = std::max(worst, a[i] == b[i] ? 0.0 : HUGE_VAL);
    else
      worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])) / std::max(std::fabs(double(b[i])), 1e-3 * scale));
  return worst;
}

TEST(DataParallel, WRanksTakeTheStepOfOneRankWithTheGlobalBatch) {
  Comm& world = test::mpi_world();
  SharedTempDir tmp(world);
  const RunConfig rc = small_config(6);
  RunOptions dp;
  dp.comm = &world;
  ASSERT_EQ(train_run(rc, tmp.sub("dp"), dp).outcome, RunOutcome::completed);
  // The reference: this process alone with the whole batch of 8.
  SerialComm alone;
  RunOptions one;
  one.comm = &alone;
  const std::string ref_dir = tmp.sub("single" + std::to_string(world.rank()));
  ASSERT_EQ(train_run(rc, ref_dir, one).outcome, RunOutcome::completed);
  const auto a = final_params(tmp.sub("dp")), b = final_params(ref_dir);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_LE(max_relative_difference(a, b), 1e-5) << "world size " << world.size();
  // Initial parameters differ from final ones: the comparison is not vacuous.
  const auto init = ElmModel::initialized(rc.model, rc.train.seed).params;
  EXPECT_GT(max_relative_difference(init, b), 1e-3);
  const auto la = train_loss(tmp.sub("dp")), lb = train_loss(ref_dir);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-5 * std::fabs(lb[i])) << "step " << i;
}

TEST(DataParallel, ShardsOfEveryStepAreDisjointAndComplete) {
  Comm& world = test::mpi_world();
  const int W = world.size();
  const int64_t N = 103, B = 4 * 3;  // B divisible by 1, 2 and 4; N not by B
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    TrainBatches tb(N, B, W, world.rank(), 7);
    tb.set_epoch(epoch);
    TrainBatches whole(N, B, 1, 0, 7);
    whole.set_epoch(epoch);
    std::vector<double> seen_epoch(N, 0.0);
    for (int64_t s = 0; s < tb.steps_per_epoch(); ++s) {
      std::vector<double> count(N, 0.0);
      for (int64_t i : tb.batch(s)) count[size_t(i)] += 1;
      world.allreduce_sum(std::span<double>(count));
      // Exactly the samples one rank with batch B takes at this step, each once.
      std::vector<double> expect(N, 0.0);
      for (int64_t i : whole.batch(s)) expect[size_t(i)] += 1;
      EXPECT_EQ(count, expect) << "epoch " << epoch << " step " << s;
      for (size_t i = 0; i < size_t(N); ++i) seen_epoch[i] += count[i];
    }
    double total = 0, most = 0;
    for (double c : seen_epoch) total += c, most = std::max(most, c);
    EXPECT_EQ(total, double((N / B) * B));  // the remainder is dropped
    EXPECT_EQ(most, 1.0);                   // no sample twice within an epoch
  }
}

TEST(DataParallel, EvaluationOverUnevenShardsEqualsOneRank) {
  Comm& world = test::mpi_world();
  const RunConfig rc = small_config(1);
  auto task = make_task(rc.task, rc.model);
  const ElmModel model = ElmModel::initialized(rc.model, 3);
  CpuStepBackend backend(model.config, model.routing, task->loss(), rc.optim, 1);
  backend.set_params(model.params);
  SerialComm alone;
  for (int64_t limit : {13, 37}) {  // not divisible by 2 or 4: uneven shards
    const EvalResult d = evaluate_classification(backend, *task, Split::Valid, 4, world, limit);
    const EvalResult s = evaluate_classification(backend, *task, Split::Valid, 4, alone, limit);
    EXPECT_EQ(d.samples, limit);
    EXPECT_EQ(s.samples, limit);
    EXPECT_NEAR(d.loss, s.loss, 1e-6 * std::fabs(s.loss));  // batches differ: float sums in another order
    EXPECT_NEAR(d.accuracy, s.accuracy, 1e-12);
  }
}

TEST(DataParallel, DriftingReplicasFailOnEveryRank) {
  Comm& world = test::mpi_world();
  std::vector<float> p(100, 0.5f);
  EXPECT_NO_THROW(check_ranks_agree(world, p, 1));
  if (world.size() == 1) return;
  if (world.rank() == world.size() - 1) p[17] = std::nextafter(p[17], 1.0f);
  const std::string msg = test::expect_one_line_elm_error([&] { check_ranks_agree(world, p, 42); });
  EXPECT_NE(msg.find("after step 42"), std::string::npos) << msg;
}

TEST(Resume, StoppedRunResumesBitForBit) {
  Comm& world = test::mpi_world();
  SharedTempDir tmp(world);
  const RunConfig rc = small_config(8, {"train.eval_every=3"});
  RunOptions ro;
  ro.comm = &world;
  ASSERT_EQ(train_run(rc, tmp.sub("whole"), ro).outcome, RunOutcome::completed);
  RunOptions stop = ro;
  stop.stop_at_step = 4;
  const RunResult first = train_run(rc, tmp.sub("resumed"), stop);
  ASSERT_EQ(first.outcome, RunOutcome::interrupted);
  EXPECT_FALSE(run_is_done(tmp.sub("resumed")));
  EXPECT_TRUE(fs::exists(tmp.sub("resumed") + "/checkpoints/step_00000005/DONE"));
  ASSERT_EQ(train_run(rc, tmp.sub("resumed"), ro).outcome, RunOutcome::completed);
  EXPECT_TRUE(run_is_done(tmp.sub("resumed")));
  EXPECT_EQ(final_params(tmp.sub("resumed")), final_params(tmp.sub("whole")));  // bit for bit
  EXPECT_EQ(train_loss(tmp.sub("resumed")), train_loss(tmp.sub("whole")));
  const H5Reader a(tmp.sub("resumed") + "/results.h5"), b(tmp.sub("whole") + "/results.h5");
  EXPECT_EQ(a.read_double("valid/accuracy").data, b.read_double("valid/accuracy").data);
  EXPECT_EQ(a.read_int("valid/step").data, b.read_int("valid/step").data);
}

TEST(Resume, ContinuesOnAnotherWorldSize) {
  Comm& world = test::mpi_world();
  if (world.size() == 1) GTEST_SKIP() << "needs at least 2 ranks";
  SharedTempDir tmp(world);
  const RunConfig rc = small_config(8);
  RunOptions ro;
  ro.comm = &world;
  ASSERT_EQ(train_run(rc, tmp.sub("whole"), ro).outcome, RunOutcome::completed);
  RunOptions stop = ro;
  stop.stop_at_step = 3;
  ASSERT_EQ(train_run(rc, tmp.sub("moved"), stop).outcome, RunOutcome::interrupted);
  // Continue on rank 0 alone (world size W -> 1).
  auto part = world.split(world.rank() == 0 ? 0 : 1, world.rank());
  if (world.rank() == 0) {
    RunOptions alone;
    alone.comm = part.get();
    EXPECT_EQ(part->size(), 1);
    EXPECT_EQ(train_run(rc, tmp.sub("moved"), alone).outcome, RunOutcome::completed);
    EXPECT_LE(max_relative_difference(final_params(tmp.sub("moved")), final_params(tmp.sub("whole"))), 1e-5);
    EXPECT_EQ(H5Reader(tmp.sub("moved") + "/results.h5").read_attr_double("world_size"), 1.0);
  }
  world.barrier();
}

TEST(Resume, DivergedRunIsMarkedFailedOnEveryRank) {
  Comm& world = test::mpi_world();
  SharedTempDir tmp(world);
  const RunConfig rc = small_config(20, {"optim.lr=1e30", "train.clip_norm=0"});
  RunOptions ro;
  ro.comm = &world;
  const RunResult r = train_run(rc, tmp.sub("nan"), ro);
  EXPECT_EQ(r.outcome, RunOutcome::diverged);
  EXPECT_FALSE(run_is_done(tmp.sub("nan")));
  EXPECT_NE(run_failure(tmp.sub("nan")).find("at step"), std::string::npos) << run_failure(tmp.sub("nan"));
}

}  // namespace
}  // namespace elm
