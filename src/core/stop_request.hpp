#pragma once
// SIGTERM, SIGUSR2 (Slurm's preemption and time-limit warnings) and SIGINT ask
// a command to stop at the next safe point: training checkpoints every
// finished step and exits 75 for requeue, prep removes what it had not
// finished. The handler only records the signal; the trainer reads it once per
// step and once per evaluation batch, and all ranks agree on it through an
// all-reduce.
//
// A second signal more than kSignalGraceSeconds after the first ends the
// process at once (the signal's default action). Signals that arrive together
// count as one request: a terminal's Ctrl-C reaches mpirun and its ranks, and
// mpirun then forwards a SIGTERM of its own.
//
// The flag is process-wide by necessity (a signal handler can reach nothing
// else); it is a lock-free atomic, so any thread may also raise it.
#include <csignal>

namespace elm {

inline constexpr double kSignalGraceSeconds = 1.0;

class StopRequest {
 public:
  static void install();        // idempotent; SIGTERM, SIGUSR2, SIGINT
  static int pending();         // the signal number received, 0 if none
  static void request(int sig); // as if `sig` had arrived (any thread; tests, watchdogs)
};

// Exit status of a command that stopped on a signal after writing a checkpoint
// (EX_TEMPFAIL: try again, it resumes).
inline constexpr int kExitInterrupted = 75;

}  // namespace elm
