#pragma once
// Assembles upcoming batches on a background thread so that the training
// thread never waits on I/O.
//
//   BatchPrefetcher<MyBatch> pre([&](int64_t step) { return make_batch(step); },
//                                /*first_step=*/start, /*end_step=*/total, /*depth=*/4);
//   for (...) { MyBatch b = pre.next(); ... }
//
// make(step) is called on the worker thread for first_step, first_step + 1, ...
// in order, at most `depth` steps ahead of the consumer; next() returns them in
// the same order. An exception thrown by make() is rethrown by the next() that
// would have returned that step (and by every later call). The destructor
// stops the worker and joins it (waiting for a make() call in progress).
// make() must not touch state the training thread changes concurrently.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace elm {

namespace detail {

// The type-erased engine behind BatchPrefetcher<Batch>.
class PrefetchCore {
 public:
  using Producer = std::function<std::shared_ptr<void>(int64_t)>;
  PrefetchCore(Producer make, int64_t first_step, int64_t end_step, int depth);
  ~PrefetchCore();
  PrefetchCore(const PrefetchCore&) = delete;
  PrefetchCore& operator=(const PrefetchCore&) = delete;

  std::shared_ptr<void> next();  // blocks; rethrows the worker's exception
  int64_t next_step() const { return consumed_; }

 private:
  void run(int64_t first_step);

  Producer make_;
  const int64_t end_;
  const size_t depth_;
  int64_t consumed_;  // the step next() returns next (consumer thread only)

  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<std::shared_ptr<void>> queue_;
  std::exception_ptr error_;  // set once make() failed; no more steps follow
  bool stop_ = false;
  bool finished_ = false;  // the worker produced everything up to end_

  std::thread worker_;  // last: starts once everything above exists
};

}  // namespace detail

template <class Batch>
class BatchPrefetcher {
 public:
  BatchPrefetcher(std::function<Batch(int64_t)> make, int64_t first_step = 0,
                  int64_t end_step = std::numeric_limits<int64_t>::max(), int depth = 2)
      : core_(
            [make = std::move(make)](int64_t step) -> std::shared_ptr<void> {
              return std::make_shared<Batch>(make(step));
            },
            first_step, end_step, depth) {}

  // The batch of the next step. ElmError once past end_step.
  Batch next() { return std::move(*std::static_pointer_cast<Batch>(core_.next())); }
  int64_t next_step() const { return core_.next_step(); }

 private:
  detail::PrefetchCore core_;
};

}  // namespace elm
