#pragma once
// A training run's whole configuration: INI sections [model], [task], [train],
// [optim], flattened to "section.key" so that --set overrides and (later) sweep
// axes address any key the same way.
#include <cstdint>
#include <string>
#include <vector>

#include "core/key_values.hpp"
#include "data/task_config.hpp"
#include "model/elm_config.hpp"
#include "train/lr_schedule.hpp"
#include "train/optimizer.hpp"

namespace elm {

struct TrainConfig {
  int64_t steps = 300;
  int batch_size = 16;
  uint64_t seed = 1;
  int threads = 1;
  int64_t log_every = 25;
  int64_t eval_every = 100;
  int64_t eval_simulations = 16;  // NeuronIO: simulations in a mid-run validation (test uses all)
  double clip_norm = 0.0;  // 0: no clipping
  int64_t checkpoint_every = 1000;  // steps between resumable checkpoints (0: only on a stop signal)
  int64_t checksum_every = 100;     // steps between cross-rank parameter checks
  // Use only the first N samples of a split (0: all): quick runs on a subset.
  int64_t train_samples = 0, valid_samples = 0, test_samples = 0;
  std::string backend = "cpu";  // cpu | cuda (BackendKind): where the steps run
  // Accepted for older configs and checked against the task, which decides the loss.
  std::string loss;  // "" | last_step_ce | neuronio
};

struct RunConfig {
  ElmConfig model;
  TaskConfig task;
  TrainConfig train;
  OptimizerConfig optim;
  LrScheduleConfig schedule;
  KeyValues resolved;  // every key with its final value, for results and hashing

  // Defaults (the built-in synthetic quick run), then the file (if any), then overrides.
  static RunConfig load(const std::string& ini_path, const std::vector<std::string>& overrides);
  static RunConfig from_key_values(const KeyValues& kv, const std::string& source);
};

// The keys that define what a run computes, as flat JSON: the resolved config
// without those that cannot change its results (train.threads, train.log_every,
// train.backend) or only restate the task (train.loss).
std::string run_identity_json(const RunConfig& config);
// 16 hex digits: FNV-1a 64 of run_identity_json; names the run's directory.
std::string run_id(const RunConfig& config);

// "value ; comment" -> "value" (a ';' or '#' after blank space starts a comment).
std::string strip_inline_comment(const std::string& value);

// Reads an INI file into "section.key" pairs; errors name the file and line.
KeyValues read_ini_file(const std::string& path);
// The same pairs in file order (repeated keys kept).
std::vector<std::pair<std::string, std::string>> read_ini_entries(const std::string& path);
// "section.key=value" strings into pairs; errors name the bad override.
KeyValues parse_overrides(const std::vector<std::string>& overrides);

}  // namespace elm
