// Finite-difference checks of CpuElm's backpropagation through time, in double.
//
// Each case is a small random model (both variants, every routing, 1-3 MLP
// layers, relu/silu, learnable or fixed tau_m, and for v1 both trace paths:
// per-branch traces when all tau_s of a branch agree, per-synapse traces when
// they differ). Parameters are moved well away from the init, inputs are
// random and dense, and the loss is L = sum(Y * G) with a random G (plus one
// case each for the cross-entropy and NeuronIO losses). Every trainable
// parameter's analytic gradient is compared with a central difference.
//
// Tolerance. The central difference with step h = 1e-6 * max(1, |theta|) has a
// truncation error ~ h^2 |L'''| / 6 (~1e-12 here) and a rounding error
// ~ eps * |L| / h (eps = 2.2e-16, |L| <= ~50: <= ~1e-8, typically 1e-10). We
// require, per tensor, max_i |analytic_i - fd_i| <= 1e-6 * max_i |fd_i| + 1e-8
// (the absolute floor, ~5x the largest rounding error seen, is for tensors
// whose gradient is tiny or zero). Observed: absolute errors <= ~6e-9, relative
// to the tensor's largest entry <= ~1e-7 (the small-gradient tensors), typically
// 1e-9; any real gradient bug (a missing term, a wrong decay, a wrong activation
// derivative) shows up as an O(1e-3..1) relative error.
//
// Kinks: relu(proto_w_s) is not differentiable at 0, so protos are kept at
// least 0.05 away from it (a few are negative, whose exact gradient is 0); MLP
// relu pre-activations are continuous functions of random inputs, so they sit
// near 0 with probability ~h only. tau values are far from the 1e-6 clamp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include "backend/cpu/elm_cpu.hpp"
#include "core/rng.hpp"
#include "model/elm_model.hpp"
#include "train/loss.hpp"

using namespace elm;

namespace {

enum class TauMode { PerBranch, PerSynapse };
enum class LossKind { Linear, CrossEntropy, NeuronIO };

struct GradCase {
  ElmVariant variant;
  SynapseRouting routing;
  int layers;
  MlpActivation act;
  bool learn_tau;
  TauMode tau_mode;
  LossKind loss = LossKind::Linear;
  uint64_t seed = 1;
};

std::string case_name(const GradCase& g) {
  std::string s = std::string(to_string(g.variant)) + "_" + to_string(g.routing) + "_L" + std::to_string(g.layers) +
                  "_" + to_string(g.act) + (g.learn_tau ? "_learntau" : "_fixedtau") +
                  (g.tau_mode == TauMode::PerSynapse ? "_synapsetau" : "_branchtau");
  if (g.loss == LossKind::CrossEntropy) s += "_ce";
  if (g.loss == LossKind::NeuronIO) s += "_neuronio";
  return s;
}

// gtest prints a failing case's parameter with this (instead of its bytes).
void PrintTo(const GradCase& g, std::ostream* os) { *os << case_name(g) << " seed " << g.seed; }

struct Problem {
  ElmConfig config;
  RoutingTable routing;
  std::vector<double> params;
  InputBatch input;
};

Problem make_problem(const GradCase& g) {
  RngStream rng(g.seed * 7919 + static_cast<uint64_t>(g.layers) * 31 + static_cast<uint64_t>(g.routing) * 5 +
                    (g.variant == ElmVariant::V2 ? 1000 : 0) + (g.learn_tau ? 77 : 0),
                0x67726164ULL);
  auto uniform_int = [&](int lo, int hi) { return lo + static_cast<int>(rng.below(uint64_t(hi - lo + 1))); };
  ElmConfig c;
  c.variant = g.variant;
  c.routing = g.routing;
  c.mlp_num_layers = g.layers;
  c.mlp_activation = g.act;
  c.learn_memory_tau = g.learn_tau;
  c.num_memory = uniform_int(3, 5);
  c.mlp_hidden_size = uniform_int(4, 7);
  c.num_output = g.loss == LossKind::Linear ? uniform_int(1, 3) : 3;
  c.lambda_value = 2.0 + 4.0 * rng.uniform();
  c.delta_t = 0.5 + rng.uniform();
  c.memory_tau_min = 1.0;
  c.memory_tau_max = 20.0 + 30.0 * rng.uniform();  // short enough to matter over T <= 20 steps
  c.routing_seed = rng.below(1000);
  // Per-synapse traces need >= 2 synapses per branch.
  const int k_min = g.tau_mode == TauMode::PerSynapse ? 2 : 1;
  switch (g.routing) {
    case SynapseRouting::None: {
      const int k = std::max(k_min, uniform_int(1, 3));
      const int nb = uniform_int((6 + k - 1) / k, 12 / k);
      c.num_input = nb * k;
      c.num_branch = nb;
      c.num_synapse_per_branch = k;
      break;
    }
    case SynapseRouting::NeuronIO: {
      c.num_input = uniform_int(6, 12);
      c.num_branch = uniform_int(2, 4);
      // One more than needed: overlapping windows, and masked synapses past n_in.
      c.num_synapse_per_branch = std::max(k_min, (c.num_input + c.num_branch - 1) / c.num_branch + 1);
      break;
    }
    case SynapseRouting::Random: {
      c.num_input = uniform_int(6, 12);
      c.num_branch = uniform_int(2, 5);
      c.num_synapse_per_branch = uniform_int(std::max(k_min, 1), 3);
      break;
    }
  }
  c.validate();

  ElmModel m = ElmModel::initialized(c, g.seed);
  Problem p{c, m.routing, std::vector<double>(m.params.begin(), m.params.end()), {}};
  const ParamLayout& lay = m.layout;
  // Move every trainable parameter away from its init.
  for (int64_t i = 0; i < lay.num_trainable(); ++i) p.params[i] += 0.3 * rng.normal();
  // _proto_w_s: mostly positive, some negative (relu flat part), never near the kink.
  const int ds = c.synapses();
  int negatives = 0;
  for (int s = 0; s < ds; ++s) {
    double& w = p.params[lay.w_s() + s];
    if (rng.uniform() < 0.15) w = -(0.05 + 0.5 * rng.uniform());
    if (std::abs(w) < 0.05) w = w < 0 ? -0.05 - 0.1 * rng.uniform() : 0.05 + 0.1 * rng.uniform();
    negatives += w < 0;
  }
  if (negatives == 0) p.params[lay.w_s() + ds - 1] = -0.3;
  if (negatives == ds) p.params[lay.w_s()] = 0.4;
  // _proto_tau_m (trainable or not): random logits, tau_m spread over (tau_min, tau_max).
  for (int i = 0; i < c.num_memory; ++i) p.params[lay.proto_tau_m() + i] = 2.0 * rng.normal();
  // Trace time constants in [2, 8]: equal within a branch, or different within it.
  const int k = c.num_synapse_per_branch;
  if (c.variant == ElmVariant::V2) {
    for (int j = 0; j < c.branches(); ++j) p.params[lay.trace_tau() + j] = 2.0 + 6.0 * rng.uniform();
  } else {
    for (int j = 0; j < c.branches(); ++j) {
      const double tau = 2.0 + 6.0 * rng.uniform();
      for (int r = 0; r < k; ++r)
        p.params[lay.trace_tau() + j * k + r] = g.tau_mode == TauMode::PerSynapse ? 2.0 + 6.0 * rng.uniform() : tau;
    }
  }

  const int B = uniform_int(2, 3), T = uniform_int(10, 20);
  DenseInput d;
  d.data.resize(size_t(B) * T * c.num_input);
  for (auto& v : d.data) v = static_cast<float>(rng.normal());
  p.input = InputBatch{B, T, c.num_input, std::move(d)};
  return p;
}

struct CheckStats {
  bool branch_traces = false;
  double worst_rel = 0;  // max over tensors of max|a - fd| / max|fd|
};

CheckStats run_gradcheck(const GradCase& g) {
  Problem p = make_problem(g);
  const ElmConfig& c = p.config;
  CpuElm<double> elm(c, p.routing, 1);
  const ParamLayout& lay = elm.layout();
  EXPECT_EQ(lay.num_trainable(), trainable_parameter_count(c));
  const int B = p.input.batch, T = p.input.steps, d_o = c.num_output;
  const size_t ny = size_t(B) * T * d_o;

  RngStream rng(g.seed, 0x6c6f7373ULL);
  std::vector<double> G(ny);
  for (auto& v : G) v = rng.normal();
  std::vector<int64_t> labels(B);
  for (auto& l : labels) l = static_cast<int64_t>(rng.below(uint64_t(d_o)));
  std::vector<double> spike(size_t(B) * T), soma(size_t(B) * T);
  for (auto& v : spike) v = rng.uniform() < 0.3 ? 1.0 : 0.0;
  for (auto& v : soma) v = rng.normal();

  std::vector<double> y(ny), dy(ny);
  // Loss of the current y; writes dL/dy into dy.
  auto loss = [&]() -> double {
    switch (g.loss) {
      case LossKind::Linear: {
        double s = 0;
        for (size_t i = 0; i < ny; ++i) s += y[i] * G[i];
        dy = G;
        return s;
      }
      case LossKind::CrossEntropy: return last_step_cross_entropy(y.data(), B, T, d_o, labels.data(), dy.data());
      case LossKind::NeuronIO: return neuronio_loss(y.data(), B, T, d_o, spike.data(), soma.data(), dy.data());
    }
    return 0;
  };

  elm.forward(p.params.data(), p.input, y.data());
  loss();
  std::vector<double> grad(lay.num_trainable());
  elm.backward(dy.data(), grad.data());
  CheckStats st;
  st.branch_traces = elm.uses_branch_traces();

  std::vector<double> fd(lay.num_trainable());
  std::vector<double> q = p.params;
  for (int64_t i = 0; i < lay.num_trainable(); ++i) {
    const double x0 = q[i];
    const double h = 1e-6 * std::max(1.0, std::abs(x0));
    q[i] = x0 + h;
    elm.forward(q.data(), p.input, y.data());
    const double lp = loss();
    q[i] = x0 - h;
    elm.forward(q.data(), p.input, y.data());
    const double lm = loss();
    q[i] = x0;
    fd[i] = (lp - lm) / (2 * h);
  }

  for (const auto& e : lay.entries()) {
    if (!e.trainable) continue;
    double max_fd = 0, max_err = 0;
    int64_t worst = -1;
    for (int64_t i = e.offset; i < e.offset + e.size; ++i) {
      max_fd = std::max(max_fd, std::abs(fd[i]));
      const double err = std::abs(grad[i] - fd[i]);
      if (err > max_err) {
        max_err = err;
        worst = i - e.offset;
      }
    }
    const double tol = 1e-6 * max_fd + 1e-8;
    EXPECT_LE(max_err, tol) << case_name(g) << ": '" << e.name << "'[" << worst
                            << "] analytic " << grad[e.offset + worst] << " vs finite difference "
                            << fd[e.offset + worst] << " (tensor max |fd| " << max_fd << ")";
    if (max_fd > 1e-6) st.worst_rel = std::max(st.worst_rel, max_err / max_fd);
  }
  // The relu on _proto_w_s: exactly zero gradient where the proto is negative,
  // and for synapses the routing masks out.
  for (int s = 0; s < c.synapses(); ++s)
    if (p.params[lay.w_s() + s] < 0 || !p.routing.valid[s])
      EXPECT_EQ(grad[lay.w_s() + s], 0.0) << case_name(g) << ": _proto_w_s[" << s << "]";
  return st;
}

std::vector<GradCase> all_cases() {
  std::vector<GradCase> cases;
  uint64_t seed = 1;
  for (ElmVariant v : {ElmVariant::V1, ElmVariant::V2})
    for (SynapseRouting r : {SynapseRouting::None, SynapseRouting::NeuronIO, SynapseRouting::Random})
      for (int layers : {1, 2, 3})
        for (MlpActivation a : {MlpActivation::Relu, MlpActivation::Silu})
          for (bool learn : {false, true}) {
            // v1 runs both trace paths; v2 always has per-branch traces.
            std::vector<TauMode> modes = {TauMode::PerBranch};
            if (v == ElmVariant::V1) modes.push_back(TauMode::PerSynapse);
            for (TauMode tm : modes) cases.push_back({v, r, layers, a, learn, tm, LossKind::Linear, seed++});
          }
  return cases;
}

}  // namespace

class GradCheckCase : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradCheckCase, MatchesFiniteDifferences) {
  const GradCase& g = GetParam();
  const CheckStats st = run_gradcheck(g);
  // v2 always runs per-branch traces; v1 runs them exactly when tau_s is equal
  // within every branch, and per-synapse traces otherwise.
  const bool expect_branch = g.variant == ElmVariant::V2 || g.tau_mode == TauMode::PerBranch;
  EXPECT_EQ(st.branch_traces, expect_branch) << case_name(g);
  if (std::getenv("ELM_GRADCHECK_VERBOSE")) std::printf("%s worst rel err %.3g\n", case_name(g).c_str(), st.worst_rel);
}

INSTANTIATE_TEST_SUITE_P(AllConfigs, GradCheckCase, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<GradCase>& info) { return case_name(info.param); });

// Both v1 trace paths must be exercised by the cases above (and not, say, all
// fall back to branch traces because a config has one synapse per branch).
TEST(GradCheck, BothV1TracePathsAreCovered) {
  int v1_branch = 0, v1_synapse = 0;
  for (const GradCase& g : all_cases()) {
    if (g.variant != ElmVariant::V1) continue;
    Problem p = make_problem(g);
    CpuElm<double> elm(p.config, p.routing, 1);
    std::vector<double> y(size_t(p.input.batch) * p.input.steps * p.config.num_output);
    elm.forward(p.params.data(), p.input, y.data());
    (elm.uses_branch_traces() ? v1_branch : v1_synapse)++;
  }
  EXPECT_EQ(v1_branch, 36);
  EXPECT_EQ(v1_synapse, 36);
}

TEST(GradCheck, LastStepCrossEntropy) {
  for (ElmVariant v : {ElmVariant::V1, ElmVariant::V2}) {
    GradCase g{v, SynapseRouting::Random, 2, MlpActivation::Silu, true, TauMode::PerSynapse, LossKind::CrossEntropy,
               901};
    SCOPED_TRACE(case_name(g));
    run_gradcheck(g);
  }
}

TEST(GradCheck, NeuronIOLoss) {
  for (ElmVariant v : {ElmVariant::V1, ElmVariant::V2}) {
    GradCase g{v, SynapseRouting::NeuronIO, 1, MlpActivation::Relu, true, TauMode::PerBranch, LossKind::NeuronIO, 902};
    SCOPED_TRACE(case_name(g));
    run_gradcheck(g);
  }
}
