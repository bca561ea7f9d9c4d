#pragma once
// What one training run produced, and its results.h5 (layout: docs/sweeps.md).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/key_values.hpp"

namespace elm {

// Named metric values of one evaluation, in a stable order.
using Metrics = std::vector<std::pair<std::string, double>>;

struct RunRecord {
  KeyValues config;
  int64_t parameter_count = 0;
  int world_size = 1;
  int64_t steps_completed = 0;
  std::vector<double> step_loss, step_lr, step_grad_norm, step_sample_steps_per_s;
  std::vector<int64_t> eval_step;
  std::vector<Metrics> eval_metrics;  // validation, one entry per evaluation
  Metrics test;
  double wall_seconds = 0;  // all attempts of the run together
};

// "loss 0.8743, accuracy 0.6860, samples 10000": counts as integers, the rest
// measured values (core/number_text.hpp).
std::string metrics_text(const Metrics& m);
bool is_count_metric(const std::string& name);

class H5AtomicWriter;
// The per-step series (train/loss, lr, grad_norm, sample_steps_per_s) and
// valid/step, as results.h5 and training states store them.
void write_step_series(H5AtomicWriter& w, const RunRecord& record);

// results.h5: config, git revision, per-step and per-eval series, test metrics;
// written under a temporary name and renamed.
void write_run_results(const RunRecord& record, const std::string& path);

}  // namespace elm
