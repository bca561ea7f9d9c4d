#pragma once
// Data sharding with torch.utils.data.DistributedSampler semantics.
//
// Every rank computes the same permutation of [0, N) from (seed, epoch) (or the
// identity when shuffle is off). Without drop_last the permutation is padded
// to a multiple of W by repeating it from its start; with drop_last it is
// truncated to a multiple of W. Rank r takes positions r, r + W, r + 2W, ...
//
// TrainBatches builds training steps on top of it: a global batch of B samples
// is split into B/W samples per rank, and W ranks at step s together hold
// exactly the samples that one rank with batch B would see at step s
// (positions [s*B, (s+1)*B) of the epoch's permutation). An epoch has
// floor(N / B) steps; the remainder is dropped.
#include <cstdint>
#include <vector>

namespace elm {

class ShardedSampler {
 public:
  ShardedSampler(int64_t num_samples, int world_size, int rank, uint64_t seed, bool shuffle, bool drop_last);

  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }

  // The epoch's permutation of [0, N): identical on every rank.
  std::vector<int64_t> permutation() const;
  // This rank's indices, num_samples_per_rank() of them.
  std::vector<int64_t> indices() const;

  int64_t num_samples() const { return num_samples_; }
  int64_t num_samples_per_rank() const { return per_rank_; }
  int64_t total_size() const { return per_rank_ * world_size_; }  // after padding / truncation
  int world_size() const { return world_size_; }
  int rank() const { return rank_; }

 private:
  int64_t num_samples_;
  int world_size_, rank_;
  uint64_t seed_;
  bool shuffle_, drop_last_;
  int64_t epoch_ = 0;
  int64_t per_rank_ = 0;
};

// A Fisher-Yates permutation of [0, n) drawn from RngStream(seed, epoch).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, int64_t epoch);

class TrainBatches {
 public:
  // Errors (ElmError) when B is not a positive multiple of W or N < B.
  TrainBatches(int64_t num_samples, int64_t global_batch, int world_size, int rank, uint64_t seed, bool shuffle = true);

  void set_epoch(int64_t epoch);  // recomputes this rank's indices
  int64_t epoch() const { return sampler_.epoch(); }
  int64_t steps_per_epoch() const { return steps_; }
  int64_t global_batch() const { return global_batch_; }
  int64_t local_batch() const { return local_batch_; }
  // This rank's local_batch() sample indices of step `step` (0 <= step < steps_per_epoch()).
  std::vector<int64_t> batch(int64_t step) const;

 private:
  ShardedSampler sampler_;
  int64_t global_batch_, local_batch_, steps_;
  std::vector<int64_t> indices_;
};

}  // namespace elm
