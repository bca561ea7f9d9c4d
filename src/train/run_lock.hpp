#pragma once
// One writer per run directory: RUN_DIR/LOCK names the holder (host, pid,
// start time) and is held with flock() for the holder's lifetime, so the
// kernel releases it when the holder dies however it dies. A lock file whose
// flock is free but which names this host belongs to a dead process and is
// taken over. One naming another host is honoured while that holder looks
// alive (its RUN_DIR/status heartbeat, or the lock itself, younger than
// kStaleSeconds), since flock may not reach across hosts on every shared
// file system.
#include <optional>
#include <string>

namespace elm {

class RunLock {
 public:
  // Holds run_dir (created if missing), or returns nullopt and sets *holder to
  // "HOST:PID since TIME".
  static std::optional<RunLock> try_acquire(const std::string& run_dir, std::string* holder);
  RunLock(RunLock&& o) noexcept : path_(std::move(o.path_)), fd_(o.fd_) { o.fd_ = -1; }
  RunLock& operator=(RunLock&& o) noexcept {
    if (this != &o) {
      release();
      path_ = std::move(o.path_);
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  RunLock(const RunLock&) = delete;
  ~RunLock() { release(); }

 private:
  void release();
  RunLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

// The one line a command prints when a run is held by someone else.
std::string run_in_use_message(const std::string& run_dir, const std::string& holder);

}  // namespace elm
