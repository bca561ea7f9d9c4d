// CudaElm and DeviceFloats stay on their device whatever device is current at
// each call, and the v1 branch-trace decision made once per parameter buffer
// is redone after params_changed() (and a missed call is caught). GPU only:
// skips without a device.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cmath>

#include "backend/cpu/elm_cpu.hpp"
#include "core/rng.hpp"
#include "cuda_test_support.hpp"
#include "test_support.hpp"

namespace elm::test {
namespace {

int device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

int current_device() {
  int d = -1;
  EXPECT_EQ(cudaGetDevice(&d), cudaSuccess);
  return d;
}

ElmConfig small_config() {
  ElmConfig c;
  c.num_input = 6;
  c.num_output = 3;
  c.num_memory = 8;
  c.num_branch = 4;
  c.num_synapse_per_branch = 3;
  c.routing_seed = 5;
  return c;
}

float largest_difference(const std::vector<float>& a, const std::vector<float>& b) {
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

// Same computation, maybe another order of atomic additions: equal to float rounding.
void expect_same(const std::vector<float>& got, const std::vector<float>& ref, const char* what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  float scale = 0;
  for (float v : ref) scale = std::max(scale, std::abs(v));
  EXPECT_LE(largest_difference(got, ref), 1e-5f * scale) << what;
}

TEST(CudaDeviceBinding, EveryCallRunsOnTheElmsDeviceAndRestoresTheCurrentOne) {
  ELM_REQUIRE_GPU();
  const int n = device_count();
  const int mine = n - 1, other = 0;  // one device: still checks that the current one is left alone
  const ElmConfig cfg = small_config();
  ElmModel model = random_model(cfg, 3);
  const InputBatch x = random_input(Kind::Dense, 2, 30, cfg.num_input, 0.5, 9);
  const size_t ny = size_t(2) * 30 * cfg.num_output, ng = size_t(model.layout.num_trainable());
  std::vector<float> y_ref(ny), g_ref(ng), dy(ny, 0.5f);
  {
    CudaElm ref(cfg, model.routing);
    ref.forward_host(model.params.data(), x, y_ref.data());
    ref.backward_host(dy.data(), g_ref.data());
  }
  ASSERT_EQ(cudaSetDevice(other), cudaSuccess);
  CudaElmOptions opt;
  opt.device = mine;
  CudaElm gpu(cfg, model.routing, opt);
  EXPECT_EQ(gpu.device(), mine);
  EXPECT_EQ(current_device(), other);
  DeviceFloats params(model.params.size(), mine), y(ny, mine), d_dy(ny, mine), grad(ng, mine);
  EXPECT_EQ(params.device(), mine);
  EXPECT_EQ(current_device(), other);
  params.upload(model.params.data(), model.params.size());
  d_dy.upload(dy.data(), ny);
  gpu.upload_input(x);
  gpu.forward(params.data(), y.data());
  EXPECT_EQ(current_device(), other);
  gpu.backward(d_dy.data(), grad.data());
  gpu.synchronize();
  EXPECT_EQ(current_device(), other);
  std::vector<float> y_got(ny), g_got(ng);
  y.download(y_got.data(), ny);
  grad.download(g_got.data(), ng);
  EXPECT_EQ(current_device(), other);
  expect_same(y_got, y_ref, "output");
  expect_same(g_got, g_ref, "gradient");
  std::vector<float> y_host(ny);
  gpu.forward_host(model.params.data(), x, y_host.data());
  EXPECT_EQ(current_device(), other);
  expect_same(y_host, y_ref, "forward_host output");
}

TEST(CudaDeviceBinding, BranchDecisionFollowsParamsChanged) {
  ELM_REQUIRE_GPU();
  const ElmConfig cfg = small_config();
  ElmModel model = random_model(cfg, 7);
  const int ds = cfg.synapses();
  for (int s = 0; s < ds; ++s) model.params[model.layout.trace_tau() + s] = 4.0f;  // equal per branch
  const InputBatch x = random_input(Kind::Dense, 2, 30, cfg.num_input, 0.5, 9);
  const size_t ny = size_t(2) * 30 * cfg.num_output;
  std::vector<float> mixed = model.params;
  RngStream rng(4, 4);
  for (int s = 0; s < ds; ++s) mixed[model.layout.trace_tau() + s] = float(2 + 8 * rng.uniform());

  CudaElm gpu(cfg, model.routing);
  std::vector<float> y_equal(ny), y_mixed(ny), got(ny);
  gpu.forward_host(model.params.data(), x, y_equal.data());
  EXPECT_TRUE(gpu.uses_branch_traces());
  gpu.forward_host(mixed.data(), x, y_mixed.data());
  EXPECT_FALSE(gpu.uses_branch_traces());
  float scale = 0;
  for (float v : y_mixed) scale = std::max(scale, std::abs(v));
  ASSERT_GT(largest_difference(y_equal, y_mixed), 1e-3f * scale);  // expect_same below tells them apart

  DeviceFloats params(model.params.size()), y(ny);
  params.upload(model.params.data(), model.params.size());
  gpu.upload_input(x);
  gpu.forward(params.data(), y.data());
  gpu.forward(params.data(), y.data());  // the cached decision
  gpu.synchronize();
  y.download(got.data(), ny);
  EXPECT_TRUE(gpu.uses_branch_traces());
  expect_same(got, y_equal, "cached decision");

  params.upload(mixed.data(), mixed.size());
  gpu.params_changed();
  gpu.forward(params.data(), y.data());
  gpu.synchronize();
  y.download(got.data(), ny);
  EXPECT_FALSE(gpu.uses_branch_traces());
  expect_same(got, y_mixed, "decision after params_changed");

  // Back to equal tau_s, announced: branch traces again. Then unequal ones
  // written without params_changed(): the device-side check reports it.
  params.upload(model.params.data(), model.params.size());
  gpu.params_changed();
  gpu.forward(params.data(), y.data());
  gpu.synchronize();
  EXPECT_TRUE(gpu.uses_branch_traces());
  params.upload(mixed.data(), mixed.size());
  gpu.forward(params.data(), y.data());  // runs with the stale decision, the check kernel flags it
  const std::string msg = expect_one_line_elm_error([&] { gpu.synchronize(); });
  EXPECT_NE(msg.find("params_changed"), std::string::npos) << msg;
}

}  // namespace
}  // namespace elm::test
