#include "train/lr_schedule.hpp"

#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace elm {

void validate(const LrScheduleConfig& c) {
  ELM_CHECK(c.kind == "cosine" || c.kind == "constant", "unknown lr schedule '", c.kind,
            "' (expected cosine or constant)");
  ELM_CHECK(std::isfinite(c.base_lr) && c.base_lr >= 0.0,
            "lr schedule base_lr must be finite and >= 0, got ", c.base_lr);
  ELM_CHECK(c.total_steps > 0, "lr schedule total_steps must be > 0, got ", c.total_steps);
  ELM_CHECK(c.warmup_steps >= 0, "lr schedule warmup_steps must be >= 0, got ", c.warmup_steps);
  ELM_CHECK(c.warmup_steps < c.total_steps, "lr schedule warmup_steps (", c.warmup_steps,
            ") must be less than total_steps (", c.total_steps, ")");
  ELM_CHECK(std::isfinite(c.min_lr) && c.min_lr >= 0.0 && c.min_lr <= c.base_lr,
            "lr schedule min_lr must be in [0, base_lr=", c.base_lr, "], got ", c.min_lr);
}

LrSchedule::LrSchedule(const LrScheduleConfig& config)
    : config_(config), cosine_(config.kind == "cosine") {
  validate(config_);
}

double LrSchedule::lr_at(int64_t step) const {
  ELM_CHECK(step >= 0, "lr schedule: step must be >= 0, got ", step);
  const auto& c = config_;
  if (step < c.warmup_steps) {
    return c.base_lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  }
  if (!cosine_) return c.base_lr;
  const int64_t t_max = c.total_steps - c.warmup_steps;
  const int64_t s = step - c.warmup_steps;
  if (s >= t_max) return c.min_lr;
  // Same expression and evaluation order as torch's closed form.
  return c.min_lr + (c.base_lr - c.min_lr) *
                        (1.0 + std::cos(std::numbers::pi * static_cast<double>(s) /
                                        static_cast<double>(t_max))) /
                        2.0;
}

}  // namespace elm
