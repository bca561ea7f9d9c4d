#include "train/stop_request.hpp"

namespace elm {

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void record_stop_signal(int sig) { g_stop_signal = sig; }
}  // namespace

void StopRequest::install() {
  struct sigaction sa {};
  sa.sa_handler = record_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR2, &sa, nullptr);
}

int StopRequest::pending() { return g_stop_signal; }

}  // namespace elm
