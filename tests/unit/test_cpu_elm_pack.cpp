// CpuElmPack: K same-shape models in one pass, each model's outputs and
// gradients bitwise equal (memcmp) to CpuElm<float> run on that model alone,
// with the same thread count and instruction-set level: every level this CPU
// runs, 1 and 2 threads, v1/v2, relu/silu, learned or fixed tau_m, 1 and 2 MLP
// layers, branch and per-synapse traces (v1 with unequal tau_s, also mixed
// within one pack), dense, spike and token inputs, K = 1, 3, 8, 16 and subsets
// of a pack's models. Plus: a perturbed parameter of one model changes that
// model's results only (the comparison can fail), and a pack of mismatched
// shapes is refused naming the first differing key.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>
#include <vector>

#include "backend/cpu/cpu_isa.hpp"
#include "backend/cpu/elm_cpu.hpp"
#include "backend/cpu/elm_cpu_pack.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "model/elm_model.hpp"
#include "test_support.hpp"

namespace elm {
namespace {

enum class Input { Dense, Spikes, Tokens };

struct PackCase {
  std::string name;
  ElmVariant variant = ElmVariant::V1;
  MlpActivation act = MlpActivation::Relu;
  int layers = 1;
  bool learn_tau = false;
  bool per_synapse = false;  // v1: unequal tau_s within branches in every other model
  Input input = Input::Spikes;
  SynapseRouting routing = SynapseRouting::Random;
};

// Shapes chosen off every tile size (widths not multiples of 4, batch rows not
// of 4, T * rows not of the 48-row gradient blocks).
ElmConfig base_config(const PackCase& pc) {
  ElmConfig c;
  c.variant = pc.variant;
  c.routing = pc.routing;
  // 18 synapses on 9 or 10 inputs: ~2 synapses per channel, so spike and token
  // inputs take the channel-row path of the traces (ModelTerms::channel_rows);
  // LargerModelWithLongerSequence has one synapse per channel (the scatter path).
  c.num_input = pc.input == Input::Tokens ? 9 : 10;
  if (pc.routing == SynapseRouting::None) {
    c.num_branch = c.num_input;
    c.num_synapse_per_branch = 1;
  } else {
    c.num_branch = 6;
    c.num_synapse_per_branch = 3;
  }
  c.num_memory = 5;
  c.mlp_hidden_size = 7;
  c.mlp_num_layers = pc.layers;
  c.mlp_activation = pc.act;
  c.num_output = 3;
  c.learn_memory_tau = pc.learn_tau;
  c.memory_tau_max = 30;
  return c;
}

// Model i of a pack: the case's shapes, its own scalar settings and routing.
ElmConfig model_config(const PackCase& pc, int i) {
  ElmConfig c = base_config(pc);
  c.lambda_value = 2.0 + 0.7 * i;
  c.memory_tau_min = 1.0 + 0.25 * (i % 3);
  c.memory_tau_max = 20.0 + 5.0 * i;
  c.delta_t = i % 2 ? 1.0 : 0.5 + 0.1 * i;
  c.tau_s_value = 3.0 + i;
  c.tau_b_value = 4.0 + 0.5 * i;
  c.routing_seed = 100 + uint64_t(i);
  c.validate();
  return c;
}

// Parameters moved off the init (as test_input_kinds.cpp): every w_s proto
// positive but a few, random tau_m; per-synapse models get unequal tau_s.
std::vector<float> model_params(const ElmModel& m, uint64_t seed, bool per_synapse) {
  RngStream rng(seed, 0x7061636bULL);
  std::vector<float> p = m.params;
  const ParamLayout& lay = m.layout;
  for (int64_t i = 0; i < lay.num_trainable(); ++i) p[i] += float(0.3 * rng.normal());
  for (int s = 0; s < m.config.synapses(); ++s) p[lay.w_s() + s] = float(rng.uniform() < 0.1 ? -0.3 : 0.2 + rng.uniform());
  for (int i = 0; i < m.config.num_memory; ++i) p[lay.proto_tau_m() + i] = float(2.0 * rng.normal());
  const int k = m.config.num_synapse_per_branch;
  const int n_trace = m.config.variant == ElmVariant::V1 ? m.config.synapses() : m.config.branches();
  for (int i = 0; i < n_trace; ++i) {
    const bool new_value = per_synapse || m.config.variant == ElmVariant::V2 || i % k == 0;
    p[lay.trace_tau() + i] = new_value ? float(2.0 + 6.0 * rng.uniform()) : p[lay.trace_tau() + i - 1];
  }
  return p;
}

InputBatch model_input(Input kind, int B, int T, int channels, uint64_t seed) {
  RngStream rng(seed, 0x696e70ULL);
  InputBatch x{B, T, channels, {}};
  if (kind == Input::Tokens) {
    TokenInput t;
    for (int r = 0; r < B * T; ++r) t.ids.push_back(rng.uniform() < 0.1 ? -1 : int(rng.below(uint64_t(channels))));
    x.data = std::move(t);
  } else if (kind == Input::Dense) {
    DenseInput d;
    for (int q = 0; q < B * T * channels; ++q) d.data.push_back(rng.uniform() < 0.3 ? float(rng.normal()) : 0.0f);
    x.data = std::move(d);
  } else {
    SpikeInput s;
    s.offsets.push_back(0);
    for (int r = 0; r < B * T; ++r) {
      for (int i = 0; i < channels; ++i)
        if (rng.uniform() < 0.15) {
          s.channel.push_back(i);
          s.value.push_back(rng.uniform() < 0.5 ? -1.0f : 1.0f);
        }
      s.offsets.push_back(int64_t(s.channel.size()));
    }
    x.data = std::move(s);
  }
  x.validate();
  return x;
}

// dL/dy with exact zeros at random places (different per model: the
// single-model kernel skips zero entries, the packed one masks them per lane),
// and for some models nonzero only at the last step (cross-entropy-like).
std::vector<float> model_dy(int B, int T, int d_o, uint64_t seed, bool last_step_only) {
  RngStream rng(seed, 0x6479ULL);
  std::vector<float> dy(size_t(B) * T * d_o, 0.0f);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      for (int o = 0; o < d_o; ++o) {
        const bool live = last_step_only ? t == T - 1 : rng.uniform() > 0.3;
        if (live) dy[(size_t(b) * T + t) * d_o + o] = float(rng.normal());
      }
  return dy;
}

struct Pack {
  std::vector<ElmConfig> configs;
  std::vector<RoutingTable> routings;
  std::vector<std::vector<float>> params, dy;
  std::vector<InputBatch> inputs;
  int B = 0, T = 0;
};

Pack make_pack(const PackCase& pc, int K, int B, int T) {
  Pack p;
  p.B = B;
  p.T = T;
  for (int i = 0; i < K; ++i) {
    const ElmConfig c = model_config(pc, i);
    const ElmModel m = ElmModel::initialized(c, 10 + uint64_t(i));
    p.configs.push_back(c);
    p.routings.push_back(m.routing);
    p.params.push_back(model_params(m, 20 + uint64_t(i), pc.per_synapse && i % 2 == 0));
    p.inputs.push_back(model_input(pc.input, B, T, c.num_input, 30 + uint64_t(i)));
    p.dy.push_back(model_dy(B, T, c.num_output, 40 + uint64_t(i), i % 3 == 2));
  }
  return p;
}

struct Results {
  std::vector<std::vector<float>> y, grad;
};

// Model `i` alone, as CpuElm<float> computes it.
void run_single(const Pack& p, int i, int threads, CpuIsa isa, std::vector<float>& y, std::vector<float>& grad) {
  CpuElm<float> elm(p.configs[i], p.routings[i], threads, isa);
  y.assign(size_t(p.B) * p.T * p.configs[i].num_output, -1.0f);
  grad.assign(size_t(elm.layout().num_trainable()), -1.0f);
  elm.forward(p.params[i].data(), p.inputs[i], y.data());
  elm.backward(p.dy[i].data(), grad.data());
}

// The models `models` of the pack in one pass.
Results run_pack(CpuElmPack& pack, const Pack& p, const std::vector<int>& models) {
  Results r;
  std::vector<const float*> params, dy;
  std::vector<const InputBatch*> x;
  std::vector<float*> y, grad;
  r.y.resize(models.size());
  r.grad.resize(models.size());
  for (size_t i = 0; i < models.size(); ++i) {
    const int m = models[i];
    r.y[i].assign(size_t(p.B) * p.T * p.configs[m].num_output, -2.0f);
    r.grad[i].assign(size_t(pack.layout().num_trainable()), -2.0f);
    params.push_back(p.params[m].data());
    x.push_back(&p.inputs[m]);
    y.push_back(r.y[i].data());
    dy.push_back(p.dy[m].data());
    grad.push_back(r.grad[i].data());
  }
  pack.forward(models, params, x, y);
  pack.backward(dy, grad);
  return r;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Where two buffers first differ, for failure messages.
std::string first_difference(const std::vector<float>& got, const std::vector<float>& ref) {
  if (got.size() != ref.size()) return "sizes " + std::to_string(got.size()) + " vs " + std::to_string(ref.size());
  for (size_t q = 0; q < got.size(); ++q)
    if (std::memcmp(&got[q], &ref[q], sizeof(float)) != 0)
      return "[" + std::to_string(q) + "] " + std::to_string(got[q]) + " vs " + std::to_string(ref[q]);
  return "none";
}

void expect_pack_matches_single(const Pack& p, CpuElmPack& pack, const std::vector<int>& models, int threads,
                                CpuIsa isa, const std::string& what) {
  const Results r = run_pack(pack, p, models);
  std::vector<float> y, grad;
  for (size_t i = 0; i < models.size(); ++i) {
    run_single(p, models[i], threads, isa, y, grad);
    EXPECT_TRUE(same_bits(r.y[i], y)) << what << ", model " << models[i] << ": outputs differ at "
                                      << first_difference(r.y[i], y);
    EXPECT_TRUE(same_bits(r.grad[i], grad)) << what << ", model " << models[i] << ": gradients differ at "
                                            << first_difference(r.grad[i], grad);
  }
}

const PackCase kCases[] = {
    {"v1_relu_L1_spikes_learntau", ElmVariant::V1, MlpActivation::Relu, 1, true, false, Input::Spikes},
    {"v1_silu_L2_dense_persynapse", ElmVariant::V1, MlpActivation::Silu, 2, false, true, Input::Dense},
    {"v1_relu_L2_tokens_persynapse_learntau", ElmVariant::V1, MlpActivation::Relu, 2, true, true, Input::Tokens},
    {"v2_relu_L2_tokens_learntau", ElmVariant::V2, MlpActivation::Relu, 2, true, false, Input::Tokens},
    {"v2_silu_L1_spikes", ElmVariant::V2, MlpActivation::Silu, 1, false, false, Input::Spikes},
    {"v2_silu_L1_dense_learntau_norouting", ElmVariant::V2, MlpActivation::Silu, 1, true, false, Input::Dense,
     SynapseRouting::None},
    {"v1_silu_L1_spikes_neuronio", ElmVariant::V1, MlpActivation::Silu, 1, true, false, Input::Spikes,
     SynapseRouting::NeuronIO},
};

class CpuElmPackCase : public testing::TestWithParam<PackCase> {};

TEST_P(CpuElmPackCase, EveryModelBitwiseEqualsCpuElmAlone) {
  const PackCase& pc = GetParam();
  for (CpuIsa isa : available_cpu_isas())
    for (int threads : {1, 2})
      for (int K : {1, 3, 8, 16}) {
        // 5 samples: 2 threads cut 2 + 3 rows, one thread 5 (row tiles of 4 and 2 both get tails).
        const Pack p = make_pack(pc, K, 5, 23);
        if (pc.per_synapse && pc.variant == ElmVariant::V1 && threads == 1 && K == 1) {
          CpuElm<float> probe(p.configs[0], p.routings[0], 1, isa);  // model 0 has unequal tau_s: per-synapse traces
          std::vector<float> y(size_t(p.B) * p.T * p.configs[0].num_output);
          probe.forward(p.params[0].data(), p.inputs[0], y.data());
          EXPECT_FALSE(probe.uses_branch_traces()) << pc.name;
        }
        CpuElmPack pack(p.configs, p.routings, threads, isa);
        pack.set_mode(CpuElmPack::Mode::Lanes);
        std::vector<int> all(K);
        std::iota(all.begin(), all.end(), 0);
        const std::string what = pc.name + " " + cpu_isa_name(isa) + " threads=" + std::to_string(threads) +
                                 " K=" + std::to_string(K);
        expect_pack_matches_single(p, pack, all, threads, isa, what);
        EXPECT_GT(pack.last_lane_width(), 0) << what;
        if (HasFailure()) return;
      }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuElmPackCase, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<PackCase>& info) { return info.param.name; });

TEST(CpuElmPack, SubsetsOfThePackAndEveryLaneWidth) {
  const PackCase pc = kCases[0];
  const Pack p = make_pack(pc, 16, 4, 31);
  const std::vector<std::vector<int>> subsets = {{0}, {5}, {1, 4, 5, 9, 15}, {0, 2, 4, 6, 8, 10, 12, 14, 15},
                                                 {3, 4, 5, 6, 7, 8, 9, 10, 11}};
  for (CpuIsa isa : available_cpu_isas())
    for (int threads : {1, 2}) {
      CpuElmPack pack(p.configs, p.routings, threads, isa);
      pack.set_mode(CpuElmPack::Mode::Lanes);
      for (int lanes : {0, 4, 8, 16}) {
        if (lanes > 0 && (isa == CpuIsa::Baseline ? 4 : isa == CpuIsa::Avx2 ? 8 : 16) < lanes) continue;
        pack.set_lane_width(lanes);
        for (const auto& s : subsets) {
          std::string what = std::string(cpu_isa_name(isa)) + " threads=" + std::to_string(threads) +
                             " lanes=" + std::to_string(lanes) + " models";
          for (int m : s) what += " " + std::to_string(m);
          expect_pack_matches_single(p, pack, s, threads, isa, what);  // one pack object, passes of any subset
          if (HasFailure()) return;
        }
      }
    }
}

// Widest span of branches one input channel feeds (its synapses' branches, max - min + 1).
int widest_channel_span(const ElmConfig& c, const RoutingTable& r) {
  std::vector<int> lo(c.num_input, c.branches()), hi(c.num_input, -1);
  for (int s = 0; s < c.synapses(); ++s)
    if (r.valid[s]) {
      const int ch = int(r.input_index[s]), b = s / c.num_synapse_per_branch;
      lo[ch] = std::min(lo[ch], b);
      hi[ch] = std::max(hi[ch], b);
    }
  int widest = 0;
  for (int ch = 0; ch < c.num_input; ++ch) widest = std::max(widest, hi[ch] - lo[ch] + 1);
  return widest;
}

// Closer to the benchmark shapes: hidden width 30, 100 steps, 8 rows, and the
// trace paths the small cases do not take: one synapse per channel (the
// scatter path) and channels spread over more than 16 branches (whole
// channel rows in the adjoint instead of branch windows).
void check_larger(int n_in, int branches, int k, const std::string& what) {
  PackCase pc{"larger", ElmVariant::V1, MlpActivation::Relu, 1, true, false, Input::Spikes};
  Pack p = make_pack(pc, 11, 8, 100);
  for (size_t i = 0; i < p.configs.size(); ++i) {
    ElmConfig& c = p.configs[i];
    c.num_input = n_in;
    c.num_branch = branches;
    c.num_synapse_per_branch = k;
    c.num_memory = 15;
    c.mlp_hidden_size = 0;  // 2 * d_m
    c.num_output = 2;
    const ElmModel m = ElmModel::initialized(c, 50 + i);
    p.routings[i] = m.routing;
    p.params[i] = model_params(m, 60 + i, false);
    p.inputs[i] = model_input(Input::Spikes, p.B, p.T, c.num_input, 70 + i);
    p.dy[i] = model_dy(p.B, p.T, c.num_output, 80 + i, false);
  }
  if (branches * k > n_in) EXPECT_GT(widest_channel_span(p.configs[0], p.routings[0]), 16) << what;
  std::vector<int> all(p.configs.size());
  std::iota(all.begin(), all.end(), 0);
  for (CpuIsa isa : available_cpu_isas()) {
    CpuElmPack pack(p.configs, p.routings, 1, isa);
    pack.set_mode(CpuElmPack::Mode::Lanes);
    expect_pack_matches_single(p, pack, all, 1, isa, what + " " + cpu_isa_name(isa));
  }
}

TEST(CpuElmPack, LargerModelWithLongerSequence) {
  check_larger(40, 10, 4, "one synapse per channel");
  check_larger(10, 24, 3, "channels over many branches");
}

TEST(CpuElmPack, EveryModeGivesTheSameBits) {
  const Pack p = make_pack(kCases[3], 5, 3, 17);
  std::vector<int> all(5);
  std::iota(all.begin(), all.end(), 0);
  for (auto mode : {CpuElmPack::Mode::Auto, CpuElmPack::Mode::PerModel, CpuElmPack::Mode::Lanes}) {
    CpuElmPack pack(p.configs, p.routings, 1);
    pack.set_mode(mode);
    expect_pack_matches_single(p, pack, all, 1, pack.isa(), "mode " + std::to_string(int(mode)));
    EXPECT_EQ(pack.last_lane_width() == 0, mode == CpuElmPack::Mode::PerModel ||
                                               (mode == CpuElmPack::Mode::Auto &&
                                                pack.auto_mode(5) == CpuElmPack::Mode::PerModel));
  }
}

// Auto's rule (CpuElmPack::auto_mode): one model after another at every
// pack size and level, for small MLPs and for the sfmnist_pool2 shape (d_m 64,
// 18,432 MLP weights) as well, and such packs run model by model (one_by_one).
TEST(CpuElmPack, AutoRunsTheModelsOneAfterAnother) {
  const Pack small = make_pack(kCases[0], 16, 2, 3);
  for (CpuIsa isa : available_cpu_isas()) {
    CpuElmPack pack(small.configs, small.routings, 1, isa);
    for (int k : {1, 4, 8, 12, 16}) {
      EXPECT_EQ(pack.auto_mode(k), CpuElmPack::Mode::PerModel) << cpu_isa_name(isa) << " " << k;
      EXPECT_TRUE(pack.one_by_one(k)) << cpu_isa_name(isa) << " " << k;
    }
    pack.set_mode(CpuElmPack::Mode::Lanes);
    EXPECT_FALSE(pack.one_by_one(16)) << cpu_isa_name(isa);
  }
  ElmConfig sf;
  sf.variant = ElmVariant::V1;
  sf.num_input = 16;
  sf.num_output = 10;
  sf.num_memory = 64;
  std::vector<ElmConfig> mid(16, sf);
  std::vector<RoutingTable> mid_routes(16, RoutingTable::build(sf));
  CpuElmPack mid_pack(mid, mid_routes, 1);
  int64_t weights = 0;
  for (const auto& l : mid_pack.layout().mlp()) weights += int64_t(l.in) * l.out;
  EXPECT_EQ(weights, 18432);
  EXPECT_EQ(mid_pack.auto_mode(16), CpuElmPack::Mode::PerModel);
}

// The comparison is able to fail: a parameter of one model changed after the
// references were computed shows in that model's results, and only there.
TEST(CpuElmPack, APerturbedModelChangesOnlyItsOwnResults) {
  Pack p = make_pack(kCases[0], 4, 3, 19);
  std::vector<int> all = {0, 1, 2, 3};
  Results before, after;
  {
    CpuElmPack pack(p.configs, p.routings, 1);
    pack.set_mode(CpuElmPack::Mode::Lanes);
    before = run_pack(pack, p, all);
    const ParamLayout& lay = pack.layout();
    p.params[2][lay.mlp()[0].weight + 3] += 0.01f;
    after = run_pack(pack, p, all);
  }
  for (int i = 0; i < 4; ++i) {
    if (i == 2) {
      EXPECT_FALSE(same_bits(before.y[i], after.y[i])) << "model 2's outputs did not change";
      EXPECT_FALSE(same_bits(before.grad[i], after.grad[i])) << "model 2's gradients did not change";
    } else {
      EXPECT_TRUE(same_bits(before.y[i], after.y[i])) << "model " << i << "'s outputs changed";
      EXPECT_TRUE(same_bits(before.grad[i], after.grad[i])) << "model " << i << "'s gradients changed";
    }
  }
  // And the references tell models apart: model 1's results are not model 0's.
  std::vector<float> y0, g0, y1, g1;
  run_single(p, 0, 1, chosen_cpu_isa(), y0, g0);
  run_single(p, 1, 1, chosen_cpu_isa(), y1, g1);
  EXPECT_FALSE(same_bits(y0, y1));
  EXPECT_FALSE(same_bits(g0, g1));
}

TEST(CpuElmPack, MismatchedShapesAreRefusedNamingTheFirstDifferingKey) {
  const PackCase pc = kCases[0];
  std::vector<ElmConfig> configs = {model_config(pc, 0), model_config(pc, 1), model_config(pc, 2)};
  auto routings = [&] {
    std::vector<RoutingTable> r;
    for (const auto& c : configs) r.push_back(RoutingTable::build(c));
    return r;
  };
  // Scalar settings may differ (they do between these three).
  EXPECT_NO_THROW(CpuElmPack(configs, routings(), 1));

  configs[2].num_memory = 6;
  configs[2].num_output = 4;
  std::string msg = test::expect_one_line_elm_error([&] { CpuElmPack(configs, routings(), 1); });
  EXPECT_NE(msg.find("model 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("num_memory"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("num_output"), std::string::npos) << msg;  // the first difference only

  configs[2] = model_config(pc, 2);
  configs[1].mlp_activation = MlpActivation::Silu;
  msg = test::expect_one_line_elm_error([&] { CpuElmPack(configs, routings(), 1); });
  EXPECT_NE(msg.find("mlp_activation"), std::string::npos) << msg;

  configs[1] = model_config(pc, 1);
  configs[1].learn_memory_tau = !configs[1].learn_memory_tau;
  msg = test::expect_one_line_elm_error([&] { CpuElmPack(configs, routings(), 1); });
  EXPECT_NE(msg.find("learn_memory_tau"), std::string::npos) << msg;

  configs[1] = model_config(pc, 1);
  configs[1].variant = ElmVariant::V2;
  msg = test::expect_one_line_elm_error([&] { CpuElmPack(configs, routings(), 1); });
  EXPECT_NE(msg.find("variant"), std::string::npos) << msg;

  configs.assign(17, model_config(pc, 0));
  msg = test::expect_one_line_elm_error([&] { CpuElmPack(configs, routings(), 1); });
  EXPECT_NE(msg.find("at most 16"), std::string::npos) << msg;
}

TEST(CpuElmPack, PassArgumentsAreChecked) {
  const Pack p = make_pack(kCases[0], 3, 2, 5);
  CpuElmPack pack(p.configs, p.routings, 1);
  EXPECT_EQ(pack.size(), 3);
  EXPECT_EQ(CpuElmPack::max_models(), 16);
  std::vector<float> y0(30), y1(30), g(size_t(pack.layout().num_trainable()));
  const float* params[] = {p.params[0].data(), p.params[1].data()};
  const InputBatch* x[] = {&p.inputs[0], &p.inputs[1]};
  float* y[] = {y0.data(), y1.data()};
  const int descending[] = {1, 0};
  std::string msg = test::expect_one_line_elm_error([&] { pack.forward(descending, params, x, y); });
  EXPECT_NE(msg.find("ascend"), std::string::npos) << msg;
  const int outside[] = {1, 3};
  msg = test::expect_one_line_elm_error([&] { pack.forward(outside, params, x, y); });
  EXPECT_NE(msg.find("not in [0, 3)"), std::string::npos) << msg;
  const InputBatch longer = model_input(Input::Spikes, 2, 6, p.configs[0].num_input, 1);
  const InputBatch* x_bad[] = {&p.inputs[0], &longer};
  const int ok[] = {0, 1};
  msg = test::expect_one_line_elm_error([&] { pack.forward(ok, params, x_bad, y); });
  EXPECT_NE(msg.find("batch x steps must agree"), std::string::npos) << msg;
  CpuElmPack fresh(p.configs, p.routings, 1);
  const float* dy[] = {y0.data()};
  float* grad[] = {g.data()};
  msg = test::expect_one_line_elm_error([&] { fresh.backward(dy, grad); });
  EXPECT_NE(msg.find("before forward"), std::string::npos) << msg;
}

// `elmrun bench --pack`: the FMA peak line, then one line per K with the step
// of the K models, one model's, and the per-model speed-up; lanes= says how
// the pass ran (0: one model after another, Auto's choice).
TEST(CpuElmPack, BenchPrintsPerModelSpeedups) {
  test::TempDir tmp("elm-pack-bench");
  const std::string log = tmp.file("bench.txt");
  for (const std::string mode : {"auto", "lanes"}) {
    const auto r = test::run_command("(" + test::shell_quote(test::elmrun()) +
                                     " bench -w neuronio_dm15 --pack 1 2 --pack-mode " + mode +
                                     " --min-seconds 0 --min-steps 1 --rounds 1 > " + test::shell_quote(log) + ")");
    ASSERT_EQ(r.status, 0) << r.stderr_text;
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("fma_peak_gflops="), std::string::npos) << text;
    for (const char* key : {"pack=1 ", "pack=2 ", "ms_per_step=", "k1_ms_per_step=", "per_model_speedup=", "gflops="})
      EXPECT_NE(text.find(key), std::string::npos) << key << " missing in: " << text;
    EXPECT_NE(text.find(mode == "auto" ? "pack=2 threads=1 lanes=0" : "pack=2 threads=1 lanes="), std::string::npos)
        << text;
    if (mode == "lanes") EXPECT_EQ(text.find("pack=2 threads=1 lanes=0"), std::string::npos) << text;
  }
  const auto bad = test::run_command(test::shell_quote(test::elmrun()) + " bench -w neuronio_dm15 --pack 17");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.stderr_text.find("--pack 17"), std::string::npos) << bad.stderr_text;
}

TEST(CpuElmPack, FmaPeakIsMeasuredAtEveryLevel) {
  double last = 0;
  for (CpuIsa isa : available_cpu_isas()) {
    const double peak = cpu_fma_peak_gflops(isa, 0.02);
    EXPECT_GT(peak, 0.5) << cpu_isa_name(isa);
    last = peak;
  }
  EXPECT_GT(last, 0);
}

}  // namespace
}  // namespace elm
