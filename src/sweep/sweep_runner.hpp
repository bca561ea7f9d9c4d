#pragma once
// Runs a sweep's unfinished runs on a world of ranks: groups of
// ranks_per_run consecutive ranks (MPI_Comm_split), each taking the next
// unfinished run from a shared counter and training it data parallel.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "dist/comm.hpp"
#include "dist/device_comm.hpp"
#include "sweep/sweep_job.hpp"
#include "train/trainer.hpp"

namespace elm {

struct SweepOptions {
  std::vector<int64_t> only_indices;  // non-empty: just these manifest rows (Slurm array tasks)
  int64_t stop_at_step = -1;          // tests: simulated stop signal (see RunOptions)
  // At most this many runs of one shape train together (sweep/pack_plan.hpp); 1: one at a time.
  int pack_size = 1;
  double progress_seconds = 30;  // a progress line per running run at most this often
  double collective_timeout_s = 0;  // RunOptions::collective_timeout_s
  // Runs with train.backend = cuda: this rank's GPU, and how a group of ranks
  // gets its device all-reduce (collective over the group; may return nullptr).
  int device = 0;
  std::function<std::unique_ptr<DeviceComm>(Comm& group)> device_comm_for_group;
};

struct SweepOutcome {
  int64_t completed = 0, failed = 0, skipped = 0;  // this invocation, over the whole world
  bool interrupted = false;                         // a stop signal: checkpoints written, rerun to resume
  int64_t held_elsewhere = 0;                       // runs skipped: another job holds them
};

// How one run is trained; the default is train_run. Tests substitute a
// recorder to check the schedule.
using RunTrainer = std::function<RunResult(const RunConfig&, const std::string& run_dir, const RunOptions&)>;

// Collective over `world`. `counter` must be shared by all ranks of the world
// (make_mpi_work_counter / LocalWorkCounter). Progress lines go to `out` from
// each group's first rank; each run's own log goes to its log.txt.
SweepOutcome run_sweep(Comm& world, WorkCounter& counter, const std::string& sweep_dir, const SweepJob& job,
                       const std::vector<SweepRun>& runs, const SweepOptions& options, std::ostream& out,
                       const RunTrainer& trainer = train_run);

}  // namespace elm
