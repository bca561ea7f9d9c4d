#pragma once
// First-order optimizers over one flat parameter buffer, matching torch.optim
// (single-tensor CPU path) in float32 arithmetic order, so that runs can be
// compared step by step with the reference implementation.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/step_math.hpp"

namespace elm {

struct OptimizerConfig {
  std::string kind = "adam";  // adam | adamw | adamax
  double lr = 1e-3;           // base rate; the schedule passes the current one to step()
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // adam/adamax: L2 term added to the gradient; adamw: decoupled decay.
  double weight_decay = 0.0;
};

// Throws ElmError naming the offending field or value.
void validate(const OptimizerConfig& config);

// OptimizerKind lives in backend/step_math.hpp (the device kernels use it too).
OptimizerKind parse_optimizer_kind(std::string_view kind);
std::string_view to_string(OptimizerKind kind);

// The float scalars of step number `step` (1 for the first) at learning rate
// lr, computed in double from the config as torch does: what Optimizer::step
// and the CUDA optimizer kernel apply per element (step_math.hpp).
step_math::OptimizerStepScalars optimizer_step_scalars(const OptimizerConfig& config, double lr, int64_t step);

// State is kept as plain float vectors so that checkpoints can save and
// restore it verbatim:
//   buffer 0: exp_avg      (all kinds)
//   buffer 1: exp_avg_sq   (adam, adamw) or exp_inf (adamax)
// Buffers are empty until the first step, which sizes them to the parameter
// count (zeros, as torch initialises them lazily too).
class Optimizer {
 public:
  explicit Optimizer(const OptimizerConfig& config);

  // One update with learning rate `lr` (the value from the schedule for this
  // step). grads is not modified.
  void step(std::span<float> params, std::span<const float> grads, double lr);

  // Number of steps taken so far (torch's state["step"]).
  int64_t step_count() const { return step_count_; }
  void set_step_count(int64_t steps);

  static constexpr std::size_t num_state_buffers() { return 2; }
  std::vector<float>& state_buffer(std::size_t i);
  const std::vector<float>& state_buffer(std::size_t i) const;
  std::string_view state_buffer_name(std::size_t i) const;

  // Back to the freshly-constructed state (step 0, empty buffers).
  void reset();

  OptimizerKind kind() const { return kind_; }
  const OptimizerConfig& config() const { return config_; }

 private:
  OptimizerConfig config_;
  OptimizerKind kind_;
  int64_t step_count_ = 0;
  std::vector<float> exp_avg_;
  std::vector<float> second_;  // exp_avg_sq or exp_inf
};

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config);

}  // namespace elm
