#include "dist/nccl_wait.hpp"

namespace elm {

namespace {
const char* const kTimedOut = "timed out (a peer rank stopped?)";
}

std::string wait_nonblocking(NcclState call, const std::string& call_error, const NcclPollers& p) {
  if (call == NcclState::Error) return call_error;
  // 1. NCCL finishes the call's host side (enqueue, or init/finalize).
  while (true) {
    const NcclState s = p.async_state();
    if (s == NcclState::Success) break;
    if (s == NcclState::Error) return p.async_error();
    if (p.timed_out()) return kTimedOut;
    if (p.pause) p.pause();
  }
  if (!p.stream_state) return "";
  // 2. The queued kernel runs to the end.
  while (true) {
    const StreamState q = p.stream_state();
    if (q == StreamState::Idle) return "";
    if (q == StreamState::Error) return p.stream_error();
    const NcclState s = p.async_state();
    if (s == NcclState::Error) return p.async_error();
    if (p.timed_out()) return kTimedOut;
    if (p.pause) p.pause();
  }
}

}  // namespace elm
