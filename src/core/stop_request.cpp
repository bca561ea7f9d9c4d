#include "core/stop_request.hpp"

#include <time.h>

#include <atomic>
#include <cstdint>

namespace elm {

namespace {
std::atomic<int> g_stop_signal{0};
std::atomic<int64_t> g_first_signal_ns{0};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<int64_t>::is_always_lock_free,
              "the stop flag is set from a signal handler");

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

extern "C" void record_stop_signal(int sig) {
  const int64_t now = monotonic_ns();
  int expected = 0;
  if (g_stop_signal.compare_exchange_strong(expected, sig)) {
    g_first_signal_ns.store(now);
    return;
  }
  if (double(now - g_first_signal_ns.load()) < kSignalGraceSeconds * 1e9) return;
  // The second request: the user means it. Default action, at once.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  raise(sig);
}
}  // namespace

void StopRequest::install() {
  struct sigaction sa {};
  sa.sa_handler = record_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGUSR2, SIGINT}) sigaction(sig, &sa, nullptr);
}

int StopRequest::pending() { return g_stop_signal.load(std::memory_order_relaxed); }

void StopRequest::request(int sig) {
  int expected = 0;
  if (g_stop_signal.compare_exchange_strong(expected, sig)) g_first_signal_ns.store(monotonic_ns());
}

}  // namespace elm
