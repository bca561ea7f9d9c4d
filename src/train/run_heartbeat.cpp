#include "train/run_heartbeat.hpp"

#include <unistd.h>

#include <chrono>

namespace elm {

RunHeartbeat::RunHeartbeat(std::string run_dir, bool enabled, int64_t steps, int64_t step, int64_t checkpoint_step)
    : run_dir_(std::move(run_dir)), enabled_(enabled), step_(step) {
  if (!enabled_) return;
  file_.steps = steps;
  file_.checkpoint_step = checkpoint_step;
  file_.host = this_host();
  file_.pid = ::getpid();
  file_.started = seconds_since_epoch();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    write_locked("running", "");
  }
  thread_ = std::thread([this] { loop(); });
}

RunHeartbeat::~RunHeartbeat() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void RunHeartbeat::set_checkpoint(int64_t step) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  file_.checkpoint_step = step;
  if (!stopping_) write_locked("running", "");
}

void RunHeartbeat::finish(const std::string& state, const std::string& reason) {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    write_locked(state, reason);
  }
  wake_.notify_all();
}

void RunHeartbeat::write_locked(const std::string& state, const std::string& reason) {
  file_.state = state;
  file_.reason = reason;
  file_.step = step_.load(std::memory_order_relaxed);
  file_.updated = seconds_since_epoch();
  try {
    write_run_status(run_dir_, file_);
  } catch (...) {
    // A full disk must not end training; the next beat tries again.
  }
}

void RunHeartbeat::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::duration<double>(kHeartbeatSeconds));
    if (!stopping_) write_locked("running", "");
  }
}

}  // namespace elm
