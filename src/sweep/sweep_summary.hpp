#pragma once
// The sweep-level table: one row per manifest run with its grid values,
// status and final metrics, as summary.h5 (compound dataset "runs") and
// summary.csv, plus a fixed-width text table for the terminal.
#include <cstdint>
#include <string>
#include <vector>

#include "sweep/sweep_job.hpp"

namespace elm {

struct SweepSummaryRow {
  int64_t index = 0;
  std::string run_id, status;  // done | failed | missing
  std::vector<std::string> axis_values;
  int64_t parameter_count = -1;
  double wall_seconds = 0, steps_completed = 0;
  std::vector<double> test, valid;  // by SweepSummary::test_names / valid_names; NaN if absent
  std::string failure;
};

struct SweepSummary {
  std::vector<std::string> axis_keys, test_names, valid_names;
  std::vector<SweepSummaryRow> rows;
};

// Reads every run's markers and results.h5; a failed or unfinished run never
// contributes metrics.
SweepSummary collect_sweep(const std::string& sweep_dir, const SweepJob& job, const std::vector<SweepRun>& runs);
void write_sweep_summary(const SweepSummary& summary, const std::string& sweep_dir);
std::string summary_table_text(const SweepSummary& summary);

}  // namespace elm
