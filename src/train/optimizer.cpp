#include "train/optimizer.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace elm {
namespace {

// torch's exp_avg.lerp_(grad, w) for a float tensor: the scalar weight is
// float, and the formula switches sides at 0.5 for accuracy.
inline float lerp(float self, float end, float w) {
  return w < 0.5f ? self + w * (end - self) : end - (end - self) * (1.0f - w);
}

struct Hyper {
  float one_minus_beta1;
  float beta2;
  float one_minus_beta2;
  float eps;
  float weight_decay;  // L2 term for adam/adamax
};

// Python computes the scalars in double; torch casts them to float when it
// applies them to a float tensor, so do the same here.
Hyper hyper_of(const OptimizerConfig& c) {
  return {static_cast<float>(1.0 - c.beta1), static_cast<float>(c.beta2),
          static_cast<float>(1.0 - c.beta2), static_cast<float>(c.eps),
          static_cast<float>(c.weight_decay)};
}

void adam_update(std::span<float> p, std::span<const float> g, float* exp_avg,
                 float* exp_avg_sq, const Hyper& h, bool l2, double lr,
                 const OptimizerConfig& c, int64_t step) {
  const double t = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(c.beta1, t);
  const double bias_correction2 = 1.0 - std::pow(c.beta2, t);
  const float neg_step_size = static_cast<float>(-(lr / bias_correction1));
  const float bc2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  for (std::size_t i = 0; i < p.size(); ++i) {
    float grad = g[i];
    if (l2) grad = grad + h.weight_decay * p[i];
    exp_avg[i] = lerp(exp_avg[i], grad, h.one_minus_beta1);
    exp_avg_sq[i] = exp_avg_sq[i] * h.beta2 + h.one_minus_beta2 * grad * grad;
    const float denom = std::sqrt(exp_avg_sq[i]) / bc2_sqrt + h.eps;
    p[i] = p[i] + neg_step_size * exp_avg[i] / denom;
  }
}

void adamax_update(std::span<float> p, std::span<const float> g, float* exp_avg,
                   float* exp_inf, const Hyper& h, double lr,
                   const OptimizerConfig& c, int64_t step) {
  const double bias_correction = 1.0 - std::pow(c.beta1, static_cast<double>(step));
  const float neg_clr = static_cast<float>(-(lr / bias_correction));
  const bool l2 = c.weight_decay != 0.0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    float grad = g[i];
    if (l2) grad = grad + h.weight_decay * p[i];
    exp_avg[i] = lerp(exp_avg[i], grad, h.one_minus_beta1);
    exp_inf[i] = std::max(exp_inf[i] * h.beta2, std::fabs(grad) + h.eps);
    p[i] = p[i] + neg_clr * exp_avg[i] / exp_inf[i];
  }
}

}  // namespace

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
  const Hyper h = hyper_of(config_);
  switch (kind_) {
    case OptimizerKind::adam:
      adam_update(params, grads, exp_avg_.data(), second_.data(), h,
                  config_.weight_decay != 0.0, lr, config_, step_count_);
      break;
    case OptimizerKind::adamw: {
      // Decoupled decay first, as torch.optim.AdamW does.
      if (config_.weight_decay != 0.0) {
        const float keep = static_cast<float>(1.0 - lr * config_.weight_decay);
        for (float& p : params) p = p * keep;
      }
      adam_update(params, grads, exp_avg_.data(), second_.data(), h, false, lr,
                  config_, step_count_);
      break;
    }
    case OptimizerKind::adamax:
      adamax_update(params, grads, exp_avg_.data(), second_.data(), h, lr, config_,
                    step_count_);
      break;
  }
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config) {
  return std::make_unique<Optimizer>(config);
}

}  // namespace elm
