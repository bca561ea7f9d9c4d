#pragma once
// Stopping a conversion into the dataset store on a signal
// (core/stop_request.hpp). The conversion loops (the store appender, the
// readers of `elmrun prep`, the NeuronIO workers) call
// throw_if_stop_requested() at sample or block granularity; the exception
// unwinds through the RAII that owns the work, so temporary files are removed
// (StoreWriter, StoreCommitGroup) and converter processes are stopped and
// reaped, and the command reports one line.
#include <string>

#include "core/error.hpp"
#include "core/stop_request.hpp"

namespace elm {

class ConversionInterrupted : public ElmError {
 public:
  explicit ConversionInterrupted(int sig)
      : ElmError("interrupted by signal " + std::to_string(sig)), signal_(sig) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

inline void throw_if_stop_requested() {
  if (const int sig = StopRequest::pending()) throw ConversionInterrupted(sig);
}

}  // namespace elm
