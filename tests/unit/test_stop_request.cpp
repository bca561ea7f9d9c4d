// StopRequest in a child process (the flag is process-wide): one signal is
// recorded, signals that arrive together count as one, a second signal more
// than kSignalGraceSeconds later ends the process with that signal.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "core/stop_request.hpp"

namespace {

// Runs body in a forked child; returns its wait status.
template <class Body>
int in_child(Body body) {
  const pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

}  // namespace

TEST(StopRequest, OneSignalIsRecordedAndTheProcessGoesOn) {
  const int status = in_child([] {
    elm::StopRequest::install();
    if (elm::StopRequest::pending() != 0) _exit(2);
    raise(SIGUSR2);
    if (elm::StopRequest::pending() != SIGUSR2) _exit(3);
    raise(SIGINT);  // together with the first: the same request
    if (elm::StopRequest::pending() != SIGUSR2) _exit(4);
    _exit(0);
  });
  ASSERT_TRUE(WIFEXITED(status)) << "child ended by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(StopRequest, ASecondSignalLaterEndsTheProcessAtOnce) {
  const int status = in_child([] {
    elm::StopRequest::install();
    raise(SIGTERM);
    sleep_s(elm::kSignalGraceSeconds + 0.2);
    raise(SIGTERM);
    sleep_s(2);  // not reached when the second signal ends the process
    _exit(5);
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

TEST(StopRequest, RequestFromAnyThreadSetsTheFlag) {
  const int status = in_child([] {
    std::thread t([] { elm::StopRequest::request(SIGUSR2); });
    t.join();
    _exit(elm::StopRequest::pending() == SIGUSR2 ? 0 : 6);
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
