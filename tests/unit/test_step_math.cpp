// The shared per-element training formulas (backend/step_math.hpp) as g++
// compiles them, and the host-side helpers the GPU path uses:
//  - Optimizer (which now runs on step_math) is bit-identical to torch's
//    single-tensor float32 algorithm written out here op by op, for every kind,
//    with and without weight decay, over several steps;
//  - optimizer_step_scalars: which weight decay each kind applies;
//  - clip_scale: the factor clip_grad_norm applies, and when it applies none;
//  - argmax_of ties and NaN as the accuracy's argmax; log_sum_exp and
//    bce_with_logits against double-precision formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "backend/step_math.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "train/classification_metrics.hpp"
#include "train/grad_clip.hpp"
#include "train/optimizer.hpp"

namespace elm {
namespace {

// torch.optim's _single_tensor_adam/_adamw/_adamax on float32 tensors, each
// tensor op rounded to float, the Python scalars computed in double.
struct TorchReference {
  OptimizerConfig c;
  std::vector<float> m, v;
  int64_t t = 0;

  void step(std::vector<float>& p, const std::vector<float>& g, double lr) {
    if (m.empty()) m.assign(p.size(), 0.0f), v.assign(p.size(), 0.0f);
    ++t;
    const bool adamw = c.kind == "adamw", adamax = c.kind == "adamax";
    const float wd = float(c.weight_decay), b1c = float(1.0 - c.beta1), b2 = float(c.beta2),
                b2c = float(1.0 - c.beta2), eps = float(c.eps);
    const double bc1 = 1.0 - std::pow(c.beta1, double(t)), bc2 = 1.0 - std::pow(c.beta2, double(t));
    const float neg_step = float(-(lr / bc1)), bc2_sqrt = float(std::sqrt(bc2));
    if (adamw && c.weight_decay != 0.0) {
      const float keep = float(1.0 - lr * c.weight_decay);
      for (float& x : p) x = x * keep;
    }
    for (size_t i = 0; i < p.size(); ++i) {
      float grad = g[i];
      if (!adamw && c.weight_decay != 0.0) grad = grad + wd * p[i];
      m[i] = b1c < 0.5f ? m[i] + b1c * (grad - m[i]) : grad - (grad - m[i]) * (1.0f - b1c);
      if (adamax) {
        v[i] = std::max(v[i] * b2, std::fabs(grad) + eps);
        p[i] = p[i] + neg_step * m[i] / v[i];
      } else {
        v[i] = v[i] * b2 + b2c * grad * grad;
        const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
        p[i] = p[i] + neg_step * m[i] / denom;
      }
    }
  }
};

std::vector<float> normal_floats(size_t n, uint64_t seed, double scale) {
  RngStream rng(seed, 3);
  std::vector<float> v(n);
  for (auto& x : v) x = float(scale * rng.normal());
  return v;
}

size_t count_bit_differences(const std::vector<float>& a, const std::vector<float>& b) {
  size_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) bad += std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i]);
  return bad;
}

TEST(StepMath, OptimizerIsBitIdenticalToTorchWrittenOut) {
  for (const char* kind : {"adam", "adamw", "adamax"}) {
    for (const double wd : {0.0, 0.1}) {
      for (const double beta1 : {0.9, 0.3}) {  // both sides of torch's lerp switch
        OptimizerConfig c;
        c.kind = kind;
        c.weight_decay = wd;
        c.beta1 = beta1;
        Optimizer opt(c);
        TorchReference ref{c, {}, {}, 0};
        std::vector<float> p = normal_floats(1001, 1, 0.5), q = p;
        for (int step = 1; step <= 6; ++step) {
          std::vector<float> g = normal_floats(p.size(), 10 + step, std::pow(10.0, step - 4));
          g[step] = 0.0f;
          const double lr = 1e-2 / step;
          opt.step(p, g, lr);
          ref.step(q, g, lr);
          SCOPED_TRACE(std::string(kind) + " wd " + std::to_string(wd) + " beta1 " + std::to_string(beta1) +
                       " step " + std::to_string(step));
          EXPECT_EQ(count_bit_differences(p, q), 0u);
          EXPECT_EQ(count_bit_differences(opt.state_buffer(0), ref.m), 0u);
          EXPECT_EQ(count_bit_differences(opt.state_buffer(1), ref.v), 0u);
        }
      }
    }
  }
}

TEST(StepMath, StepScalarsApplyEachKindsWeightDecay) {
  OptimizerConfig c;
  c.weight_decay = 0.5;
  c.kind = "adam";
  auto s = optimizer_step_scalars(c, 0.1, 1);
  EXPECT_TRUE(s.l2);
  EXPECT_FALSE(s.decoupled);
  c.kind = "adamax";
  s = optimizer_step_scalars(c, 0.1, 1);
  EXPECT_TRUE(s.l2);
  EXPECT_FALSE(s.decoupled);
  EXPECT_EQ(s.neg_step_size, float(-(0.1 / (1.0 - 0.9))));
  c.kind = "adamw";
  s = optimizer_step_scalars(c, 0.1, 1);
  EXPECT_FALSE(s.l2);
  EXPECT_TRUE(s.decoupled);
  EXPECT_EQ(s.keep, float(1.0 - 0.1 * 0.5));
  c.weight_decay = 0.0;
  s = optimizer_step_scalars(c, 0.1, 3);
  EXPECT_FALSE(s.l2 || s.decoupled);
  EXPECT_EQ(s.bias_correction2_sqrt, float(std::sqrt(1.0 - std::pow(0.999, 3.0))));
}

TEST(StepMath, ClipScaleIsTheFactorClipGradNormApplies) {
  std::vector<float> g = {3.0f, -4.0f, 0.5f};
  const double norm = grad_norm(g);
  const std::optional<float> s = clip_scale(norm, 1.0);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(*s, float(1.0 / (norm + 1e-6)));
  std::vector<float> clipped = g;
  EXPECT_EQ(clip_grad_norm(clipped, 1.0), norm);
  for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(clipped[i], g[i] * *s);
  EXPECT_FALSE(clip_scale(norm, norm + 1.0).has_value());  // factor >= 1: untouched
  EXPECT_FALSE(clip_scale(std::numeric_limits<double>::infinity(), 1.0).has_value());
  EXPECT_FALSE(clip_scale(std::nan(""), 1.0).has_value());
  EXPECT_THROW(clip_scale(1.0, 0.0), ElmError);
}

TEST(StepMath, ArgmaxTiesAndNanAsTheAccuracy) {
  const float nan = std::nanf("");
  const std::vector<std::vector<float>> rows = {
      {1, 3, 3, 2}, {5, 5}, {nan, 1, 2}, {1, nan, 0}, {-1, -1, -1}, {0.0f, -0.0f}, {-0.0f, 0.0f}, {2}};
  for (const auto& r : rows)
    EXPECT_EQ(size_t(step_math::argmax_of(r.data(), int(r.size()))), argmax(r)) << r.size() << " entries";
}

TEST(StepMath, LossTermsAgreeWithDoublePrecision) {
  const std::vector<float> z = {80.0f, -3.0f, 79.5f, 0.25f};
  double mx = 80.0, sum = 0;
  for (float x : z) sum += std::exp(double(x) - mx);
  EXPECT_NEAR(step_math::log_sum_exp(z.data(), int(z.size())), mx + std::log(sum), 1e-5);
  for (const float x : {-30.0f, -2.0f, 0.0f, 0.7f, 40.0f})
    for (const float s : {0.0f, 1.0f}) {
      // -(s log p + (1-s) log(1-p)) = s softplus(-x) + (1-s) softplus(x)
      const auto softplus = [](double a) { return a > 0 ? a + std::log1p(std::exp(-a)) : std::log1p(std::exp(a)); };
      const double p = 1.0 / (1.0 + std::exp(-double(x)));
      const double bce = s * softplus(-double(x)) + (1 - s) * softplus(double(x));
      EXPECT_NEAR(step_math::bce_with_logits(x, s), bce, 1e-6 * std::max(1.0, bce)) << x << " " << s;
      EXPECT_NEAR(step_math::sigmoid(x), p, 1e-7) << x;
    }
}

}  // namespace
}  // namespace elm
