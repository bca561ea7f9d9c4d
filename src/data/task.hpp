#pragma once
// A task turns sample indices of a split into a model-ready batch: compact
// inputs plus the targets its loss needs.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/input_batch.hpp"
#include "model/elm_config.hpp"

namespace elm {

enum class Split { Train, Valid, Test };
const char* to_string(Split s);

struct Batch {
  InputBatch x;
  std::vector<int64_t> labels;                    // classification: [B]
  std::vector<float> target_spike, target_soma;  // NeuronIO: [B, T]
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  virtual int num_input() const = 0;
  virtual int num_output() const = 0;
  virtual int64_t num_samples(Split split) const = 0;
  virtual Batch make_batch(Split split, std::span<const int64_t> indices) const = 0;
};

struct TaskConfig;
// Validates the task's options and that the model's input/output sizes fit it.
std::unique_ptr<Task> make_task(const TaskConfig& config, const ElmConfig& model);

}  // namespace elm
