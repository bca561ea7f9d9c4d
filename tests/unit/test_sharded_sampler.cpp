// ShardedSampler (DistributedSampler semantics), TrainBatches and BatchPrefetcher.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/error.hpp"
#include "data/store/batch_prefetcher.hpp"
#include "data/store/sharded_sampler.hpp"

using elm::BatchPrefetcher;
using elm::ElmError;
using elm::ShardedSampler;
using elm::TrainBatches;

namespace {

std::vector<int64_t> sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

}  // namespace

TEST(ShardedSampler, PermutationIsSeededByEpochAndSharedByRanks) {
  const int64_t n = 101;
  ShardedSampler a(n, 4, 0, 42, true, false), b(n, 4, 3, 42, true, false);
  a.set_epoch(2);
  b.set_epoch(2);
  EXPECT_EQ(a.permutation(), b.permutation());
  EXPECT_EQ(sorted(a.permutation()), iota(n));
  EXPECT_NE(a.permutation(), iota(n)) << "shuffle must shuffle";
  const auto e2 = a.permutation();
  a.set_epoch(3);
  EXPECT_NE(a.permutation(), e2) << "epochs must differ";
  a.set_epoch(2);
  EXPECT_EQ(a.permutation(), e2) << "an epoch's permutation must be reproducible";
  ShardedSampler other_seed(n, 4, 0, 43, true, false);
  other_seed.set_epoch(2);
  EXPECT_NE(other_seed.permutation(), e2);
  ShardedSampler plain(n, 4, 0, 42, false, false);
  EXPECT_EQ(plain.permutation(), iota(n));
}

TEST(ShardedSampler, ShardsAreDisjointAndComplete) {
  for (const int64_t n : {0, 1, 5, 17, 100, 103}) {
    for (const int w : {1, 2, 3, 4, 7}) {
      for (const bool drop_last : {false, true}) {
        std::vector<int64_t> all;
        std::vector<std::vector<int64_t>> shards;
        for (int r = 0; r < w; ++r) {
          ShardedSampler s(n, w, r, 9, true, drop_last);
          s.set_epoch(1);
          shards.push_back(s.indices());
          EXPECT_EQ(static_cast<int64_t>(shards.back().size()), s.num_samples_per_rank());
          all.insert(all.end(), shards.back().begin(), shards.back().end());
        }
        const std::string what = "N=" + std::to_string(n) + " W=" + std::to_string(w) +
                                 (drop_last ? " drop_last" : " padded");
        // Every rank has the same count (torch: ceil(N/W) padded, floor(N/W) dropped).
        const int64_t per_rank = drop_last ? n / w : (n + w - 1) / w;
        for (const auto& s : shards) EXPECT_EQ(static_cast<int64_t>(s.size()), per_rank) << what;
        // Rank r holds positions r, r+W, ... of the (padded) permutation.
        ShardedSampler ref(n, w, 0, 9, true, drop_last);
        ref.set_epoch(1);
        const auto perm = ref.permutation();
        for (int r = 0; r < w; ++r)
          for (size_t k = 0; k < shards[r].size(); ++k)
            EXPECT_EQ(shards[r][k], perm[(r + k * w) % n]) << what << " rank " << r << " #" << k;
        if (drop_last) {
          // Disjoint, and exactly the first floor(N/W)*W entries of the permutation.
          EXPECT_EQ(sorted(all), sorted(std::vector<int64_t>(perm.begin(), perm.begin() + per_rank * w))) << what;
          EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), all.size()) << what;
        } else {
          // Complete: the union is every sample; padding repeats only the first samples.
          EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()), std::set<int64_t>(perm.begin(), perm.end())) << what;
          EXPECT_EQ(static_cast<int64_t>(all.size()) - n, per_rank * w - n) << what;
          EXPECT_LT(per_rank * w - n, w) << what;
        }
      }
    }
  }
}

TEST(ShardedSampler, RejectsBadRanks) {
  EXPECT_THROW(ShardedSampler(10, 0, 0, 1, true, false), ElmError);
  EXPECT_THROW(ShardedSampler(10, 2, 2, 1, true, false), ElmError);
  EXPECT_THROW(ShardedSampler(10, 2, -1, 1, true, false), ElmError);
}

TEST(TrainBatches, RanksTogetherEqualOneRankWithTheGlobalBatch) {
  const int64_t n = 103, batch = 12;
  for (const int w : {1, 2, 3, 4, 6, 12}) {
    TrainBatches single(n, batch, 1, 0, 5);
    std::vector<TrainBatches> ranks;
    for (int r = 0; r < w; ++r) ranks.emplace_back(n, batch, w, r, 5);
    for (const int64_t epoch : {0, 1}) {
      single.set_epoch(epoch);
      for (auto& r : ranks) r.set_epoch(epoch);
      EXPECT_EQ(single.steps_per_epoch(), n / batch);
      std::set<int64_t> seen;
      for (int64_t step = 0; step < single.steps_per_epoch(); ++step) {
        std::vector<int64_t> joint;
        for (auto& r : ranks) {
          EXPECT_EQ(r.steps_per_epoch(), n / batch) << "W=" << w;
          EXPECT_EQ(r.local_batch(), batch / w);
          const auto b = r.batch(step);
          EXPECT_EQ(static_cast<int64_t>(b.size()), batch / w);
          joint.insert(joint.end(), b.begin(), b.end());
        }
        EXPECT_EQ(sorted(joint), sorted(single.batch(step))) << "W=" << w << " epoch " << epoch << " step " << step;
        seen.insert(joint.begin(), joint.end());
      }
      EXPECT_EQ(static_cast<int64_t>(seen.size()), (n / batch) * batch) << "no sample twice in an epoch";
    }
  }
  TrainBatches a(n, batch, 1, 0, 5), b(n, batch, 1, 0, 5);
  b.set_epoch(1);
  EXPECT_NE(a.batch(0), b.batch(0));
}

TEST(TrainBatches, ClearErrors) {
  try {
    TrainBatches t(100, 10, 4, 0, 1);
    FAIL() << "batch 10 over 4 ranks must be refused";
  } catch (const ElmError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("10"), std::string::npos) << msg;
    EXPECT_NE(msg.find("4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("divisible"), std::string::npos) << msg;
  }
  EXPECT_THROW(TrainBatches(5, 8, 1, 0, 1), ElmError);
  EXPECT_THROW(TrainBatches(100, 0, 1, 0, 1), ElmError);
  TrainBatches t(100, 8, 2, 1, 1);
  EXPECT_THROW(t.batch(12), ElmError);
  EXPECT_THROW(t.batch(-1), ElmError);
  EXPECT_NO_THROW(t.batch(11));
}

TEST(BatchPrefetcher, DeliversInOrderAhead) {
  std::atomic<int64_t> made{0};
  BatchPrefetcher<std::vector<int64_t>> pre(
      [&](int64_t step) {
        ++made;
        return std::vector<int64_t>{step, step * step};
      },
      3, 40, 4);
  for (int64_t step = 3; step < 40; ++step) {
    EXPECT_EQ(pre.next_step(), step);
    if (step % 9 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let the worker get ahead
    EXPECT_EQ(pre.next(), (std::vector<int64_t>{step, step * step}));
  }
  EXPECT_EQ(made.load(), 37);
  EXPECT_THROW(pre.next(), ElmError);  // past the end
}

// Polls `done` until it holds; false after a minute (a hang, not slowness).
template <class F>
bool eventually(F done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(BatchPrefetcher, StaysWithinDepth) {
  // The worker makes step s only while fewer than `depth` made steps wait
  // unconsumed: s < (next() calls begun) + depth, checked inside make() (the
  // count is raised before each next(), so it is never behind the
  // prefetcher's own). The test waits until the worker has filled the queue,
  // so the checks below mean the same on a slow and on a fast machine; the
  // pauses after that only give a worker that ignored the depth the time to
  // overstep, they cannot fail a correct one.
  constexpr int depth = 3;
  std::atomic<int64_t> made{0}, asked{0}, overstep{-1};
  BatchPrefetcher<int64_t> pre(
      [&](int64_t step) {
        int64_t none = -1;
        if (step >= asked.load() + depth) overstep.compare_exchange_strong(none, step);  // the first one
        ++made;
        return step;
      },
      0, 1000, depth);
  ASSERT_TRUE(eventually([&] { return made.load() >= depth; })) << "the worker did not fill the queue";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(made.load(), depth) << "the worker made more than `depth` steps ahead";
  ++asked;
  EXPECT_EQ(pre.next(), 0);
  ASSERT_TRUE(eventually([&] { return made.load() >= depth + 1; })) << "the worker did not refill the queue";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(made.load(), depth + 1);
  for (int64_t step = 1; step < 200; ++step) {
    ++asked;
    EXPECT_EQ(pre.next(), step);
  }
  EXPECT_EQ(overstep.load(), -1) << "step " << overstep.load() << " was made more than " << depth << " steps ahead";
}

TEST(BatchPrefetcher, PropagatesTheWorkersException) {
  BatchPrefetcher<int64_t> pre(
      [](int64_t step) -> int64_t {
        if (step == 5) elm::fail("store.h5: sample 5 unreadable");
        return step;
      },
      0, 100, 2);
  for (int64_t step = 0; step < 5; ++step) EXPECT_EQ(pre.next(), step);
  try {
    pre.next();
    FAIL() << "the worker's error must reach the consumer";
  } catch (const ElmError& e) {
    EXPECT_STREQ(e.what(), "store.h5: sample 5 unreadable");
  }
  EXPECT_THROW(pre.next(), ElmError) << "a failed prefetcher stays failed";
  // Other exception types pass through unchanged.
  BatchPrefetcher<int> other([](int64_t) -> int { throw std::out_of_range("x"); }, 0, 10, 1);
  EXPECT_THROW(other.next(), std::out_of_range);
}

TEST(BatchPrefetcher, DestructorStopsABusyWorker) {
  // Destroyed while the worker is blocked on a full queue, and while it is
  // inside make(): neither may hang.
  { BatchPrefetcher<int64_t> full([](int64_t s) { return s; }, 0, std::numeric_limits<int64_t>::max(), 2); }
  {
    BatchPrefetcher<int64_t> slow(
        [](int64_t s) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          return s;
        },
        0, 1000, 8);
    EXPECT_EQ(slow.next(), 0);
  }
  EXPECT_THROW(BatchPrefetcher<int64_t>([](int64_t s) { return s; }, 0, 10, 0), ElmError);
}
