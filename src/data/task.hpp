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

// What a training step computes from the model's outputs; the task declares it,
// so no caller has to guess from the task's type.
//   LastStepCrossEntropy  cross-entropy of the last step's num_output() logits
//   Neuronio              0.5 BCE(spike) + 0.5 MSE(soma) over every step
//   PairedCrossEntropy    two-tower head on 2B tower rows, num_classes() classes
enum class TaskLoss { LastStepCrossEntropy, Neuronio, PairedCrossEntropy };
const char* to_string(TaskLoss loss);

// The compact form of a task's inputs (InputBatch::data).
enum class InputKind { Dense, Spikes, Tokens };
const char* to_string(InputKind kind);

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

  virtual TaskLoss loss() const { return TaskLoss::LastStepCrossEntropy; }
  virtual InputKind input_kind() const = 0;
  // Classes of the prediction: num_output() except for paired tasks, whose
  // tower output feeds a classifier head.
  virtual int num_classes() const { return num_output(); }
  // The training batch of these sample indices at training step `step` of
  // epoch `epoch`: tasks with training-only randomness (input dropout, fresh
  // pairs or windows each step or epoch) override it; the same arguments give
  // the same batch, however the global batch is split across ranks.
  virtual Batch make_train_batch(std::span<const int64_t> indices, int64_t step, int64_t epoch) const {
    (void)step, (void)epoch;
    return make_batch(Split::Train, indices);
  }
};

struct TaskConfig;
// Validates the task's options and that the model's input/output sizes fit it.
std::unique_ptr<Task> make_task(const TaskConfig& config, const ElmConfig& model);

}  // namespace elm
