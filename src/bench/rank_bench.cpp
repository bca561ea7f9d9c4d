#include "bench/rank_bench.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "bench/bench_clock.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "train/cpu_step_backend.hpp"
#include "train/train_step.hpp"

namespace elm {

namespace {

// The trainer's step (train_step) on this rank's share of the global batch.
struct DataParallelStep {
  DataParallelStep(const BenchWorkload& w, int local_batch, int rank, int threads)
      : model(ElmModel::initialized(w.model, 1)), backend(w.model, model.routing, w.loss, optim(), threads) {
    BenchWorkload local = w;
    local.batch = local_batch;
    batch.x = make_bench_input(local, 2 + uint64_t(rank));
    const int B = local_batch, T = w.steps, C = w.model.num_output;
    batch.labels.resize(size_t(B));
    batch.target_spike.resize(size_t(B) * T);
    batch.target_soma.resize(batch.target_spike.size());
    RngStream rng(3, 7 + uint64_t(rank));
    for (auto& l : batch.labels) l = int64_t(rng.below(uint64_t(C)));
    for (size_t i = 0; i < batch.target_spike.size(); ++i) {
      batch.target_spike[i] = rng.uniform() < 0.01 ? 1.0f : 0.0f;
      batch.target_soma[i] = float(rng.normal());
    }
    backend.set_params(model.params);
    settings.lr = 1e-4;
  }
  static OptimizerConfig optim() {
    OptimizerConfig oc;
    oc.lr = 1e-4;
    return oc;
  }
  size_t reduce_floats() const { return size_t(model.layout.num_trainable()) + 2; }

  void run(Comm& comm) { train_step(backend, batch, comm, settings); }

  ElmModel model;
  CpuStepBackend backend;
  Batch batch;
  StepSettings settings;
};

// Steps to time: enough for min_seconds judging by one warm step, decided by
// rank 0 so that every rank runs the same number of collectives.
int64_t steps_for(Comm& comm, double seconds_per_step, double min_seconds, int min_steps) {
  int64_t n = std::max<int64_t>(min_steps, int64_t(std::ceil(min_seconds / std::max(seconds_per_step, 1e-6))));
  broadcast_value(comm, n, 0);
  return n;
}

RankBenchResult bench_size(Comm& comm, const BenchWorkload& w, int global_batch, int threads, double min_seconds,
                           int min_steps) {
  const int W = comm.size();
  DataParallelStep step(w, global_batch / W, comm.rank(), threads);
  comm.barrier();
  auto t0 = bench_clock::now();
  step.run(comm);  // warm-up
  const int64_t n = steps_for(comm, seconds_since(t0), min_seconds, min_steps);
  comm.barrier();
  t0 = bench_clock::now();
  for (int64_t i = 0; i < n; ++i) step.run(comm);
  comm.barrier();
  RankBenchResult r;
  r.name = w.name;
  r.ranks = W;
  r.threads = threads;
  r.global_batch = global_batch;
  r.steps_timed = int(n);
  r.ms_per_step = 1e3 * seconds_since(t0) / double(n);
  r.sample_steps_per_s = double(global_batch) * w.steps / (r.ms_per_step * 1e-3);

  // The all-reduce alone, same buffer as the trainer's (one rank has none).
  std::vector<float> buf(step.reduce_floats(), 1.0f);
  r.allreduce_bytes = int64_t(buf.size() * sizeof(float));
  if (W == 1) return r;
  comm.allreduce_sum(std::span<float>(buf));
  const int64_t reps = 2000;
  comm.barrier();
  t0 = bench_clock::now();
  for (int64_t i = 0; i < reps; ++i) comm.allreduce_sum(std::span<float>(buf));
  const double per = seconds_since(t0) / double(reps);
  r.allreduce_us = 1e6 * per;
  r.algbw_gbps = double(r.allreduce_bytes) / per / 1e9;
  r.busbw_gbps = r.algbw_gbps * 2.0 * (W - 1) / W;
  return r;
}

}  // namespace

std::vector<RankBenchResult> run_rank_bench(Comm& world, const BenchWorkload& w, int global_batch, int threads,
                                            double min_seconds, int min_steps, int rounds,
                                            double collective_timeout_s) {
  const int W = world.size();
  ELM_CHECK(global_batch % W == 0, "--global-batch ", global_batch, " must be a multiple of the ", W, " ranks");
  ELM_CHECK(rounds >= 1, "--rounds must be >= 1");
  std::vector<int> sizes = {1};
  if (W > 1) sizes.push_back(W);
  // Rounds alternate the sizes, and each size keeps its fastest round: on a
  // shared machine the noise only ever adds time.
  std::vector<RankBenchResult> best(sizes.size());
  for (int round = 0; round < rounds; ++round)
    for (size_t k = 0; k < sizes.size(); ++k) {
      const int s = sizes[k];
      const bool member = world.rank() < s;
      auto sub = world.split(member ? 0 : 1, world.rank());
      // The trainer's collectives run under a lost-peer deadline (polled,
      // non-blocking); time the same path.
      sub->set_wait_limit(collective_timeout_s);
      RankBenchResult r;
      if (member) r = bench_size(*sub, w, global_batch, threads, min_seconds, min_steps);
      world.barrier_idle();  // waiting ranks must not take a core from the timed ones
      r.collective_timeout_s = collective_timeout_s;
      if (round == 0 || r.ms_per_step < best[k].ms_per_step) best[k] = r;
    }
  for (auto& r : best) r.speedup = best.front().ms_per_step / r.ms_per_step;
  return best;
}

std::string format_rank_bench(const RankBenchResult& r) {
  char buf[512];
  if (r.ranks == 1) {
    std::snprintf(buf, sizeof buf,
                  "workload=%s backend=cpu ranks=1 threads=%d global_batch=%d ms_per_step=%.3f "
                  "sample_steps_per_s=%.4g speedup_vs_1_rank=1.00 timed_steps=%d allreduce=none",
                  r.name.c_str(), r.threads, r.global_batch, r.ms_per_step, r.sample_steps_per_s, r.steps_timed);
    return buf;
  }
  std::snprintf(buf, sizeof buf,
                "workload=%s backend=cpu ranks=%d threads=%d global_batch=%d ms_per_step=%.3f "
                "sample_steps_per_s=%.4g speedup_vs_1_rank=%.2f timed_steps=%d allreduce_bytes=%lld "
                "allreduce_us=%.2f algbw_GBps=%.3f busbw_GBps=%.3f collective_timeout_s=%g",
                r.name.c_str(), r.ranks, r.threads, r.global_batch, r.ms_per_step, r.sample_steps_per_s, r.speedup,
                r.steps_timed, (long long)r.allreduce_bytes, r.allreduce_us, r.algbw_gbps, r.busbw_gbps,
                r.collective_timeout_s);
  return buf;
}

}  // namespace elm
