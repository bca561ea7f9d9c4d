#pragma once
// How the NCCL communicator waits for a non-blocking call, as plain C++ (no
// NCCL or CUDA headers) so that the decisions are unit-tested without a GPU.
// nccl_comm.cu maps ncclResult_t / cudaStreamQuery onto these states and
// supplies the pollers.
//
// A communicator created with config.blocking = 0 answers ncclInProgress from
// init, collectives and finalize: not an error, but "poll
// ncclCommGetAsyncError until it leaves ncclInProgress". Only then has NCCL
// queued its kernel, so only then does an idle stream mean the collective is
// done; querying the stream earlier can see it empty and return too soon.
#include <functional>
#include <string>

namespace elm {

enum class NcclState { Success, InProgress, Error };
enum class StreamState { Idle, Busy, Error };

struct NcclPollers {
  std::function<NcclState()> async_state;      // ncclCommGetAsyncError
  std::function<std::string()> async_error;    // its error text, asked once the state is Error
  std::function<StreamState()> stream_state;   // cudaStreamQuery; empty: no stream to drain
  std::function<std::string()> stream_error;   // its error text
  std::function<bool()> timed_out;             // the caller's deadline has passed
  std::function<void()> pause;                 // between polls (yield)
};

// Waits out a non-blocking call that returned `call` (with `call_error` its
// text): the async state until it settles, then, when stream_state is given,
// the stream until it is idle (watching the async state meanwhile, since a
// peer's failure shows there while our kernel never ends). Returns "" on
// success, else why it failed ("timed out ..." for a deadline).
std::string wait_nonblocking(NcclState call, const std::string& call_error, const NcclPollers& p);

}  // namespace elm
