#pragma once
// The benchmark workloads of shared/docs/benchmarks.md: one training step (forward,
// loss, BPTT, Adam) on a batch held in memory, timed over repeated steps.
#include <span>
#include <string>
#include <vector>

#include "backend/cpu/elm_cpu_pack.hpp"
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

// `elmrun bench --pack K`: one training step of K models of the workload's
// shapes trained together by CpuElmPack (packed forward, each model's loss,
// packed backward, each model's gradient norm and Adam step), next to one
// model's step (time_training_step) timed in the same invocation. The models
// differ as a sweep's do: initialisation seed, input batch, targets, learning
// rate.
struct PackBenchOptions {
  std::vector<int> models = {8};  // K values, each timed against the same single-model step
  int threads = 1;
  double min_seconds = 2.0;
  int min_steps = 3;
  CpuElmPack::Mode mode = CpuElmPack::Mode::Auto;
  int lanes = 0;   // CpuElmPack::set_lane_width
  int rounds = 3;  // one model and the K models timed alternately this often; each side's fastest round counts
};
struct PackBenchResult {
  std::string name;
  int models = 0, threads = 1;
  int lanes = 0;              // lanes per vector group; 0: the pass ran the models one after another
  int steps_timed = 0;        // K-model steps, all rounds
  double ms_per_step = 0;     // the K models' step (fastest round)
  double single_ms_per_step = 0;  // one model's step, same invocation (fastest round)
  double per_model_speedup = 0;   // K * single / pack
  double gflops = 0;          // K * step_flops / pack step
  std::string cpu_isa;
};
std::vector<PackBenchResult> run_pack_bench(const BenchWorkload& w, const PackBenchOptions& options);

}  // namespace elm
