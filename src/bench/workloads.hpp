#pragma once
// The benchmark workloads of shared/docs/benchmarks.md: one training step (forward,
// loss, BPTT, Adam) on a batch held in memory, timed over repeated steps.
#include <span>
#include <string>
#include <vector>

#include "backend/input_batch.hpp"
#include "data/task.hpp"
#include "model/elm_config.hpp"
#include "model/elm_model.hpp"
#include "train/optimizer.hpp"

namespace elm {

struct BenchWorkload {
  std::string name;
  ElmConfig model;
  int batch = 0, steps = 0;
  TaskLoss loss = TaskLoss::LastStepCrossEntropy;
  enum class Input { PlusMinusSpikes, BinarySpikes, Tokens } input = Input::Tokens;
  double density = 0;  // spike inputs: fraction of nonzero entries
  bool gpu_sized = false;
};

const std::vector<BenchWorkload>& bench_workloads();
const BenchWorkload& find_bench_workload(const std::string& name);

struct BenchResult {
  std::string name;
  int threads = 1;
  int steps_timed = 0;
  double ms_per_step = 0;
  double flop_per_step = 0;  // the work a step really needs (sparse input counted as events)
  double gflops = 0;
  double sample_steps_per_s = 0;
  bool branch_traces = false;
  std::string cpu_isa;  // the kernel level the CPU model ran with
};

BenchResult run_bench(const BenchWorkload& w, int threads, double min_seconds, int min_steps);

// The work one training step needs (forward, backward ~2x, sparse input
// counted as events): what gflops= is computed from, on every backend.
double step_flops(const BenchWorkload& w, const InputBatch& x, const ElmModel& m);

// Synthetic input of the workload's kind (fixed seed).
InputBatch make_bench_input(const BenchWorkload& w, uint64_t seed);

// The timed training step shared by run_bench and the loader bench
// (bench/loader_bench.hpp): train_step on the CPU backend with `x`, the loss
// (last-step cross-entropy on `labels`, or the NeuronIO loss on
// target_spike/target_soma [B*T]), one optimizer step. One untimed warm-up
// step, then steps until both min_steps and min_seconds are reached.
struct StepTiming {
  int steps_timed = 0;
  double seconds_per_step = 0;
  bool branch_traces = false;
  std::string cpu_isa;
};
StepTiming time_training_step(ElmModel& model, const InputBatch& x, TaskLoss loss, std::span<const int64_t> labels,
                              std::span<const float> target_spike, std::span<const float> target_soma,
                              const OptimizerConfig& optim, int threads, double min_seconds, int min_steps);

}  // namespace elm
