#pragma once
// Rank 0's side of RUN_DIR/status (train/run_status.hpp): the state changes
// the trainer reports, and a thread that rewrites the file every
// kHeartbeatSeconds while the run lives, so that a reader can tell a live run
// (even one inside a long evaluation) from one killed without a trace.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "train/run_status.hpp"

namespace elm {

class RunHeartbeat {
 public:
  // enabled = false (ranks other than 0): does nothing.
  RunHeartbeat(std::string run_dir, bool enabled, int64_t steps, int64_t step, int64_t checkpoint_step);
  ~RunHeartbeat();  // stops the thread; the file keeps the last state written
  RunHeartbeat(const RunHeartbeat&) = delete;
  RunHeartbeat& operator=(const RunHeartbeat&) = delete;

  void set_step(int64_t step) { step_.store(step, std::memory_order_relaxed); }
  void set_checkpoint(int64_t step);
  // Final states: written at once, then the heartbeat stops.
  void finish(const std::string& state, const std::string& reason = "");

 private:
  void write_locked(const std::string& state, const std::string& reason);
  void loop();

  const std::string run_dir_;
  const bool enabled_;
  RunStatusFile file_;
  std::atomic<int64_t> step_;
  std::mutex mutex_;  // one writer of the file at a time (they share its temporary name)
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace elm
