#pragma once
// Per-element formulas of training (optimizer updates, loss terms) shared by
// the CPU code (g++) and the CUDA kernels (nvcc), so that both compute the same
// thing in the same order. Both compilers would fuse a*b+c into one FMA, which
// rounds once instead of twice: the arithmetic helpers below pin every product
// and sum to its own rounding on the device, and the host files that use them
// are compiled with -ffp-contract=off (CMakeLists.txt). That keeps the
// optimizer bit-identical across host and device. Division and sqrtf are
// correctly rounded on both (nvcc's defaults, no -use_fast_math); exp/log
// differ by an ulp or two.
#include <cstdint>

#if defined(__CUDACC__)
#define ELM_HOST_DEVICE __host__ __device__
#else
#define ELM_HOST_DEVICE
#endif

#include <cmath>

namespace elm {

enum class OptimizerKind { adam, adamw, adamax };

namespace step_math {

// a*b, a+b, a-b each rounded on its own, never fused into an FMA.
ELM_HOST_DEVICE inline float mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
ELM_HOST_DEVICE inline float add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
ELM_HOST_DEVICE inline float sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
ELM_HOST_DEVICE inline double mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
ELM_HOST_DEVICE inline double add(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
ELM_HOST_DEVICE inline double sub(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}

// The float and double overloads by one name, on host and device alike.
ELM_HOST_DEVICE inline float exp_of(float x) { return expf(x); }
ELM_HOST_DEVICE inline double exp_of(double x) { return exp(x); }
ELM_HOST_DEVICE inline float log_of(float x) { return logf(x); }
ELM_HOST_DEVICE inline double log_of(double x) { return log(x); }
ELM_HOST_DEVICE inline float log1p_of(float x) { return log1pf(x); }
ELM_HOST_DEVICE inline double log1p_of(double x) { return log1p(x); }
ELM_HOST_DEVICE inline float sqrt_of(float x) { return sqrtf(x); }
ELM_HOST_DEVICE inline float abs_of(float x) { return fabsf(x); }
ELM_HOST_DEVICE inline double abs_of(double x) { return fabs(x); }

// std::max(a, b) exactly (a unless a < b: NaN and signed zeros as the CPU code
// always had them), which fmaxf is not.
template <class T>
ELM_HOST_DEVICE inline T max_of(T a, T b) {
  return a < b ? b : a;
}

// torch's exp_avg.lerp_(grad, w) for a float tensor: the scalar weight is
// float, and the formula switches sides at 0.5 for accuracy.
ELM_HOST_DEVICE inline float lerp(float self, float end, float w) {
  return w < 0.5f ? add(self, mul(w, sub(end, self))) : sub(end, mul(sub(end, self), sub(1.0f, w)));
}

// The float scalars of one optimizer step. Python computes them in double and
// torch casts them to float when it applies them to a float tensor; the host
// fills this (optimizer_step_scalars in train/optimizer.hpp) for both the CPU
// loop and the device kernel.
struct OptimizerStepScalars {
  OptimizerKind kind = OptimizerKind::adam;
  float one_minus_beta1 = 0, beta2 = 0, one_minus_beta2 = 0, eps = 0;
  bool l2 = false;            // adam/adamax with weight decay: grad + weight_decay * p
  float weight_decay = 0;
  bool decoupled = false;     // adamw with weight decay: p * keep before the update
  float keep = 1;             // 1 - lr * weight_decay
  float neg_step_size = 0;    // adam/adamw: -lr / bias_correction1; adamax: -lr / bias_correction
  float bias_correction2_sqrt = 1;  // adam/adamw
};

// One parameter of Adam or AdamW (torch.optim single-tensor order).
ELM_HOST_DEVICE inline void adam_element(const OptimizerStepScalars& s, float& p, float g, float& exp_avg,
                                         float& exp_avg_sq) {
  if (s.decoupled) p = mul(p, s.keep);
  const float grad = s.l2 ? add(g, mul(s.weight_decay, p)) : g;
  exp_avg = lerp(exp_avg, grad, s.one_minus_beta1);
  exp_avg_sq = add(mul(exp_avg_sq, s.beta2), mul(mul(s.one_minus_beta2, grad), grad));
  const float denom = add(sqrt_of(exp_avg_sq) / s.bias_correction2_sqrt, s.eps);
  p = add(p, mul(s.neg_step_size, exp_avg) / denom);
}

// One parameter of Adamax (torch.optim single-tensor order).
ELM_HOST_DEVICE inline void adamax_element(const OptimizerStepScalars& s, float& p, float g, float& exp_avg,
                                           float& exp_inf) {
  const float grad = s.l2 ? add(g, mul(s.weight_decay, p)) : g;
  exp_avg = lerp(exp_avg, grad, s.one_minus_beta1);
  exp_inf = max_of(mul(exp_inf, s.beta2), add(abs_of(grad), s.eps));
  p = add(p, mul(s.neg_step_size, exp_avg) / exp_inf);
}

// Index of the largest of z[0..n); ties go to the lowest index and NaN never
// wins unless at index 0 (as std::max_element, torch.argmax and the CPU accuracy).
template <class T>
ELM_HOST_DEVICE inline int argmax_of(const T* z, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (z[best] < z[i]) best = i;
  return best;
}

// sum_k exp(z[k] - shift), summed in index order.
template <class T>
ELM_HOST_DEVICE inline T sum_exp_shifted(const T* z, int n, T shift) {
  T sum = 0;
  for (int k = 0; k < n; ++k) sum = add(sum, exp_of(sub(z[k], shift)));
  return sum;
}

// log(sum_k exp(z[k])) computed stably around the row's maximum.
template <class T>
ELM_HOST_DEVICE inline T log_sum_exp(const T* z, int n) {
  const T mx = z[argmax_of(z, n)];
  return add(mx, log_of(sum_exp_shifted(z, n, mx)));
}

// One term of BCE with logits, stable for either sign of x:
// max(x, 0) - x*s + log(1 + exp(-|x|)).
template <class T>
ELM_HOST_DEVICE inline T bce_with_logits(T x, T s) {
  return add(sub(max_of(x, T(0)), mul(x, s)), log1p_of(exp_of(-abs_of(x))));
}

template <class T>
ELM_HOST_DEVICE inline T sigmoid(T x) {
  return T(1) / add(T(1), exp_of(-x));
}

}  // namespace step_math
}  // namespace elm
