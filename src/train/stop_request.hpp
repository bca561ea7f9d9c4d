#pragma once
// SIGTERM and SIGUSR2 (Slurm's preemption and time-limit warnings) ask a
// training run to checkpoint and exit for requeue. The handler only records
// the signal; the trainer reads it once per step and all ranks agree on it
// through the step's all-reduce.
//
// The flag is process-wide by necessity: a signal handler can reach nothing
// else.
#include <csignal>

namespace elm {

class StopRequest {
 public:
  static void install();      // idempotent; SIGTERM and SIGUSR2
  static int pending();       // the signal number received, 0 if none
};

// Exit status of a command that stopped on a signal after writing a checkpoint
// (EX_TEMPFAIL: try again, it resumes).
inline constexpr int kExitInterrupted = 75;

}  // namespace elm
