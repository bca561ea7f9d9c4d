#pragma once
// One training run on one process: batches from a Task, the CPU backend,
// loss, clipping, optimizer and schedule; progress lines to `log`; results and
// checkpoint written atomically into the run directory at the end.
#include <iosfwd>
#include <string>
#include <vector>

#include "backend/cpu/elm_cpu.hpp"
#include "data/task.hpp"
#include "train/run_config.hpp"

namespace elm {

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
  int64_t samples = 0;
};

// Named metric values of one evaluation, in a stable order.
using Metrics = std::vector<std::pair<std::string, double>>;

struct RunRecord {
  KeyValues config;
  int64_t parameter_count = 0;
  int world_size = 1;
  std::vector<double> step_loss, step_lr, step_grad_norm, step_sample_steps_per_s;
  std::vector<int64_t> eval_step;
  std::vector<Metrics> eval_metrics;  // validation, one entry per evaluation
  Metrics test;
  double wall_seconds = 0;
};

// Mean last-step cross-entropy and accuracy over a whole split.
EvalResult evaluate_classification(CpuElm<float>& elm, const std::vector<float>& params, const Task& task,
                                   Split split, int batch_size);

// The task's own evaluation: loss and accuracy for classification; for
// NeuronIO, the reference protocol's metrics (max_simulations < 0: all).
Metrics evaluate_task(CpuElm<float>& elm, const std::vector<float>& params, const Task& task, Split split,
                      int batch_size, int64_t max_simulations);

RunRecord train_run(const RunConfig& config, const std::string& out_dir, std::ostream& log);

// results.h5: config, git revision, per-step and per-eval series, test metrics.
void write_run_results(const RunRecord& record, const std::string& path);

}  // namespace elm
