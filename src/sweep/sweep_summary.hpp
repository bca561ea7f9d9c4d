#pragma once
// The sweep-level table: one row per manifest run with its grid values,
// status and final metrics, as summary.h5 (compound dataset "runs") and
// summary.csv, plus a fixed-width text table for the terminal.
#include <cstdint>
#include <string>
#include <vector>

#include "sweep/sweep_job.hpp"
#include "train/run_status.hpp"

namespace elm {

struct SweepSummaryRow {
  int64_t index = 0;
  RunState state = RunState::not_started;
  std::string run_id, status;  // a RunState's name (train/run_status.hpp): done | failed | running | stale |
                               // interrupted | not_started
  std::vector<std::string> axis_values;
  int64_t parameter_count = -1;
  double wall_seconds = 0, steps_completed = 0;
  std::vector<double> test, valid;  // by SweepSummary::test_names / valid_names; NaN if absent
  std::string detail;  // describe_run_state's line for a run that is not done (failed: why)
};

struct SweepSummary {
  std::vector<std::string> axis_keys, test_names, valid_names;
  std::vector<SweepSummaryRow> rows;
  std::vector<std::vector<int64_t>> packs;  // packs.tsv, if any
};

// Classifies every run with read_run_state (the states of `elmrun status`) and
// reads results.h5 of the done ones; only a done run contributes metrics (a
// DONE run whose results.h5 cannot be read is failed).
SweepSummary collect_sweep(const std::string& sweep_dir, const SweepJob& job, const std::vector<SweepRun>& runs);
void write_sweep_summary(const SweepSummary& summary, const std::string& sweep_dir);
// The table, a line per run that is not done or not started, the totals per
// state and the --array= expression of the runs that remain.
std::string summary_table_text(const SweepSummary& summary);

// The lines under a list of runs (elmrun status, the summary table): the totals
// per state ("12 runs: 5 done, 1 running, 6 not_started") and, when indices
// are given (one per state), what remains (run_state_remains) as a Slurm
// --array= expression, or "nothing remains".
// With `packs` (packs.tsv: the runs of each pack) of more than one run, the
// expression is of the packs that hold a remaining run (Slurm array tasks
// train a pack each).
std::string run_totals_text(const std::vector<RunState>& states, const std::vector<int64_t>* indices,
                            const std::vector<std::vector<int64_t>>* packs = nullptr);

}  // namespace elm
