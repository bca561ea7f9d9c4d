// The CUDA backend against CpuElm on random configurations: outputs and
// gradients within 1e-4 of the largest entry of each tensor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "backend/cpu/elm_cpu.hpp"
#include "core/rng.hpp"
#include "cuda_test_support.hpp"
#include "test_support.hpp"

namespace elm::test {
namespace {

struct Case : SmallElm {
  std::string name;
  Kind kind = Kind::Dense;
  int B = 3, T = 40;
  bool mixed_tau_s = false;
  int segment_len = 0, group = 0;
  bool smem_weights = true;
  double density = 0.3;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

class CudaVsCpu : public testing::TestWithParam<Case> {};

TEST_P(CudaVsCpu, OutputsAndGradients) {
  ELM_REQUIRE_GPU();
  const Case& c = GetParam();
  const ElmConfig cfg = config_of(c);
  ElmModel model = random_model(cfg, 17);
  if (c.mixed_tau_s) {  // per-synapse traces: tau_s differs within a branch
    RngStream rng(4, 4);
    for (int s = 0; s < cfg.synapses(); ++s) model.params[model.layout.trace_tau() + s] = float(2 + 8 * rng.uniform());
  }
  const InputBatch x = random_input(c.kind, c.B, c.T, c.n_in, c.density, 23);
  const size_t ny = size_t(c.B) * c.T * c.d_o, ng = size_t(model.layout.num_trainable());
  std::vector<float> dyf(ny);
  RngStream rng(8, 8);
  for (auto& v : dyf) v = float(rng.normal());

  // Reference in double.
  std::vector<double> pd(model.params.begin(), model.params.end()), yd(ny), dyd(dyf.begin(), dyf.end()), gd(ng);
  CpuElm<double> cpu(cfg, model.routing, 1);
  cpu.forward(pd.data(), x, yd.data());
  cpu.backward(dyd.data(), gd.data());

  CudaElmOptions opt;
  opt.segment_len = c.segment_len;
  opt.group = c.group;
  opt.weights_in_smem = c.smem_weights;
  CudaElm gpu(cfg, model.routing, opt);
  std::vector<float> y(ny), g(ng);
  gpu.forward_host(model.params.data(), x, y.data());
  gpu.backward_host(dyf.data(), g.data());
  EXPECT_EQ(gpu.uses_branch_traces(), cpu.uses_branch_traces());
  if (c.segment_len > 0) EXPECT_EQ(gpu.segment_plan().num_segments, (c.T + c.segment_len - 1) / c.segment_len);

  expect_close_to_max({y.data(), ny}, {yd.data(), ny}, 1e-4, "output");
  for (const auto& e : model.layout.entries()) {
    if (!e.trainable) continue;
    expect_close_to_max({g.data() + e.offset, size_t(e.size)}, {gd.data() + e.offset, size_t(e.size)}, 1e-4, "grad " + e.name);
  }

  // A second step on the same object (buffers reused) gives the same result.
  std::vector<float> y2(ny), g2(ng);
  gpu.forward_host(model.params.data(), x, y2.data());
  gpu.backward_host(dyf.data(), g2.data());
  expect_close_to_max({y2.data(), ny}, {yd.data(), ny}, 1e-4, "output (second run)");
  expect_close_to_max({g2.data(), ng}, {gd.data(), ng}, 1e-4, "gradients (second run)");
}

std::vector<Case> cases() {
  std::vector<Case> v;
  auto add = [&](Case c) { v.push_back(c); };
  Case c;
  c.name = "v1_dense";
  add(c);
  c.name = "v1_spikes_learned_tau";
  c.kind = Kind::Spikes;
  c.learn_tau = true;
  add(c);
  c.name = "v1_tokens_silu_two_layers";
  c.kind = Kind::Tokens;
  c.silu = true;
  c.layers = 2;
  add(c);
  c = Case{};
  c.name = "v1_neuronio_routing_spikes";
  c.routing = SynapseRouting::NeuronIO;
  c.n_in = 20;
  c.branches = 4;
  c.per_branch = 6;
  c.kind = Kind::Spikes;
  c.density = 0.1;
  c.T = 120;
  c.learn_tau = true;
  add(c);
  c.name = "v1_neuronio_routing_dense_mixed_tau_s";
  c.kind = Kind::Dense;
  c.mixed_tau_s = true;
  add(c);
  c.name = "v1_neuronio_routing_spikes_mixed_tau_s";
  c.kind = Kind::Spikes;
  add(c);
  c = Case{};
  c.name = "v1_random_routing_dense";
  c.routing = SynapseRouting::Random;
  c.n_in = 10;
  c.branches = 5;
  c.per_branch = 3;
  add(c);
  c.name = "v1_random_routing_tokens_mixed_tau_s";
  c.kind = Kind::Tokens;
  c.mixed_tau_s = true;
  add(c);
  c = Case{};
  c.name = "v2_tokens_learned_tau";
  c.variant = ElmVariant::V2;
  c.kind = Kind::Tokens;
  c.n_in = 16;
  c.dm = 20;
  c.T = 300;
  c.B = 5;
  c.learn_tau = true;
  c.tau_max = 1000;
  add(c);
  c.name = "v2_dense_silu";
  c.kind = Kind::Dense;
  c.silu = true;
  c.learn_tau = false;
  c.T = 200;
  add(c);
  c.name = "v2_random_routing_spikes";
  c.kind = Kind::Spikes;
  c.routing = SynapseRouting::Random;
  c.branches = 6;
  c.per_branch = 4;
  c.density = 0.2;
  add(c);
  // Launch variants: groups of 4 with a partial last group, weights from global memory.
  c = Case{};
  c.name = "v1_group4_partial";
  c.B = 7;
  c.group = 4;
  c.learn_tau = true;
  add(c);
  c.name = "v2_group4_global_weights";
  c.variant = ElmVariant::V2;
  c.kind = Kind::Tokens;
  c.smem_weights = false;
  c.layers = 3;
  c.hidden = 24;
  add(c);
  // BPTT segments: recomputation from checkpoints, uneven last segment.
  c = Case{};
  c.name = "v1_segments_7";
  c.T = 50;
  c.segment_len = 7;
  c.learn_tau = true;
  c.kind = Kind::Spikes;
  add(c);
  c.name = "v2_segments_1_group4";
  c.variant = ElmVariant::V2;
  c.segment_len = 1;
  c.group = 4;
  c.B = 5;
  c.T = 30;
  add(c);
  // Long sequence: many segments and a multi-chunk trace scan (Path-X-like, scaled down).
  c = Case{};
  c.name = "v2_long_pathx_like_segments";
  c.variant = ElmVariant::V2;
  c.kind = Kind::Tokens;
  c.n_in = 8;
  c.dm = 12;
  c.B = 4;
  c.T = 4096;
  c.segment_len = 300;
  c.learn_tau = true;
  c.tau_max = 2e4;
  c.d_o = 2;
  add(c);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Random, CudaVsCpu, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<Case>& i) { return i.param.name; });

// Single-precision CPU backend against the GPU on a NeuronIO-shaped model (branch traces, spikes).
TEST(CudaVsCpuFloat, NeuronioShapedSpikes) {
  ELM_REQUIRE_GPU();
  ElmConfig cfg = released_neuronio_config(15);
  ElmModel model = random_model(cfg, 3);
  const InputBatch x = random_input(Kind::Spikes, 2, 60, cfg.num_input, 0.01, 5);
  const size_t ny = size_t(2) * 60 * 2, ng = size_t(model.layout.num_trainable());
  std::vector<float> y(ny), yc(ny), dy(ny), g(ng), gc(ng);
  RngStream rng(1, 1);
  for (auto& v : dy) v = float(rng.normal());
  CpuElm<float> cpu(cfg, model.routing, 1);
  cpu.forward(model.params.data(), x, yc.data());
  cpu.backward(dy.data(), gc.data());
  CudaElm gpu(cfg, model.routing);
  gpu.forward_host(model.params.data(), x, y.data());
  gpu.backward_host(dy.data(), g.data());
  std::vector<double> ycd(yc.begin(), yc.end()), gcd(gc.begin(), gc.end());
  expect_close_to_max({y.data(), ny}, {ycd.data(), ny}, 1e-4, "output");
  for (const auto& e : model.layout.entries())
    if (e.trainable)
      expect_close_to_max({g.data() + e.offset, size_t(e.size)}, {gcd.data() + e.offset, size_t(e.size)}, 1e-4, "grad " + e.name);
}

TEST(CudaElmApi, BackwardBeforeForwardIsAnError) {
  ELM_REQUIRE_GPU();
  ElmConfig cfg;
  cfg.num_input = 4;
  cfg.num_output = 2;
  cfg.num_memory = 4;
  CudaElm gpu(cfg, RoutingTable::build(cfg));
  std::vector<float> dy(8), g(gpu.layout().num_trainable());
  expect_one_line_elm_error([&] { gpu.backward_host(dy.data(), g.data()); });
  InputBatch wrong{1, 2, 5, DenseInput{std::vector<float>(10, 0.0f)}};
  expect_one_line_elm_error([&] { gpu.upload_input(wrong); });
}

}  // namespace
}  // namespace elm::test
