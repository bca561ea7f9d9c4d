// The device training math (backend/cuda/train_kernels.cuh) against the CPU
// functions it mirrors, on random data of realistic sizes:
//  - optimizer: adam/adamw/adamax x 5 steps, weight decay 0 and not, n not a
//    multiple of the block size: parameters and both state buffers bit-identical;
//  - sum of squares within 1e-10 of grad_norm^2 (another summation order); clipping with the
//    host factor (clip_scale) bit-identical to clip_grad_norm;
//  - last-step cross-entropy (C = 2, 10, 20) and NeuronIO (8 x 500) losses
//    within 1e-6 relative, dy within 1e-6 of the largest entry, entries the
//    loss does not look at left untouched, eval sums including argmax ties;
//  - the two-tower head forward/backward/eval against two_tower_head within 1e-5.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "backend/cuda/train_kernels.cuh"
#include "cuda_test_support.hpp"
#include "core/rng.hpp"
#include "cuda_test_support.hpp"
#include "model/param_layout.hpp"
#include "train/classification_metrics.hpp"
#include "train/cuda_optimizer_step.cuh"
#include "train/grad_clip.hpp"
#include "train/loss.hpp"
#include "train/optimizer.hpp"
#include "train/two_tower.hpp"

namespace elm::test {
namespace {

// Device copy of a host vector; download() brings it back.
template <class T>
class DeviceVec {
 public:
  explicit DeviceVec(const std::vector<T>& host) : n_(host.size()) {
    EXPECT_EQ(cudaMalloc(&p_, std::max<size_t>(n_, 1) * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceVec() { cudaFree(p_); }
  DeviceVec(const DeviceVec&) = delete;
  DeviceVec& operator=(const DeviceVec&) = delete;
  T* get() { return p_; }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

std::vector<float> normal_floats(size_t n, uint64_t seed, double scale = 1.0) {
  RngStream rng(seed, 11);
  std::vector<float> v(n);
  for (auto& x : v) x = float(scale * rng.normal());
  return v;
}

std::vector<int32_t> labels32(const std::vector<int64_t>& labels) { return {labels.begin(), labels.end()}; }

std::vector<int64_t> random_labels(int n, int classes, uint64_t seed) {
  RngStream rng(seed, 13);
  std::vector<int64_t> l(n);
  for (auto& x : l) x = int64_t(rng.below(classes));
  return l;
}

// Every entry bit-identical; names the first that is not.
void expect_bitwise(const std::vector<float>& got, const std::vector<float>& ref, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  size_t bad = 0, first = got.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(ref[i])) {
      if (bad++ == 0) first = i;
    }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " entries differ, first at " << first
                     << " (got " << (bad ? got[first] : 0.f) << ", CPU " << (bad ? ref[first] : 0.f) << ")";
}

void expect_rel(double got, double ref, double tol, const std::string& what) {
  EXPECT_LE(std::abs(got - ref), tol * std::abs(ref)) << what << ": got " << got << ", CPU " << ref;
}

// ---------------- optimizer ----------------

struct OptCase {
  const char* kind;
  double weight_decay;
};
std::ostream& operator<<(std::ostream& os, const OptCase& c) { return os << c.kind << " wd " << c.weight_decay; }

class TrainKernelsOptimizer : public ::testing::TestWithParam<OptCase> {};

TEST_P(TrainKernelsOptimizer, FiveStepsBitIdenticalToCpu) {
  ELM_REQUIRE_GPU();
  const OptCase oc = GetParam();
  OptimizerConfig config;
  config.kind = oc.kind;
  config.lr = 3e-3;
  config.weight_decay = oc.weight_decay;
  const int64_t n = 100003;  // not a multiple of the block size
  std::vector<float> p = normal_floats(n, 1, 0.5);
  Optimizer cpu(config);
  std::vector<float> zeros(n, 0.0f);
  DeviceVec<float> dp(p), dm(zeros), dv(zeros);
  std::vector<float> cpu_p = p;
  for (int step = 1; step <= 5; ++step) {
    // Gradients spanning magnitudes, some exactly zero.
    std::vector<float> g = normal_floats(n, 100 + step, std::pow(10.0, step - 3));
    for (int64_t i = 0; i < n; i += 97) g[i] = 0.0f;
    const double lr = config.lr * (1.0 - 0.1 * step);  // a changing schedule
    cpu.step(cpu_p, g, lr);
    DeviceVec<float> dg(g);
    cuda::launch_optimizer_step(config, lr, step, dp.get(), dg.get(), dm.get(), dv.get(), n, nullptr);
    const std::string at = std::string(oc.kind) + " wd " + std::to_string(oc.weight_decay) + " step " +
                           std::to_string(step);
    expect_bitwise(dp.download(), cpu_p, at + " params");
    expect_bitwise(dm.download(), cpu.state_buffer(0), at + " exp_avg");
    expect_bitwise(dv.download(), cpu.state_buffer(1), at + " " + std::string(cpu.state_buffer_name(1)));
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, TrainKernelsOptimizer,
                         ::testing::Values(OptCase{"adam", 0.0}, OptCase{"adam", 0.05}, OptCase{"adamw", 0.0},
                                           OptCase{"adamw", 0.05}, OptCase{"adamax", 0.0},
                                           OptCase{"adamax", 0.05}),
                         [](const auto& info) {
                           return std::string(info.param.kind) + (info.param.weight_decay != 0 ? "_wd" : "");
                         });

// ---------------- gradient norm and clipping ----------------

TEST(TrainKernels, SumSquaresMatchesGradNormAndClippingIsBitIdentical) {
  ELM_REQUIRE_GPU();
  for (const int64_t n : {int64_t(1), int64_t(1000), int64_t(2'000'003)}) {
    const std::vector<float> g = normal_floats(size_t(n), 7 + n, 0.3);
    DeviceVec<float> dg(g);
    DeviceVec<double> dsum(std::vector<double>{-1.0});
    cuda::launch_sum_squares(dg.get(), n, dsum.get(), nullptr);
    const double dev_sum = dsum.download()[0];
    const double cpu_norm = grad_norm(g);
    expect_rel(dev_sum, cpu_norm * cpu_norm, 1e-10, "sum of squares of " + std::to_string(n));
    // Deterministic: the same bits again.
    cuda::launch_sum_squares(dg.get(), n, dsum.get(), nullptr);
    EXPECT_EQ(std::bit_cast<uint64_t>(dsum.download()[0]), std::bit_cast<uint64_t>(dev_sum));

    for (const double max_norm : {0.5 * cpu_norm, 2.0 * cpu_norm}) {
      std::vector<float> cpu_g = g;
      clip_grad_norm(cpu_g, max_norm);
      const std::optional<float> dev_scale = clip_scale(std::sqrt(dev_sum), max_norm);
      const std::optional<float> cpu_scale = clip_scale(cpu_norm, max_norm);
      ASSERT_EQ(dev_scale.has_value(), cpu_scale.has_value());
      DeviceVec<float> clipped(g);
      if (dev_scale) {
        EXPECT_EQ(*dev_scale, *cpu_scale);
        cuda::launch_scale(clipped.get(), n, *dev_scale, nullptr);
      }
      expect_bitwise(clipped.download(), cpu_g, "clipped gradients of " + std::to_string(n));
    }
  }
}

// ---------------- last-step cross-entropy ----------------

struct CeCase {
  int B, T, C;
};
std::ostream& operator<<(std::ostream& os, const CeCase& c) { return os << c.B << "x" << c.T << "x" << c.C; }

class TrainKernelsCe : public ::testing::TestWithParam<CeCase> {};

TEST_P(TrainKernelsCe, MatchesCpuLossGradientAndAccuracy) {
  ELM_REQUIRE_GPU();
  const auto [B, T, C] = GetParam();
  std::vector<float> y = normal_floats(size_t(B) * T * C, 21 + C, 2.0);
  const std::vector<int64_t> labels = random_labels(B, C, 5 + C);
  // Ties at the top of some rows, the label on the later of the tied indices
  // (a wrong prediction under lowest-index ties) or on the first.
  for (int b = 0; b < B; b += 5) {
    float* last = y.data() + (size_t(b) * T + T - 1) * C;
    const int hi = int(labels[b]), lo = (hi + C - 1) % C;
    last[hi] = last[lo] = 9.0f;
  }
  std::vector<float> cpu_dy(y.size());
  const float cpu_loss = last_step_cross_entropy(y.data(), B, T, C, labels.data(), cpu_dy.data());
  const float sentinel = 7.0f;
  DeviceVec<float> dy_dev(std::vector<float>(y.size(), sentinel)), dloss(std::vector<float>{0.0f});
  DeviceVec<float> dy_in(y);
  DeviceVec<int32_t> dl(labels32(labels));
  cuda::launch_last_step_ce(dy_in.get(), B, T, C, dl.get(), dy_dev.get(), dloss.get(), nullptr);
  expect_rel(dloss.download()[0], cpu_loss, 1e-6, "loss");
  std::vector<float> got = dy_dev.download();
  for (size_t i = 0; i < got.size(); ++i)
    if ((i / C) % T != size_t(T - 1)) {
      ASSERT_EQ(got[i], sentinel) << "dy written off the last step at " << i;
      got[i] = 0.0f;  // as the CPU's zero fill
    }
  expect_close_to_max(got, cpu_dy, 1e-6, "dy");

  // Evaluation sums add to what is there.
  std::vector<float> last(size_t(B) * C);
  for (int b = 0; b < B; ++b)
    std::copy_n(y.data() + (size_t(b) * T + T - 1) * C, C, last.data() + size_t(b) * C);
  const double cpu_correct = double(count_correct(last, std::span<const int64_t>(labels), size_t(C)));
  DeviceVec<double> sums(std::vector<double>{1.5, 2.0});
  cuda::launch_last_step_ce_eval(dy_in.get(), B, T, C, dl.get(), sums.get(), nullptr);
  const std::vector<double> s = sums.download();
  expect_rel(s[0] - 1.5, double(cpu_loss) * B, 1e-6, "eval loss sum");
  EXPECT_EQ(s[1] - 2.0, cpu_correct);
}

INSTANTIATE_TEST_SUITE_P(Shapes, TrainKernelsCe,
                         ::testing::Values(CeCase{37, 5, 10}, CeCase{300, 2, 2}, CeCase{64, 3, 20}, CeCase{1, 1, 10}),
                         [](const auto& info) {
                           return "B" + std::to_string(info.param.B) + "_T" + std::to_string(info.param.T) + "_C" +
                                  std::to_string(info.param.C);
                         });

// ---------------- NeuronIO ----------------

TEST(TrainKernels, NeuronioLossMatchesCpu) {
  ELM_REQUIRE_GPU();
  for (const auto [B, T] : {std::pair{8, 500}, std::pair{3, 7}, std::pair{64, 2000}}) {
    const int d_o = 3;  // the third output is not looked at
    const int64_t n = int64_t(B) * T;
    std::vector<float> y = normal_floats(size_t(n) * d_o, 31 + B, 3.0);
    std::vector<float> spike(n), soma = normal_floats(size_t(n), 33 + B);
    RngStream rng(35, 1);
    for (auto& s : spike) s = rng.uniform() < 0.05 ? 1.0f : 0.0f;
    std::vector<float> cpu_dy(y.size());
    const float cpu_loss = neuronio_loss(y.data(), B, T, d_o, spike.data(), soma.data(), cpu_dy.data());
    const float sentinel = -3.0f;
    DeviceVec<float> dy_in(y), dspike(spike), dsoma(soma), dloss(std::vector<float>{0.0f});
    DeviceVec<float> ddy(std::vector<float>(y.size(), sentinel));
    cuda::launch_neuronio_loss(dy_in.get(), B, T, d_o, dspike.get(), dsoma.get(), ddy.get(), dloss.get(), nullptr);
    const float got_loss = dloss.download()[0];
    expect_rel(got_loss, cpu_loss, 1e-6, "NeuronIO loss " + std::to_string(B) + "x" + std::to_string(T));
    std::vector<float> got = ddy.download();
    for (int64_t r = 0; r < n; ++r) {
      ASSERT_EQ(got[r * d_o + 2], sentinel) << "output 2 written at row " << r;
      got[r * d_o + 2] = 0.0f;
    }
    expect_close_to_max(got, cpu_dy, 1e-6, "NeuronIO dy");
    cuda::launch_neuronio_loss(dy_in.get(), B, T, d_o, dspike.get(), dsoma.get(), ddy.get(), dloss.get(), nullptr);
    EXPECT_EQ(std::bit_cast<uint32_t>(dloss.download()[0]), std::bit_cast<uint32_t>(got_loss)) << "not deterministic";
  }
}

// ---------------- two-tower head ----------------

TEST(TrainKernels, TwoTowerHeadMatchesCpu) {
  ELM_REQUIRE_GPU();
  for (const auto [pairs, classes] : {std::pair{64, 2}, std::pair{300, 10}, std::pair{1, 2}}) {
    ElmConfig c;
    c.num_input = 7;
    c.num_branch = 7;
    c.num_output = 75;  // latent L
    c.num_memory = 8;
    c.mlp_hidden_size = 8;
    c.head_hidden = 128;
    c.head_classes = classes;
    c.validate();
    const ParamLayout layout(c);
    const auto& h = layout.head();
    const int steps = 3, L = h.latent;
    const std::vector<float> params = normal_floats(size_t(layout.num_params()), 41, 0.1);
    const std::vector<float> y = normal_floats(size_t(2 * pairs) * steps * L, 43 + pairs);
    const std::vector<int64_t> labels = random_labels(pairs, classes, 47);
    const std::vector<float> grad0 = normal_floats(size_t(layout.num_trainable()), 49, 1e-3);
    const std::string at = std::to_string(pairs) + " pairs, " + std::to_string(classes) + " classes";

    std::vector<float> cpu_logits(size_t(pairs) * classes), cpu_dy(y.size(), 0.0f), cpu_grad = grad0;
    const float cpu_loss = two_tower_head<float>(layout, params.data(), y.data(), pairs, steps, labels.data(),
                                                 cpu_logits.data(), cpu_dy.data(), cpu_grad.data());

    DeviceVec<float> dparams(params), dy_in(y), dlogits(cpu_logits), dloss(std::vector<float>{0.0f});
    DeviceVec<float> ddy(std::vector<float>(y.size(), 0.0f)), dgrad(grad0);
    DeviceVec<int32_t> dl(labels32(labels));
    cuda::launch_two_tower_head_forward(h, dparams.get(), dy_in.get(), pairs, steps, dl.get(), dlogits.get(),
                                        dloss.get(), nullptr);
    expect_rel(dloss.download()[0], cpu_loss, 1e-5, at + ": loss");
    expect_close_to_max(dlogits.download(), cpu_logits, 1e-5, at + ": logits");
    cuda::launch_two_tower_head_backward(h, dparams.get(), dy_in.get(), pairs, steps, dl.get(), ddy.get(), nullptr,
                                         nullptr);
    expect_close_to_max(ddy.download(), cpu_dy, 1e-5, at + ": dy");
    cuda::launch_two_tower_head_backward(h, dparams.get(), dy_in.get(), pairs, steps, dl.get(), nullptr,
                                         dgrad.get(), nullptr);
    // The head's entries against the CPU's; the rest must be grad0 exactly (added to nothing).
    const std::vector<float> got = dgrad.download();
    std::vector<bool> in_head(got.size(), false);
    const int64_t F = 4 * int64_t(L), H = h.hidden;
    for (const auto [at0, count] : {std::pair{h.w0, H * F}, std::pair{h.b0, H}, std::pair{h.w2, classes * H},
                                    std::pair{h.b2, int64_t(classes)}})
      std::fill_n(in_head.begin() + at0, count, true);
    std::vector<float> got_head, ref_head, got_rest, ref_rest;
    for (size_t i = 0; i < got.size(); ++i) {
      (in_head[i] ? got_head : got_rest).push_back(got[i]);
      (in_head[i] ? ref_head : ref_rest).push_back(in_head[i] ? cpu_grad[i] : grad0[i]);
    }
    ASSERT_EQ(got_head.size(), size_t(H * F + H + classes * H + classes));
    expect_close_to_max(got_head, ref_head, 1e-5, at + ": head gradient");
    expect_bitwise(got_rest, ref_rest, at + ": gradient outside the head");

    DeviceVec<double> sums(std::vector<double>{0.25, 1.0});
    cuda::launch_two_tower_head_eval(h, dparams.get(), dy_in.get(), pairs, steps, dl.get(), sums.get(), nullptr);
    const std::vector<double> s = sums.download();
    expect_rel(s[0] - 0.25, double(cpu_loss) * pairs, 1e-5, at + ": eval loss sum");
    EXPECT_EQ(s[1] - 1.0, double(count_correct(cpu_logits, std::span<const int64_t>(labels), size_t(classes))))
        << at;
  }
}

}  // namespace
}  // namespace elm::test
