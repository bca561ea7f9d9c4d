#pragma once
// A sweep job file (docs/sweeps.md): a base task config, fixed overrides and
// grid axes over any section.key, expanded into a manifest of runs whose ids
// are hashes of their resolved configs.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/key_values.hpp"
#include "train/run_config.hpp"

namespace elm {

struct SweepAxis {
  std::string key;
  std::vector<std::string> values;
};

struct SweepJob {
  std::string path;         // the job file
  std::string name;
  std::string base_config;  // resolved path of the task config
  int ranks_per_run = 1;
  std::string pack = "1";   // [sweep] pack: "auto" or the most runs per pack (sweep/pack_plan.hpp)
  KeyValues fixed;          // [set] and command-line overrides of non-axis keys
  std::vector<SweepAxis> axes;
};

struct SweepRun {
  int64_t index = 0;
  std::string id;                        // run_id(config)
  std::vector<std::string> axis_values;  // one per axis, in job order
  RunConfig config;
};

// Errors name the job file and the key. Command-line overrides of an axis key
// fix that axis to the one value.
SweepJob read_sweep_job(const std::string& path, const std::vector<std::string>& overrides);
// The product of the axes, first axis slowest; every config validated up front.
std::vector<SweepRun> expand_sweep(const SweepJob& job);

}  // namespace elm
