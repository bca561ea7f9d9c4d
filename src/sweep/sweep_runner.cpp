#include "sweep/sweep_runner.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>

#include "core/error.hpp"
#include "core/stop_request.hpp"
#include "core/test_hold.hpp"
#include "sweep/sweep_dir.hpp"
#include "train/run_lock.hpp"

namespace fs = std::filesystem;

namespace elm {

namespace {

std::string describe(const SweepJob& job, const SweepRun& run) {
  std::string s;
  for (size_t k = 0; k < job.axes.size(); ++k) s += " " + job.axes[k].key + "=" + run.axis_values[k];
  return s;
}

}  // namespace

SweepOutcome run_sweep(Comm& world, WorkCounter& counter, const std::string& sweep_dir, const SweepJob& job,
                       const std::vector<SweepRun>& runs, const SweepOptions& options, std::ostream& out,
                       const RunTrainer& trainer) {
  const int rpr = job.ranks_per_run;
  ELM_CHECK(world.size() % rpr == 0, job.path, ": sweep.ranks_per_run = ", rpr, " does not divide the ", world.size(),
            " ranks of the job");
  const int group_index = world.rank() / rpr;
  auto group = world.split(group_index, world.rank());
  const bool leader = group->rank() == 0;

  // World rank 0 decides what is unfinished, so every group works from one list.
  std::vector<int64_t> pending;
  int64_t skipped = 0;
  if (world.rank() == 0) {
    for (const auto& r : runs) {
      if (!options.only_indices.empty() &&
          std::find(options.only_indices.begin(), options.only_indices.end(), r.index) == options.only_indices.end())
        continue;
      if (run_is_done(run_dir_of(sweep_dir, r))) ++skipped;
      else pending.push_back(r.index);
    }
  }
  broadcast_vector(world, pending, 0);
  broadcast_value(world, skipped, 0);
  if (world.rank() == 0)
    out << "sweep " << job.name << ": " << runs.size() << " runs, " << skipped << " already done, "
        << pending.size() << " to run on " << world.size() / rpr << " group(s) of " << rpr << " rank(s)\n"
        << std::flush;

  // A GPU group's device all-reduce, made once for all its runs (every rank
  // of the world sees the same list, so the groups agree on needing it).
  std::unique_ptr<DeviceComm> device_comm;
  const bool any_cuda = std::any_of(pending.begin(), pending.end(), [&](int64_t i) {
    return runs[size_t(i)].config.train.backend == "cuda";
  });
  if (any_cuda && options.device_comm_for_group) device_comm = options.device_comm_for_group(*group);

  double tally[4] = {0, 0, 0, 0};  // completed, failed, interrupted, held by another job
  while (true) {
    // A stop between runs: no new run starts (the leader decides for its group).
    int64_t k = -1;
    if (leader && !StopRequest::pending()) k = counter.next();
    broadcast_value(*group, k, 0);
    if (k < 0) {
      tally[2] += leader;
      if (leader) out << "[group " << group_index << "] stop requested: no further run started\n" << std::flush;
      break;
    }
    if (k >= int64_t(pending.size())) break;
    const SweepRun& run = runs[size_t(pending[size_t(k)])];
    const std::string dir = run_dir_of(sweep_dir, run);
    const std::string who = "[group " + std::to_string(group_index) + "] run " + std::to_string(run.index) + " " + run.id;
    // One writer per run: another sweep (or array task) on the same directory
    // may hold it, or may have finished it since the list was made.
    std::optional<RunLock> lock;
    double verdict = 0;  // 0: ours, 1: held elsewhere, 2: done meanwhile
    if (leader) {
      std::string holder;
      lock = RunLock::try_acquire(dir, &holder);
      if (!lock) {
        verdict = 1;
        out << who << ": skipped, " << run_in_use_message(dir, holder) << "\n" << std::flush;
      } else if (run_is_done(dir)) {
        verdict = 2;
        lock.reset();
      }
    }
    broadcast_value(*group, verdict, 0);
    if (verdict == 1) {
      tally[3] += leader;
      continue;
    }
    if (verdict == 2) continue;
    std::ofstream log;
    if (leader) {
      log.open(dir + "/log.txt", std::ios::app);
      out << who << describe(job, run) << ": started\n" << std::flush;
    }
    RunOptions ro;
    ro.comm = group.get();
    ro.log = leader ? &log : nullptr;
    ro.stop_at_step = options.stop_at_step;
    ro.device = options.device;
    ro.device_comm = device_comm.get();
    const auto t0 = std::chrono::steady_clock::now();
    const RunResult res = trainer(run.config, dir, ro);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char took[32];
    std::snprintf(took, sizeof took, "%.1f s", secs);
    if (res.outcome == RunOutcome::completed) {
      tally[0] += leader;
      if (leader)
        out << who << ": done in " << took << ", test " << metrics_text(res.record.test) << "\n" << std::flush;
    } else if (res.outcome == RunOutcome::diverged) {
      tally[1] += leader;
      if (leader)
        out << who << ": FAILED: " << res.reason << " (the sweep goes on)\n" << std::flush;
    } else {
      tally[2] += leader;
      if (leader)
        out << who << ": interrupted, " << res.reason << "; checkpoint written, rerun the sweep to resume\n"
            << std::flush;
      break;
    }
    lock.reset();
    test_hold("between_runs", run.index);
  }
  world.allreduce_sum(std::span<double>(tally, 4));
  SweepOutcome o;
  o.completed = int64_t(tally[0]);
  o.failed = int64_t(tally[1]);
  o.skipped = skipped;
  o.interrupted = tally[2] > 0;
  o.held_elsewhere = int64_t(tally[3]);
  return o;
}

}  // namespace elm
