#include "data/store/sharded_sampler.hpp"

#include <numeric>
#include <utility>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace elm {

namespace {
// Keeps the sampler's random stream apart from other users of the same seed.
constexpr uint64_t kSamplerStream = 0x5a4d91e0ULL;
}  // namespace

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t{0});
  RngStream rng(seed ^ kSamplerStream, static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

ShardedSampler::ShardedSampler(int64_t num_samples, int world_size, int rank, uint64_t seed, bool shuffle,
                               bool drop_last)
    : num_samples_(num_samples), world_size_(world_size), rank_(rank), seed_(seed), shuffle_(shuffle),
      drop_last_(drop_last) {
  ELM_CHECK(num_samples >= 0, "sampler: number of samples ", num_samples, " is negative");
  ELM_CHECK(world_size >= 1, "sampler: world size ", world_size, " must be at least 1");
  ELM_CHECK(rank >= 0 && rank < world_size, "sampler: rank ", rank, " out of range [0, ", world_size, ")");
  per_rank_ = drop_last ? num_samples / world_size : (num_samples + world_size - 1) / world_size;
}

std::vector<int64_t> ShardedSampler::permutation() const {
  if (shuffle_) return seeded_permutation(num_samples_, seed_, epoch_);
  std::vector<int64_t> p(static_cast<size_t>(num_samples_));
  std::iota(p.begin(), p.end(), int64_t{0});
  return p;
}

std::vector<int64_t> ShardedSampler::indices() const {
  const std::vector<int64_t> p = permutation();
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(per_rank_));
  const int64_t n = num_samples_;
  for (int64_t k = 0; k < per_rank_; ++k) {
    const int64_t pos = rank_ + k * world_size_;  // position in the padded / truncated list
    out.push_back(p[static_cast<size_t>(pos % n)]);  // padding repeats from the start
  }
  return out;
}

TrainBatches::TrainBatches(int64_t num_samples, int64_t global_batch, int world_size, int rank, uint64_t seed,
                           bool shuffle)
    : sampler_(num_samples, world_size, rank, seed, shuffle, /*drop_last=*/true), global_batch_(global_batch) {
  ELM_CHECK(global_batch >= 1, "batch size ", global_batch, " must be at least 1");
  ELM_CHECK(global_batch % world_size == 0, "batch size ", global_batch, " is not divisible by the ", world_size,
            " data-parallel ranks (each rank takes batch/ranks samples per step)");
  ELM_CHECK(num_samples >= global_batch, "batch size ", global_batch, " exceeds the ", num_samples,
            " training samples (an epoch would have no step)");
  local_batch_ = global_batch / world_size;
  steps_ = num_samples / global_batch;
  indices_ = sampler_.indices();
}

void TrainBatches::set_epoch(int64_t epoch) {
  sampler_.set_epoch(epoch);
  indices_ = sampler_.indices();
}

std::vector<int64_t> TrainBatches::batch(int64_t step) const {
  ELM_CHECK(step >= 0 && step < steps_, "training step ", step, " out of range [0, ", steps_, ") of an epoch");
  const auto begin = indices_.begin() + step * local_batch_;
  return std::vector<int64_t>(begin, begin + local_batch_);
}

}  // namespace elm
