#pragma once
// Gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (L2, one norm over
// all parameters, which here live in one flat buffer).
#include <optional>
#include <span>

namespace elm {

// L2 norm of the whole buffer, accumulated in double.
double grad_norm(std::span<const float> grads);

// Scales grads by max_norm / (norm + 1e-6) when that factor is below 1 (torch's
// clamp), and returns the norm before clipping. A non-finite norm (inf/nan
// gradients) is returned with the gradients left untouched, so the caller can
// skip the step or stop; torch would instead multiply everything by nan.
double clip_grad_norm(std::span<float> grads, double max_norm);

// The float factor clip_grad_norm multiplies the gradients by for a norm
// computed elsewhere (the GPU path), or nothing when they stay as they are
// (factor >= 1, or a non-finite norm). Throws for a max_norm that is not > 0.
std::optional<float> clip_scale(double norm, double max_norm);

}  // namespace elm
