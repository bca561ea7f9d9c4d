// Group scheduling under mpirun: the world splits into groups of
// ranks_per_run, every pending run is trained exactly once by exactly one
// whole group, completed runs are skipped, and a real sweep of tiny runs
// writes one summary row per run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "dist/mpi_comm.hpp"
#include "io/hdf5_io.hpp"
#include "mpi_world.hpp"
#include "sweep/sweep_dir.hpp"
#include "sweep/sweep_runner.hpp"
#include "sweep/sweep_summary.hpp"
#include "test_support.hpp"
#include "train/train_state.hpp"

namespace elm {
namespace {

namespace fs = std::filesystem;

struct SweepFixture {
  std::string dir;
  SweepJob job;
  std::vector<SweepRun> runs;
};

// A job of `n_memory` x 2 grid points on the built-in synthetic task.
SweepFixture make_sweep(Comm& world, int ranks_per_run, int n_memory, int64_t steps) {
  SweepFixture f;
  if (world.rank() == 0) {
    char tmpl[] = "/tmp/elm-sweep-XXXXXX";
    f.dir = mkdtemp(tmpl);
    std::ofstream(f.dir + "/base.ini") << "[model]\nvariant = v1\nnum_input = 32\nnum_output = 4\n"
                                          "num_memory = 10\nmemory_tau_max = 150\n[task]\nname = synthetic_burst\n"
                                          "[train]\nsteps = 4\nbatch_size = 8\nthreads = 1\n[optim]\nlr = 0.005\n";
    std::string mem;
    for (int m = 0; m < n_memory; ++m) mem += (m ? "," : "") + std::to_string(2 + m);
    std::ofstream(f.dir + "/job.ini") << "[sweep]\nname = t\nconfig = base.ini\nranks_per_run = " << ranks_per_run
                                      << "\n[set]\ntrain.steps = " << steps
                                      << "\n[grid]\nmodel.num_memory = " << mem << "\nmodel.memory_tau_max = 20,200\n";
  }
  broadcast_vector(world, f.dir, 0);
  f.job = read_sweep_job(f.dir + "/job.ini", {});
  f.runs = expand_sweep(f.job);
  f.dir += "/out";
  if (world.rank() == 0) prepare_sweep_dir(f.dir, f.job, f.runs);
  world.barrier();
  return f;
}

void remove_sweep(Comm& world, const SweepFixture& f) {
  world.barrier();
  if (world.rank() == 0) fs::remove_all(fs::path(f.dir).parent_path());
}

TEST(SweepSchedule, GroupsCoverEveryRunExactlyOnce) {
  Comm& world = test::mpi_world();
  for (int rpr : {1, 2}) {
    if (world.size() % rpr) continue;
    const SweepFixture f = make_sweep(world, rpr, 5, 4);
    // Two runs already done: they must be skipped.
    if (world.rank() == 0)
      for (int64_t i : {1, 6}) write_text_atomic(run_dir_of(f.dir, f.runs[size_t(i)]) + "/DONE", "done\n");
    world.barrier();
    std::vector<double> trained_by(f.runs.size() * size_t(world.size()), 0.0);
    RunTrainer recorder = [&](const RunConfig& rc, const std::string& dir, const RunOptions& ro) {
      size_t idx = 0;
      while (run_dir_of(f.dir, f.runs[idx]) != dir) ++idx;
      EXPECT_EQ(run_id(rc), f.runs[idx].id);
      EXPECT_EQ(ro.comm->size(), rpr);
      trained_by[idx * size_t(world.size()) + size_t(world.rank())] += 1;
      ro.comm->barrier();  // the whole group takes part
      return RunResult{};
    };
    auto counter = make_mpi_work_counter(world);
    std::ostringstream out;
    const SweepOutcome o = run_sweep(world, *counter, f.dir, f.job, f.runs, {}, out, recorder);
    world.allreduce_sum(std::span<double>(trained_by));
    EXPECT_EQ(o.completed, int64_t(f.runs.size()) - 2);
    EXPECT_EQ(o.skipped, 2);
    for (size_t i = 0; i < f.runs.size(); ++i) {
      double total = 0;
      int first_rank = -1;
      for (int r = 0; r < world.size(); ++r) {
        const double c = trained_by[i * size_t(world.size()) + size_t(r)];
        total += c;
        if (c > 0 && first_rank < 0) first_rank = r;
      }
      if (i == 1 || i == 6) {
        EXPECT_EQ(total, 0) << "run " << i << " was done and must be skipped";
        continue;
      }
      EXPECT_EQ(total, rpr) << "run " << i << " with ranks_per_run " << rpr;
      // One whole group: ranks first_rank .. first_rank + rpr - 1, first_rank a multiple of rpr.
      EXPECT_EQ(first_rank % rpr, 0);
      for (int r = first_rank; r < first_rank + rpr && r < world.size(); ++r)
        EXPECT_EQ(trained_by[i * size_t(world.size()) + size_t(r)], 1.0) << "run " << i << " rank " << r;
    }
    remove_sweep(world, f);
  }
}

TEST(SweepSchedule, RealSweepWritesOneRowPerRunAndSkipsDoneRunsOnRerun) {
  Comm& world = test::mpi_world();
  const SweepFixture f = make_sweep(world, world.size() >= 2 ? 2 : 1, 2, 3);
  auto counter = make_mpi_work_counter(world);
  std::ostringstream out;
  SweepOutcome o = run_sweep(world, *counter, f.dir, f.job, f.runs, {}, out);
  EXPECT_EQ(o.completed, 4);
  EXPECT_FALSE(o.interrupted);
  if (world.rank() == 0) {
    write_sweep_summary(collect_sweep(f.dir, f.job, f.runs), f.dir);
    const H5Reader h(f.dir + "/summary.h5");
    EXPECT_EQ(h.shape("runs"), std::vector<int64_t>{4});
    std::ifstream csv(f.dir + "/summary.csv");
    std::string line;
    int lines = 0;
    while (std::getline(csv, line)) ++lines;
    EXPECT_EQ(lines, 5);
  }
  std::vector<double> stamps;
  for (const auto& r : f.runs)
    stamps.push_back(double(fs::last_write_time(run_dir_of(f.dir, r) + "/results.h5").time_since_epoch().count()));
  auto counter2 = make_mpi_work_counter(world);
  o = run_sweep(world, *counter2, f.dir, f.job, f.runs, {}, out);
  EXPECT_EQ(o.completed, 0);
  EXPECT_EQ(o.skipped, 4);
  for (size_t i = 0; i < f.runs.size(); ++i)
    EXPECT_EQ(double(fs::last_write_time(run_dir_of(f.dir, f.runs[i]) + "/results.h5").time_since_epoch().count()),
              stamps[i]);
  remove_sweep(world, f);
}

}  // namespace
}  // namespace elm
