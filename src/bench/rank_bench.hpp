#pragma once
// Data-parallel scaling of a training step: the workload's step on a fixed
// global batch split over 1 and W ranks (one all-reduce of the flat gradient
// per step, as the trainer does), and the all-reduce alone at the model's
// real gradient size, reported as algorithm and bus bandwidth in the sense of
// nccl-tests (busbw = algbw * 2 (n - 1) / n for all-reduce).
#include <string>
#include <vector>

#include "bench/workloads.hpp"
#include "dist/comm.hpp"

namespace elm {

struct RankBenchResult {
  std::string name;
  int ranks = 1, threads = 1, global_batch = 0, steps_timed = 0;
  double collective_timeout_s = 0;  // the lost-peer deadline the collectives ran under, as in training
  double ms_per_step = 0, sample_steps_per_s = 0;
  double speedup = 1;  // against the 1-rank figure of the same call
  int64_t allreduce_bytes = 0;
  double allreduce_us = 0, algbw_gbps = 0, busbw_gbps = 0;
};

// Collective over `world`: for each size in {1, world.size()} the first `size`
// ranks run while the others wait idle, in `rounds` alternating rounds; each
// size reports its fastest round. Results are meaningful on rank 0.
std::vector<RankBenchResult> run_rank_bench(Comm& world, const BenchWorkload& w, int global_batch, int threads,
                                            double min_seconds, int min_steps, int rounds = 3,
                                            double collective_timeout_s = 0);
std::string format_rank_bench(const RankBenchResult& r);

}  // namespace elm
