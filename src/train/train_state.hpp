#pragma once
// Resumable training state and the run directory's checkpoint protocol:
// RUN_DIR/checkpoints/step_<8 digits>/state.h5 counts only once the DONE
// marker beside it exists; a new complete checkpoint removes the older ones.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "train/optimizer.hpp"
#include "train/run_record.hpp"

namespace elm {

struct TrainState {
  int64_t step = 0;           // optimizer steps completed
  std::string identity;       // the run's identity config (flat JSON): resume refuses another run's state
  std::vector<float> params;  // the whole flat buffer
  int64_t optimizer_steps = 0;
  std::vector<std::vector<float>> optimizer_buffers;
  RunRecord record;  // series so far, wall time so far
};

TrainState capture_train_state(int64_t step, const std::string& identity, const std::vector<float>& params,
                               const Optimizer& opt, const RunRecord& record);
// Puts the optimizer state back; params and record are the caller's.
void restore_optimizer(const TrainState& state, Optimizer& opt);

void write_train_state(const TrainState& state, const std::string& path);
TrainState read_train_state(const std::string& path);

// Writes the step's checkpoint directory, marks it DONE, then removes older ones.
void save_checkpoint(const std::string& run_dir, const TrainState& state);
// state.h5 of the newest checkpoint whose DONE exists, if any.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);
// The step of that checkpoint, 0 if there is none (reads directory names and markers only).
int64_t latest_checkpoint_step(const std::string& run_dir);
void remove_checkpoints(const std::string& run_dir);
// Removes the temporary files (temporary_name) that writers killed mid-file
// left in the run directory and its checkpoints; call only while holding the run.
void remove_leftover_temporaries(const std::string& run_dir);

// Creates `path` with `text` through a temporary file and a rename.
void write_text_atomic(const std::string& path, const std::string& text);

}  // namespace elm
