#include "train/optimizer.hpp"

#include <cmath>

#include "core/error.hpp"

namespace elm {
namespace {

void adam_update(const step_math::OptimizerStepScalars& s, std::span<float> p, std::span<const float> g,
                 float* exp_avg, float* exp_avg_sq) {
  for (std::size_t i = 0; i < p.size(); ++i) step_math::adam_element(s, p[i], g[i], exp_avg[i], exp_avg_sq[i]);
}

void adamax_update(const step_math::OptimizerStepScalars& s, std::span<float> p, std::span<const float> g,
                   float* exp_avg, float* exp_inf) {
  for (std::size_t i = 0; i < p.size(); ++i) step_math::adamax_element(s, p[i], g[i], exp_avg[i], exp_inf[i]);
}

}  // namespace

step_math::OptimizerStepScalars optimizer_step_scalars(const OptimizerConfig& c, double lr, int64_t step) {
  step_math::OptimizerStepScalars s;
  s.kind = parse_optimizer_kind(c.kind);
  // Python computes the scalars in double; torch casts them to float when it
  // applies them to a float tensor, so do the same here.
  s.one_minus_beta1 = static_cast<float>(1.0 - c.beta1);
  s.beta2 = static_cast<float>(c.beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - c.beta2);
  s.eps = static_cast<float>(c.eps);
  const bool decay = c.weight_decay != 0.0;
  s.weight_decay = static_cast<float>(c.weight_decay);
  // adam/adamax: L2 term in the gradient; adamw: decoupled decay first, as torch.optim.AdamW.
  s.l2 = decay && s.kind != OptimizerKind::adamw;
  s.decoupled = decay && s.kind == OptimizerKind::adamw;
  s.keep = s.decoupled ? static_cast<float>(1.0 - lr * c.weight_decay) : 1.0f;
  const double t = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(c.beta1, t);
  s.neg_step_size = static_cast<float>(-(lr / bias_correction1));
  if (s.kind != OptimizerKind::adamax) {
    const double bias_correction2 = 1.0 - std::pow(c.beta2, t);
    s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  }
  return s;
}

OptimizerKind parse_optimizer_kind(std::string_view kind) {
  if (kind == "adam") return OptimizerKind::adam;
  if (kind == "adamw") return OptimizerKind::adamw;
  if (kind == "adamax") return OptimizerKind::adamax;
  fail("unknown optimizer '", kind, "' (expected adam, adamw or adamax)");
}

std::string_view to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::adam: return "adam";
    case OptimizerKind::adamw: return "adamw";
    case OptimizerKind::adamax: return "adamax";
  }
  return "?";
}

void validate(const OptimizerConfig& c) {
  parse_optimizer_kind(c.kind);
  ELM_CHECK(std::isfinite(c.lr) && c.lr >= 0.0, "optimizer lr must be finite and >= 0, got ", c.lr);
  ELM_CHECK(c.beta1 >= 0.0 && c.beta1 < 1.0, "optimizer beta1 must be in [0, 1), got ", c.beta1);
  ELM_CHECK(c.beta2 >= 0.0 && c.beta2 < 1.0, "optimizer beta2 must be in [0, 1), got ", c.beta2);
  ELM_CHECK(std::isfinite(c.eps) && c.eps >= 0.0, "optimizer eps must be finite and >= 0, got ", c.eps);
  ELM_CHECK(std::isfinite(c.weight_decay) && c.weight_decay >= 0.0,
            "optimizer weight_decay must be finite and >= 0, got ", c.weight_decay);
}

Optimizer::Optimizer(const OptimizerConfig& config)
    : config_(config), kind_(parse_optimizer_kind(config.kind)) {
  validate(config_);
}

void Optimizer::set_step_count(int64_t steps) {
  ELM_CHECK(steps >= 0, "optimizer step count must be >= 0, got ", steps);
  step_count_ = steps;
}

std::vector<float>& Optimizer::state_buffer(std::size_t i) {
  ELM_ASSERT(i < num_state_buffers());
  return i == 0 ? exp_avg_ : second_;
}

const std::vector<float>& Optimizer::state_buffer(std::size_t i) const {
  ELM_ASSERT(i < num_state_buffers());
  return i == 0 ? exp_avg_ : second_;
}

std::string_view Optimizer::state_buffer_name(std::size_t i) const {
  ELM_ASSERT(i < num_state_buffers());
  if (i == 0) return "exp_avg";
  return kind_ == OptimizerKind::adamax ? "exp_inf" : "exp_avg_sq";
}

void Optimizer::reset() {
  step_count_ = 0;
  exp_avg_.clear();
  second_.clear();
}

void Optimizer::step(std::span<float> params, std::span<const float> grads, double lr) {
  ELM_CHECK(params.size() == grads.size(), "optimizer: ", params.size(),
            " parameters but ", grads.size(), " gradients");
  ELM_CHECK(std::isfinite(lr) && lr >= 0.0, "optimizer: learning rate must be finite and >= 0, got ", lr);
  if (exp_avg_.empty() && second_.empty()) {
    exp_avg_.assign(params.size(), 0.0f);
    second_.assign(params.size(), 0.0f);
  }
  // A restored state of the wrong size means the checkpoint belongs to another model.
  ELM_CHECK(exp_avg_.size() == params.size() && second_.size() == params.size(),
            "optimizer state holds ", exp_avg_.size(), "/", second_.size(),
            " entries but the model has ", params.size(), " parameters");
  ++step_count_;
  const step_math::OptimizerStepScalars s = optimizer_step_scalars(config_, lr, step_count_);
  if (kind_ == OptimizerKind::adamax)
    adamax_update(s, params, grads, exp_avg_.data(), second_.data());
  else
    adam_update(s, params, grads, exp_avg_.data(), second_.data());
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config) {
  return std::make_unique<Optimizer>(config);
}

}  // namespace elm
