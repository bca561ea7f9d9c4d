// Waiting out a non-blocking NCCL call, with scripted states instead of NCCL.
#include <gtest/gtest.h>

#include <vector>

#include "dist/nccl_wait.hpp"

namespace elm {
namespace {

// Replays scripted answers (the last one repeats) and logs the order of queries.
struct Script {
  std::vector<NcclState> async;
  std::vector<StreamState> stream;
  int deadline_polls = 1000;  // timed_out() turns true after this many asks
  size_t a = 0, s = 0;
  int polls = 0;
  std::string log;

  NcclPollers pollers(bool with_stream = true) {
    NcclPollers p;
    p.async_state = [this] {
      log += 'A';
      return async[std::min(a++, async.size() - 1)];
    };
    p.async_error = [] { return std::string("remote process exited"); };
    if (with_stream)
      p.stream_state = [this] {
        log += 'S';
        return stream[std::min(s++, stream.size() - 1)];
      };
    p.stream_error = [] { return std::string("illegal address"); };
    p.timed_out = [this] { return ++polls > deadline_polls; };
    return p;
  }
};

TEST(NcclWait, InProgressFromTheCallIsNotAnError) {
  // The defect: NCCL_CHECK took ncclInProgress for a failure, so no
  // non-blocking communicator could be created.
  Script sc{{NcclState::InProgress, NcclState::InProgress, NcclState::Success}, {}};
  EXPECT_EQ(wait_nonblocking(NcclState::InProgress, "", sc.pollers(false)), "");
  EXPECT_EQ(sc.log, "AAA");
}

TEST(NcclWait, StreamIsQueriedOnlyAfterTheEnqueueSettled) {
  // An idle stream before NCCL queued its kernel says nothing: the wait must
  // not end on it.
  Script sc{{NcclState::InProgress, NcclState::InProgress, NcclState::Success},
            {StreamState::Busy, StreamState::Idle}};
  EXPECT_EQ(wait_nonblocking(NcclState::Success, "", sc.pollers()), "");
  EXPECT_EQ(sc.log.substr(0, 3), "AAA") << sc.log;
  EXPECT_EQ(sc.log.find('S'), 3u) << sc.log;
  EXPECT_EQ(sc.log.back(), 'S') << sc.log;  // ends on the idle stream
}

TEST(NcclWait, ErrorsAndTimeoutsAreReported) {
  Script call_err{{NcclState::Success}, {StreamState::Idle}};
  EXPECT_EQ(wait_nonblocking(NcclState::Error, "invalid argument", call_err.pollers()), "invalid argument");
  EXPECT_EQ(call_err.log, "");

  Script async_err{{NcclState::InProgress, NcclState::Error}, {StreamState::Idle}};
  EXPECT_EQ(wait_nonblocking(NcclState::InProgress, "", async_err.pollers()), "remote process exited");
  EXPECT_EQ(async_err.log.find('S'), std::string::npos);

  // A peer dies while our kernel waits for it: the async state says so.
  Script peer{{NcclState::Success, NcclState::Success, NcclState::Error}, {StreamState::Busy}};
  EXPECT_EQ(wait_nonblocking(NcclState::Success, "", peer.pollers()), "remote process exited");

  Script stream_err{{NcclState::Success}, {StreamState::Busy, StreamState::Error}};
  EXPECT_EQ(wait_nonblocking(NcclState::Success, "", stream_err.pollers()), "illegal address");

  Script stuck_init{{NcclState::InProgress}, {}, 5};
  EXPECT_NE(wait_nonblocking(NcclState::InProgress, "", stuck_init.pollers(false)).find("timed out"),
            std::string::npos);
  Script stuck_kernel{{NcclState::Success}, {StreamState::Busy}, 5};
  EXPECT_NE(wait_nonblocking(NcclState::Success, "", stuck_kernel.pollers()).find("timed out"), std::string::npos);
}

}  // namespace
}  // namespace elm
