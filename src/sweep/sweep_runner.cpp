#include "sweep/sweep_runner.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "core/error.hpp"
#include "sweep/sweep_dir.hpp"

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

  double tally[3] = {0, 0, 0};  // completed, failed, interrupted
  while (true) {
    int64_t k = 0;
    if (leader) k = counter.next();
    broadcast_value(*group, k, 0);
    if (k >= int64_t(pending.size())) break;
    const SweepRun& run = runs[size_t(pending[size_t(k)])];
    const std::string dir = run_dir_of(sweep_dir, run);
    const std::string who = "[group " + std::to_string(group_index) + "] run " + std::to_string(run.index) + " " + run.id;
    std::ofstream log;
    if (leader) {
      fs::create_directories(dir);
      log.open(dir + "/log.txt", std::ios::app);
      out << who << describe(job, run) << ": started\n" << std::flush;
    }
    RunOptions ro;
    ro.comm = group.get();
    ro.log = leader ? &log : nullptr;
    ro.stop_at_step = options.stop_at_step;
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
  }
  world.allreduce_sum(std::span<double>(tally, 3));
  SweepOutcome o;
  o.completed = int64_t(tally[0]);
  o.failed = int64_t(tally[1]);
  o.skipped = skipped;
  o.interrupted = tally[2] > 0;
  return o;
}

}  // namespace elm
