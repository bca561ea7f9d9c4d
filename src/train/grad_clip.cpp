#include "train/grad_clip.hpp"

#include <cmath>

#include "core/error.hpp"

namespace elm {

double grad_norm(std::span<const float> grads) {
  double sum_sq = 0.0;
  for (float g : grads) sum_sq += static_cast<double>(g) * static_cast<double>(g);
  return std::sqrt(sum_sq);
}

std::optional<float> clip_scale(double norm, double max_norm) {
  ELM_CHECK(std::isfinite(max_norm) && max_norm > 0.0,
            "gradient clipping max_norm must be finite and > 0, got ", max_norm);
  if (!std::isfinite(norm)) return std::nullopt;
  const double coef = max_norm / (norm + 1e-6);
  if (!(coef < 1.0)) return std::nullopt;
  // torch multiplies by a float32 tensor holding the coefficient.
  return static_cast<float>(coef);
}

double clip_grad_norm(std::span<float> grads, double max_norm) {
  const double norm = grad_norm(grads);
  if (const std::optional<float> scale = clip_scale(norm, max_norm))
    for (float& g : grads) g *= *scale;
  return norm;
}

}  // namespace elm
