#include "train/run_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>

#include "core/error.hpp"
#include "io/output_dir.hpp"
#include "train/run_status.hpp"

namespace fs = std::filesystem;

namespace elm {

namespace {

std::map<std::string, std::string> read_fields(int fd) {
  std::string text;
  char buf[1024];
  off_t off = 0;
  ssize_t n;
  while ((n = ::pread(fd, buf, sizeof buf, off)) > 0) {
    text.append(buf, size_t(n));
    off += n;
  }
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    if (auto eq = line.find('='); eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    pos = end + 1;
  }
  return out;
}

std::string describe_holder(const std::map<std::string, std::string>& f) {
  auto get = [&](const char* k) {
    auto it = f.find(k);
    return it == f.end() ? std::string("?") : it->second;
  };
  return get("host") + ":" + get("pid") + " since " + get("since");
}

double field_double(const std::map<std::string, std::string>& f, const char* k) {
  auto it = f.find(k);
  if (it == f.end()) return 0;
  try {
    return std::stod(it->second);
  } catch (...) {
    return 0;
  }
}

// A holder on another host is alive while its heartbeat (or its lock) is fresh.
bool remote_holder_alive(const std::string& run_dir, const std::map<std::string, std::string>& f, double now) {
  if (now - field_double(f, "started") <= kStaleSeconds) return true;
  const auto st = read_run_status(run_dir);
  if (!st || st->state != "running") return false;
  auto it_host = f.find("host"), it_pid = f.find("pid");
  if (it_host == f.end() || it_pid == f.end() || st->host != it_host->second || std::to_string(st->pid) != it_pid->second)
    return false;
  return now - st->updated <= kStaleSeconds;
}

}  // namespace

std::optional<RunLock> RunLock::try_acquire(const std::string& run_dir, std::string* holder) {
  make_output_dir(run_dir, "run directory");
  const std::string path = run_dir + "/LOCK";
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ELM_CHECK(fd >= 0, path, ": cannot open the run's lock file: ", std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const auto fields = read_fields(fd);
      ::close(fd);
      ELM_CHECK(err == EWOULDBLOCK, path, ": cannot lock: ", std::strerror(err));
      if (holder) *holder = describe_holder(fields);
      return std::nullopt;
    }
    // The file we locked must still be the one at the path (a releasing
    // holder unlinks it; a taker-over may have replaced it).
    struct stat a {}, b {};
    if (::fstat(fd, &a) != 0 || ::stat(path.c_str(), &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
      ::close(fd);
      continue;
    }
    const auto fields = read_fields(fd);
    const double now = seconds_since_epoch();
    auto host = fields.find("host");
    if (host != fields.end() && host->second != this_host() && remote_holder_alive(run_dir, fields, now)) {
      if (holder) *holder = describe_holder(fields);
      ::close(fd);
      return std::nullopt;
    }
    char since[64];
    const std::time_t t = std::time(nullptr);
    std::strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
    char started[32];
    std::snprintf(started, sizeof started, "%.3f", now);
    const std::string text = "host=" + this_host() + "\npid=" + std::to_string(::getpid()) + "\nsince=" + since +
                             "\nstarted=" + started + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != ssize_t(text.size())) {
      const int err = errno;
      ::close(fd);
      fail(path, ": cannot write the run's lock file: ", std::strerror(err));
    }
    return RunLock(path, fd);
  }
  fail(path, ": the lock file keeps changing; is another job starting this run in a loop?");
}

void RunLock::release() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still held: a waiter that opened it sees a replaced file and retries
  ::close(fd_);
  fd_ = -1;
}

std::string run_in_use_message(const std::string& run_dir, const std::string& holder) {
  return "run " + run_dir + " is in use by " + holder;
}

}  // namespace elm
