#pragma once
// One training run: batches from a Task, the configured StepBackend, loss, clipping,
// optimizer and schedule, data parallel over the ranks of `comm` (each rank
// B/W samples of the global batch B, one all-reduce of the flat gradient
// buffer per step). Rank 0 writes the run directory (docs/sweeps.md):
// periodic and on-signal checkpoints, then results.h5, checkpoint.h5 and DONE,
// or FAILED when the run diverges.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include "dist/comm.hpp"
#include "train/evaluate.hpp"
#include "train/run_config.hpp"
#include "train/run_record.hpp"
#include "train/step_backend.hpp"

namespace elm {

struct RunOptions {
  Comm* comm = nullptr;         // the run's ranks; nullptr: this process alone
  std::ostream* log = nullptr;  // progress lines (rank 0); nullptr: none
  bool resume = true;           // continue from the newest complete checkpoint in the run directory
  // A stop signal is honoured once the process has called StopRequest::install()
  // (the train and sweep commands do, before anything else).
  int64_t stop_at_step = -1;    // tests: act as if a stop signal arrived during this step (0-based)
  // train.backend = cuda: the GPU of this process, and the ranks' all-reduce
  // on device buffers (NCCL; nullptr: through `comm` via the host).
  int device = 0;
  DeviceComm* device_comm = nullptr;
  // Rank 0 also prints "<progress_label>: step s/S, ..., elapsed, ETA" to
  // `progress` at most every `progress_seconds` (a sweep's own output).
  std::ostream* progress = nullptr;
  std::string progress_label;
  double progress_seconds = 30;
  // The run's collectives fail after waiting this long (a lost peer; Comm::set_wait_limit); 0: for ever.
  double collective_timeout_s = 0;
  // Called once per step (may be empty): a sweep's rank 0 serves the work counter.
  std::function<void()> each_step;
};

enum class RunOutcome { completed, interrupted, diverged };

struct RunResult {
  RunOutcome outcome = RunOutcome::completed;
  std::string reason;  // diverged: why; interrupted: the signal and step
  RunRecord record;
};

RunResult train_run(const RunConfig& config, const std::string& run_dir, const RunOptions& options = {});

// Where a run of this config trains under these options (backend, threads, GPU).
StepBackendOptions step_backend_options(const RunConfig& config, const RunOptions& options);

// Every rank compares its parameters' checksum with rank 0's; on a mismatch
// all ranks fail together (ElmError), before the replicas drift further.
void check_ranks_agree(Comm& comm, const std::vector<float>& params, int64_t step);

// The run directory's markers (docs/sweeps.md).
bool run_is_done(const std::string& run_dir);
std::string run_failure(const std::string& run_dir);  // FAILED's text, "" if none

// A run's checkpoints/ go right after its DONE is written, so a run killed in
// between keeps them. Whoever next finds the run complete removes them, under
// the run's lock (a run still finishing elsewhere removes its own). Quiet: the
// leftovers are only disk space.
void tidy_completed_run(const std::string& run_dir);

}  // namespace elm
