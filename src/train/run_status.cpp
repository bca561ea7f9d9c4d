#include "train/run_status.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "train/train_state.hpp"
#include "train/trainer.hpp"

namespace fs = std::filesystem;

namespace elm {

double seconds_since_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

void write_run_status(const std::string& run_dir, const RunStatusFile& s) {
  char times[96];
  std::snprintf(times, sizeof times, "started=%.3f\nupdated=%.3f\n", s.started, s.updated);
  std::string text = "state=" + s.state + "\nstep=" + std::to_string(s.step) + "\nsteps=" + std::to_string(s.steps) +
                     "\ncheckpoint_step=" + std::to_string(s.checkpoint_step) + "\nhost=" + one_line(s.host) +
                     "\npid=" + std::to_string(s.pid) + "\n" + times;
  if (!s.reason.empty()) text += "reason=" + one_line(s.reason) + "\n";
  write_text_atomic(run_dir + "/status", text);
}

std::optional<RunStatusFile> read_run_status(const std::string& run_dir) {
  std::ifstream f(run_dir + "/status");
  if (!f) return std::nullopt;
  RunStatusFile s;
  std::string line;
  auto to_i64 = [](const std::string& v) -> int64_t {
    try {
      return std::stoll(v);
    } catch (...) {
      return 0;
    }
  };
  auto to_double = [](const std::string& v) -> double {
    try {
      return std::stod(v);
    } catch (...) {
      return 0;
    }
  };
  while (std::getline(f, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "state") s.state = v;
    else if (k == "step") s.step = to_i64(v);
    else if (k == "steps") s.steps = to_i64(v);
    else if (k == "checkpoint_step") s.checkpoint_step = to_i64(v);
    else if (k == "host") s.host = v;
    else if (k == "pid") s.pid = to_i64(v);
    else if (k == "started") s.started = to_double(v);
    else if (k == "updated") s.updated = to_double(v);
    else if (k == "reason") s.reason = v;
  }
  if (s.state.empty()) return std::nullopt;  // a torn or foreign file says nothing
  return s;
}

const char* to_string(RunState s) {
  switch (s) {
    case RunState::not_started: return "not_started";
    case RunState::running: return "running";
    case RunState::stale: return "stale";
    case RunState::interrupted: return "interrupted";
    case RunState::failed: return "failed";
    case RunState::done: return "done";
  }
  return "?";
}

bool run_state_remains(RunState s) {
  return s == RunState::failed || s == RunState::interrupted || s == RunState::stale || s == RunState::not_started;
}

RunStateInfo read_run_state(const std::string& run_dir, double now, double stale_after) {
  RunStateInfo info;
  // FAILED before DONE: a run that says it failed never counts (the trainer
  // clears FAILED when an attempt starts, so both at once is damage).
  if (std::ifstream failed(run_dir + "/FAILED"); failed) {
    std::string why;
    std::getline(failed, why);
    if (!why.empty() && why.back() == '\r') why.pop_back();
    info.state = RunState::failed;
    info.reason = why.empty() ? "FAILED without a reason" : why;
    return info;
  }
  if (run_is_done(run_dir)) {
    info.state = RunState::done;
    if (auto s = read_run_status(run_dir)) info.steps = s->steps, info.step = s->step;
    return info;
  }
  info.checkpoint_step = latest_checkpoint_step(run_dir);
  const auto s = read_run_status(run_dir);
  if (s) {
    info.steps = s->steps;
    info.step = s->step;
    if (s->state == "running") {
      // A heartbeat that is no time at all (absent, unparsable, inf) is no
      // sign of life: stale, never running forever.
      info.heartbeat_age = std::isfinite(s->updated) && s->updated > 0 ? std::max(0.0, now - s->updated)
                                                                      : std::numeric_limits<double>::infinity();
      info.holder = s->host + ":" + std::to_string(s->pid);
      info.state = info.heartbeat_age <= stale_after ? RunState::running : RunState::stale;
      return info;
    }
    if (s->state == "interrupted" || s->state == "done" || s->state == "failed") info.reason = s->reason;
  }
  // DONE/FAILED absent: a status of done/failed without its marker was cut
  // short while finishing, which is what a checkpoint resumes.
  if (info.checkpoint_step > 0 || (s && s->state == "interrupted")) info.state = RunState::interrupted;
  return info;
}

std::vector<RunStateInfo> read_run_states(const std::vector<std::string>& run_dirs, double now, double stale_after) {
  std::vector<RunStateInfo> out(run_dirs.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < run_dirs.size();) {
      try {
        out[i] = read_run_state(run_dirs[i], now, stale_after);
      } catch (const std::exception& e) {  // permissions, I/O errors: say so, keep going
        out[i] = RunStateInfo{};
        out[i].state = RunState::failed;
        out[i].reason = std::string("cannot read the run directory: ") + e.what();
      }
    }
  };
  // Threads overlap the file system's latency (a few metadata round trips per
  // run); 128 runs per thread keep the start-up cost out of small sweeps.
  const size_t threads = std::min<size_t>(8, run_dirs.size() / 128);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return out;
}

std::string describe_run_state(const RunStateInfo& i) {
  const std::string of = i.steps > 0 ? " of " + std::to_string(i.steps) : "";
  const std::string ckpt = i.checkpoint_step > 0 ? "checkpoint at step " + std::to_string(i.checkpoint_step) + of
                                                 : "no checkpoint";
  char age[32];
  std::snprintf(age, sizeof age, "%.0f s", std::floor(i.heartbeat_age));
  const bool no_heartbeat = !std::isfinite(i.heartbeat_age);
  switch (i.state) {
    case RunState::done: return "done";
    case RunState::failed: return "failed (" + i.reason + ")";
    case RunState::running:
      return "running (step " + std::to_string(i.step) + of + ", heartbeat " + age + " ago, " + i.holder + ")";
    case RunState::stale:
      return "stale (" + (no_heartbeat ? "no valid heartbeat" : "no heartbeat for " + std::string(age)) + " from " +
             i.holder + ", last step " + std::to_string(i.step) + of + "; " + ckpt + ")";
    case RunState::interrupted: return "interrupted (" + ckpt + ")";
    case RunState::not_started: return "not started";
  }
  return "?";
}

}  // namespace elm
