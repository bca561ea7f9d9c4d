#pragma once
// Runs of one shape trained together (a pack, sweep/pack_plan.hpp): one packed
// forward and backward per step for all of them (StepPack: one pass of the CPU
// kernels, or every member's kernels queued on its own GPU stream), everything else
// per run as train_run does it, so each run's directory, records, checkpoints
// and results are bitwise those of the run trained alone on the same ranks.
// A run that diverges is marked FAILED and leaves the pack; a stop signal
// checkpoints every run of the pack at the same step.
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "train/trainer.hpp"

namespace elm {

struct PackRun {
  const RunConfig* config = nullptr;
  std::string run_dir;
  std::ostream* log = nullptr;  // the run's progress lines (rank 0); nullptr: none
  std::string progress_label;   // its lines on options.progress
};

// Collective over options.comm (options.log is ignored: each run has its
// own). Results in the order of `runs`. Runs of equal shapes on one backend only.
std::vector<RunResult> train_pack(std::span<const PackRun> runs, const RunOptions& options);

}  // namespace elm
