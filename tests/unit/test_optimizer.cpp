// Hand-checkable properties of the optimizers, the learning-rate schedule and
// gradient clipping; bit-level agreement with torch is checked by the golden
// cases (tests/golden/check_optimizer_case.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "core/error.hpp"
#include "train/grad_clip.hpp"
#include "train/lr_schedule.hpp"
#include "train/optimizer.hpp"

namespace elm {
namespace {

OptimizerConfig config_of(const std::string& kind, double eps = 0.0, double wd = 0.0) {
  OptimizerConfig c;
  c.kind = kind;
  c.lr = 0.01;
  c.eps = eps;
  c.weight_decay = wd;
  return c;
}

// With eps = 0 the bias-corrected first Adam step is exactly lr * sign(g),
// whatever the gradient's magnitude.
TEST(Optimizer, AdamFirstStepMovesByLrTimesSign) {
  Optimizer opt(config_of("adam"));
  std::vector<float> p = {1.0f, -2.0f, 0.5f, 3.0f};
  const std::vector<float> g = {0.3f, -7.0f, 1e-3f, -0.02f};
  opt.step(p, g, 0.01);
  EXPECT_NEAR(p[0], 1.0f - 0.01f, 1e-7);
  EXPECT_NEAR(p[1], -2.0f + 0.01f, 1e-7);
  EXPECT_NEAR(p[2], 0.5f - 0.01f, 1e-7);
  EXPECT_NEAR(p[3], 3.0f + 0.01f, 1e-7);
  EXPECT_EQ(opt.step_count(), 1);
}

// A constant gradient keeps m_hat = g and v_hat = g^2, so every step is lr*sign(g).
TEST(Optimizer, AdamConstantGradientStepsUniformly) {
  Optimizer opt(config_of("adam"));
  std::vector<float> p = {0.0f};
  const std::vector<float> g = {-4.0f};
  for (int s = 0; s < 5; ++s) opt.step(p, g, 0.1);
  EXPECT_NEAR(p[0], 0.5f, 1e-6);
}

TEST(Optimizer, UsesTheLearningRatePassedToStep) {
  Optimizer opt(config_of("adam"));
  std::vector<float> p = {1.0f};
  const std::vector<float> g = {1.0f};
  opt.step(p, g, 0.0);
  EXPECT_EQ(p[0], 1.0f);
  opt.step(p, g, 0.25);
  EXPECT_NEAR(p[0], 0.75f, 1e-6);
}

// Adam's weight decay is an L2 term in the gradient: with g = 0 the gradient
// becomes wd * p, and the first step is still lr * sign(p).
TEST(Optimizer, AdamWeightDecayIsL2OnTheGradient) {
  Optimizer opt(config_of("adam", 0.0, 0.5));
  std::vector<float> p = {2.0f, -3.0f};
  const std::vector<float> g = {0.0f, 0.0f};
  opt.step(p, g, 0.1);
  EXPECT_NEAR(p[0], 1.9f, 1e-6);
  EXPECT_NEAR(p[1], -2.9f, 1e-6);
}

// AdamW decays the parameter itself: with g = 0 the Adam part is 0/eps = 0.
TEST(Optimizer, AdamWDecayIsDecoupled) {
  Optimizer opt(config_of("adamw", 1e-8, 0.5));
  std::vector<float> p = {2.0f, -4.0f};
  const std::vector<float> g = {0.0f, 0.0f};
  opt.step(p, g, 0.1);
  EXPECT_FLOAT_EQ(p[0], 2.0f * 0.95f);
  EXPECT_FLOAT_EQ(p[1], -4.0f * 0.95f);
}

TEST(Optimizer, AdamWWithoutDecayEqualsAdam) {
  Optimizer adam(config_of("adam", 1e-8));
  Optimizer adamw(config_of("adamw", 1e-8));
  std::vector<float> pa = {0.1f, 0.2f, -0.3f}, pw = pa;
  const std::vector<float> g1 = {1.0f, -0.5f, 0.25f}, g2 = {-0.2f, 0.1f, 0.7f};
  for (const auto* g : {&g1, &g2, &g1}) {
    adam.step(pa, *g, 0.01);
    adamw.step(pw, *g, 0.01);
  }
  EXPECT_EQ(pa, pw);
}

// Adamax's first step is lr * g / (|g| + eps); then exp_inf decays by beta2
// when the gradient vanishes.
TEST(Optimizer, AdamaxFirstStepAndInfinityNorm) {
  OptimizerConfig c = config_of("adamax", 1e-8);
  Optimizer opt(c);
  std::vector<float> p = {1.0f, 1.0f};
  opt.step(p, std::vector<float>{2.0f, -0.5f}, 0.01);
  EXPECT_NEAR(p[0], 0.99f, 1e-6);
  EXPECT_NEAR(p[1], 1.01f, 1e-6);
  EXPECT_FLOAT_EQ(opt.state_buffer(1)[0], 2.0f + 1e-8f);
  opt.step(p, std::vector<float>{0.0f, 0.0f}, 0.01);
  EXPECT_FLOAT_EQ(opt.state_buffer(1)[0], (2.0f + 1e-8f) * 0.999f);
  EXPECT_FLOAT_EQ(opt.state_buffer(0)[0], 0.9f * 0.2f);
}

// eps keeps a never-seen gradient (exp_inf = 0) from producing 0/0.
TEST(Optimizer, AdamaxZeroGradientStaysFinite) {
  Optimizer opt(config_of("adamax", 1e-8));
  std::vector<float> p = {0.5f};
  opt.step(p, std::vector<float>{0.0f}, 0.01);
  EXPECT_EQ(p[0], 0.5f);
  EXPECT_FLOAT_EQ(opt.state_buffer(1)[0], 1e-8f);
}

TEST(Optimizer, StateBuffersAreNamedAndSizedLazily) {
  Optimizer adam(config_of("adam"));
  EXPECT_TRUE(adam.state_buffer(0).empty());
  std::vector<float> p(7, 1.0f);
  adam.step(p, std::vector<float>(7, 0.5f), 0.01);
  EXPECT_EQ(adam.state_buffer(0).size(), 7u);
  EXPECT_EQ(adam.state_buffer(1).size(), 7u);
  EXPECT_EQ(adam.state_buffer_name(0), "exp_avg");
  EXPECT_EQ(adam.state_buffer_name(1), "exp_avg_sq");
  EXPECT_EQ(Optimizer(config_of("adamax")).state_buffer_name(1), "exp_inf");
  adam.reset();
  EXPECT_EQ(adam.step_count(), 0);
  EXPECT_TRUE(adam.state_buffer(1).empty());
}

// Restoring step count and buffers into a fresh optimizer continues the run
// bit for bit, which is what checkpoint/resume relies on.
TEST(Optimizer, RestoredStateResumesExactly) {
  for (const char* kind : {"adam", "adamw", "adamax"}) {
    const OptimizerConfig c = config_of(kind, 1e-8, 0.01);
    const std::vector<std::vector<float>> grads = {
        {0.5f, -1.0f, 2.0f}, {0.1f, 0.3f, -0.2f}, {-0.7f, 0.0f, 1.5f}, {0.2f, 0.2f, 0.2f}};
    Optimizer straight(c);
    std::vector<float> p_straight = {0.3f, -0.1f, 0.8f};
    for (int s = 0; s < 4; ++s) straight.step(p_straight, grads[s], 0.01 * (s + 1));

    Optimizer first(c);
    std::vector<float> p = {0.3f, -0.1f, 0.8f};
    for (int s = 0; s < 2; ++s) first.step(p, grads[s], 0.01 * (s + 1));
    Optimizer resumed(c);
    resumed.set_step_count(first.step_count());
    for (std::size_t i = 0; i < Optimizer::num_state_buffers(); ++i)
      resumed.state_buffer(i) = first.state_buffer(i);
    for (int s = 2; s < 4; ++s) resumed.step(p, grads[s], 0.01 * (s + 1));
    EXPECT_EQ(p, p_straight) << kind;
    EXPECT_EQ(resumed.step_count(), 4) << kind;
  }
}

TEST(Optimizer, RejectsBadConfigAndSizes) {
  try {
    make_optimizer(config_of("sgd"));
    FAIL() << "expected ElmError";
  } catch (const ElmError& e) {
    EXPECT_NE(std::string(e.what()).find("'sgd'"), std::string::npos) << e.what();
  }
  OptimizerConfig c = config_of("adam");
  c.beta2 = 1.0;
  EXPECT_THROW(make_optimizer(c), ElmError);
  c = config_of("adamw", -1.0);
  EXPECT_THROW(make_optimizer(c), ElmError);

  auto opt = make_optimizer(config_of("adamw"));
  EXPECT_EQ(opt->kind(), OptimizerKind::adamw);
  std::vector<float> p(3, 0.0f);
  EXPECT_THROW(opt->step(p, std::vector<float>(2, 0.0f), 0.01), ElmError);
  opt->step(p, std::vector<float>(3, 0.0f), 0.01);
  std::vector<float> other(4, 0.0f);  // state no longer fits
  EXPECT_THROW(opt->step(other, std::vector<float>(4, 0.0f), 0.01), ElmError);
  EXPECT_THROW(opt->step(p, std::vector<float>(3, 0.0f), std::nan("")), ElmError);
  EXPECT_THROW(opt->set_step_count(-1), ElmError);
}

// --- learning-rate schedule -------------------------------------------------

LrScheduleConfig cosine(double base, int64_t total, int64_t warmup = 0, double min_lr = 0.0) {
  LrScheduleConfig c;
  c.kind = "cosine";
  c.base_lr = base;
  c.total_steps = total;
  c.warmup_steps = warmup;
  c.min_lr = min_lr;
  return c;
}

TEST(LrSchedule, CosineEndpointsAndMidpoint) {
  const LrSchedule s(cosine(0.005, 10));
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.005);
  EXPECT_NEAR(s.lr_at(5), 0.0025, 1e-18);
  // torch CosineAnnealingLR(T_max=10) at step 1: (1 + cos(pi/10)) / 2 * base.
  EXPECT_NEAR(s.lr_at(1), 0.005 * (1 + std::cos(std::numbers::pi / 10)) / 2, 1e-18);
  EXPECT_GT(s.lr_at(9), 0.0);
  EXPECT_EQ(s.lr_at(10), 0.0);
  EXPECT_EQ(s.lr_at(25), 0.0);  // stays at the floor past the end
  for (int64_t i = 1; i < 10; ++i) EXPECT_LT(s.lr_at(i), s.lr_at(i - 1));
}

TEST(LrSchedule, CosineWithFloor) {
  const LrSchedule s(cosine(1.0, 4, 0, 0.2));
  EXPECT_DOUBLE_EQ(s.lr_at(0), 1.0);
  EXPECT_NEAR(s.lr_at(2), 0.6, 1e-15);
  EXPECT_DOUBLE_EQ(s.lr_at(4), 0.2);
}

TEST(LrSchedule, WarmupRampsThenCosine) {
  const LrSchedule s(cosine(0.1, 14, 4));
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.025);
  EXPECT_DOUBLE_EQ(s.lr_at(1), 0.05);
  EXPECT_DOUBLE_EQ(s.lr_at(3), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(4), 0.1);           // cosine starts at the base rate
  EXPECT_NEAR(s.lr_at(9), 0.05, 1e-15);        // halfway through the 10 cosine steps
  EXPECT_EQ(s.lr_at(14), 0.0);
}

TEST(LrSchedule, Constant) {
  LrScheduleConfig c = cosine(0.3, 5, 2);
  c.kind = "constant";
  const LrSchedule s(c);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.15);
  EXPECT_DOUBLE_EQ(s.lr_at(1), 0.3);
  EXPECT_DOUBLE_EQ(s.lr_at(4), 0.3);
  EXPECT_DOUBLE_EQ(s.lr_at(100), 0.3);
}

TEST(LrSchedule, RejectsBadValues) {
  EXPECT_THROW(LrSchedule(cosine(0.1, 0)), ElmError);
  EXPECT_THROW(LrSchedule(cosine(0.1, 10, -1)), ElmError);
  EXPECT_THROW(LrSchedule(cosine(0.1, 10, 10)), ElmError);
  EXPECT_THROW(LrSchedule(cosine(-0.1, 10)), ElmError);
  EXPECT_THROW(LrSchedule(cosine(0.1, 10, 0, 0.2)), ElmError);
  LrScheduleConfig c = cosine(0.1, 10);
  c.kind = "linear";
  try {
    LrSchedule s(c);
    FAIL() << "expected ElmError";
  } catch (const ElmError& e) {
    EXPECT_NE(std::string(e.what()).find("'linear'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(LrSchedule(cosine(0.1, 10)).lr_at(-1), ElmError);
}

// --- gradient clipping ------------------------------------------------------

TEST(GradClip, ScalesToMaxNorm) {
  std::vector<float> g = {3.0f, 4.0f};
  const double norm = clip_grad_norm(g, 1.0);
  EXPECT_DOUBLE_EQ(norm, 5.0);
  EXPECT_NEAR(g[0], 0.6f, 1e-6);
  EXPECT_NEAR(g[1], 0.8f, 1e-6);
  EXPECT_NEAR(grad_norm(g), 1.0, 1e-6);
  EXPECT_LT(grad_norm(g), 1.0);  // the 1e-6 in the denominator lands just below
}

TEST(GradClip, LeavesSmallGradientsAlone) {
  std::vector<float> g = {0.3f, -0.4f};
  EXPECT_NEAR(clip_grad_norm(g, 1.0), 0.5, 1e-7);
  EXPECT_EQ(g, (std::vector<float>{0.3f, -0.4f}));
}

TEST(GradClip, ReportsNonFiniteNormWithoutTouchingGradients) {
  std::vector<float> g = {1.0f, std::nanf(""), 2.0f};
  EXPECT_TRUE(std::isnan(clip_grad_norm(g, 1.0)));
  EXPECT_EQ(g[0], 1.0f);
  EXPECT_EQ(g[2], 2.0f);
  std::vector<float> h = {1.0f, INFINITY};
  EXPECT_TRUE(std::isinf(clip_grad_norm(h, 1.0)));
  EXPECT_EQ(h[0], 1.0f);
}

TEST(GradClip, RejectsNonPositiveMaxNorm) {
  std::vector<float> g = {1.0f};
  EXPECT_THROW(clip_grad_norm(g, 0.0), ElmError);
  EXPECT_THROW(clip_grad_norm(g, -1.0), ElmError);
}

}  // namespace
}  // namespace elm
