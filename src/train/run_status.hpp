#pragma once
// The run directory's state, written by the code that trains the run and read
// by everything that reports on runs (`elmrun status`, the sweep summary,
// analysis/collect.py, the report): one file RUN_DIR/status of key=value
// lines, rewritten atomically (temporary name + rename) by rank 0 of the run:
//
//   state=running|interrupted|done|failed
//   step=N              training steps completed (the step counter of the newest update)
//   steps=M             the run's total
//   checkpoint_step=K   newest complete checkpoint (0: none)
//   host=HOST pid=PID   the process of rank 0
//   started=T           this attempt's start, seconds since the epoch
//   updated=T           the heartbeat: rewritten every kHeartbeatSeconds while running
//   reason=TEXT         failed / interrupted: why
//
// DONE and FAILED stay the authoritative markers of a finished run (FAILED
// first: a directory holding both is failed); a running status whose
// heartbeat is older than kStaleSeconds belongs to a process that died
// without a trace (kill -9, a lost node) and reads as stale.
// analysis/sweep_io.py (read_run_state) mirrors these rules in Python.
#include <cstdint>
#include <optional>
#include <string>

#include "io/hdf5_io.hpp"  // this_host
#include <vector>

namespace elm {

inline constexpr double kHeartbeatSeconds = 5;
inline constexpr double kStaleSeconds = 60;

struct RunStatusFile {
  std::string state;  // running | interrupted | done | failed
  int64_t step = 0, steps = 0, checkpoint_step = 0;
  std::string host;
  int64_t pid = 0;
  double started = 0, updated = 0;
  std::string reason;
};

void write_run_status(const std::string& run_dir, const RunStatusFile& status);
std::optional<RunStatusFile> read_run_status(const std::string& run_dir);

// What a reader says of a run directory.
enum class RunState { not_started, running, stale, interrupted, failed, done };
const char* to_string(RunState s);
// Every state, in the order totals list them.
inline constexpr RunState kRunStates[] = {RunState::done,        RunState::running, RunState::stale,
                                          RunState::interrupted, RunState::failed,  RunState::not_started};
// What a resubmission has to run again: failed, interrupted, stale, not started
// (done and running runs are left alone).
bool run_state_remains(RunState s);

struct RunStateInfo {
  RunState state = RunState::not_started;
  int64_t step = 0;             // running / stale: last step reported
  int64_t steps = 0;            // the run's total (0: unknown)
  int64_t checkpoint_step = 0;  // newest complete checkpoint (0: none)
  double heartbeat_age = 0;     // running / stale: seconds since the last heartbeat
  std::string reason;           // failed: FAILED's text; interrupted: the status file's reason
  std::string holder;           // running / stale: HOST:PID
};

// Classifies RUN_DIR from its markers, status file and checkpoints; `now` in
// seconds since the epoch; a running status whose heartbeat is older than
// stale_after seconds reads as stale. Reads only small files (no HDF5). A
// directory that does not exist is not started.
RunStateInfo read_run_state(const std::string& run_dir, double now, double stale_after = kStaleSeconds);
// The same for many run directories at once (a sweep), on a few threads: on a
// network file system each run costs a few round trips, and they overlap.
std::vector<RunStateInfo> read_run_states(const std::vector<std::string>& run_dirs, double now,
                                          double stale_after = kStaleSeconds);
// One line for people: "done", "running (step 120 of 4000, heartbeat 3 s ago)", ...
std::string describe_run_state(const RunStateInfo& info);

double seconds_since_epoch();

}  // namespace elm
