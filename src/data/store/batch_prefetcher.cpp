#include "data/store/batch_prefetcher.hpp"

#include "core/error.hpp"

namespace elm::detail {

PrefetchCore::PrefetchCore(Producer make, int64_t first_step, int64_t end_step, int depth)
    : make_(std::move(make)), end_(end_step), depth_(depth > 0 ? static_cast<size_t>(depth) : 1),
      consumed_(first_step) {
  ELM_CHECK(depth >= 1, "prefetch depth ", depth, " must be at least 1");
  ELM_CHECK(first_step <= end_step, "prefetch: first step ", first_step, " is past the end step ", end_step);
  worker_ = std::thread([this, first_step] { run(first_step); });
}

PrefetchCore::~PrefetchCore() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  space_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void PrefetchCore::run(int64_t first_step) {
  for (int64_t step = first_step; step < end_; ++step) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      space_.wait(lock, [&] { return stop_ || queue_.size() < depth_; });
      if (stop_) return;
    }
    std::shared_ptr<void> item;
    try {
      item = make_(step);
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        error_ = std::current_exception();
      }
      ready_.notify_all();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(item));
    }
    ready_.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
  }
  ready_.notify_all();
}

std::shared_ptr<void> PrefetchCore::next() {
  ELM_CHECK(consumed_ < end_, "prefetch: no batch after the last step ", end_ - 1);
  std::unique_lock<std::mutex> lock(mu_);
  ready_.wait(lock, [&] { return !queue_.empty() || error_ || finished_; });
  if (queue_.empty()) {
    if (error_) std::rethrow_exception(error_);
    fail("prefetch: the worker ended before step ", consumed_);  // not reached: finished_ implies consumed_ >= end_
  }
  std::shared_ptr<void> item = std::move(queue_.front());
  queue_.pop_front();
  ++consumed_;
  lock.unlock();
  space_.notify_all();
  return item;
}

}  // namespace elm::detail
