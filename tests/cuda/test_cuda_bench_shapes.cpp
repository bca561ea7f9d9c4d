// The CUDA backend on the bench workloads' own models and inputs, against
// CpuElm<float>. The random cases of test_cuda_vs_cpu.cpp are at most 64 units
// wide, so the launch shapes and segment plans that `elmrun bench` times
// (dynamic shared memory above 48 KiB, groups of 4 with several items per
// thread, MLP weights read from global memory, Path-X's multi-segment BPTT)
// would otherwise run only in the bench, which checks no result. Each case also
// asserts the shape or plan it is meant to cover, so that a change of the
// planner that moves a case off its path fails here instead of silently
// testing something else.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

#include "backend/cpu/elm_cpu.hpp"
#include "backend/cuda/cuda_plan.hpp"
#include "bench/workloads.hpp"
#include "core/rng.hpp"
#include "cuda_test_support.hpp"

namespace elm::test {
namespace {

constexpr size_t kDefaultSmem = size_t(48) << 10;  // what a block gets without opting in

// How far two correct fp32 computations may differ depends on the problem: on
// 16384 steps of Path-X the CPU's own float result is 4e-3 (of the tensor's
// largest entry) off its double result in some gradients, on NeuronIO 3e-6.
// So each tensor's bound is kMargin times the CPU's float-vs-double error of
// that tensor (the GPU sums in other orders: FMA, GEMM blocking, atomics), and
// never below kFloor, the bound of test_cuda_vs_cpu.cpp. Measured on the CPU,
// float results of two instruction-set levels differ by 0.1-0.5 of the
// float-vs-double error, so an fp32 GPU result is expected within ~2x of it.
constexpr double kMargin = 10, kFloor = 1e-4;

struct Error {
  double max_rel = 0, norm_rel = 0;  // max |a - b| / max |b|, |a - b|_2 / |b|_2
  size_t worst = 0;
};

template <class A, class B>
Error error_of(const A* got, const B* ref, size_t n) {
  double scale = 0, worst = 0, d2 = 0, r2 = 0;
  Error e;
  for (size_t i = 0; i < n; ++i) {
    scale = std::max(scale, std::abs(double(ref[i])));
    const double d = std::abs(double(got[i]) - double(ref[i]));
    if (std::isnan(d) || d > worst) worst = std::isnan(d) ? INFINITY : d, e.worst = i;
    d2 += std::isnan(d) ? INFINITY : d * d;
    r2 += double(ref[i]) * double(ref[i]);
  }
  e.max_rel = scale > 0 ? worst / scale : worst;
  e.norm_rel = r2 > 0 ? std::sqrt(d2 / r2) : std::sqrt(d2);
  return e;
}

BenchWorkload workload_of(const std::string& name, int batch, int steps = 0) {
  BenchWorkload w = find_bench_workload(name);
  w.batch = batch;
  if (steps > 0) w.steps = steps;
  return w;
}

int cpu_threads() { return int(std::max(1u, std::thread::hardware_concurrency())); }

// One forward/backward of CpuElm<float> on the workload's input
// (make_bench_input, the bench's seed) and a random dL/dy at every step, so
// that every segment of a long sequence carries gradient; the same in double
// gives each tensor's float rounding error (`rounding`: the output, then the
// trainable entries in layout order).
struct Reference {
  ElmModel model;
  InputBatch x;
  std::vector<float> y, dy, grad;
  std::vector<Error> rounding;
};

Reference cpu_reference(const BenchWorkload& w) {
  Reference r{random_model(w.model, 31), make_bench_input(w, 2), {}, {}, {}, {}};
  const size_t ny = size_t(w.batch) * w.steps * w.model.num_output, ng = r.model.layout.num_trainable();
  r.y.resize(ny);
  r.dy.resize(ny);
  r.grad.resize(ng);
  RngStream rng(41, 3);
  for (auto& v : r.dy) v = float(rng.normal());
  CpuElm<float> cpu(w.model, r.model.routing, cpu_threads());
  cpu.forward(r.model.params.data(), r.x, r.y.data());
  cpu.backward(r.dy.data(), r.grad.data());
  std::vector<double> pd(r.model.params.begin(), r.model.params.end()), yd(ny), dyd(r.dy.begin(), r.dy.end()), gd(ng);
  CpuElm<double> exact(w.model, r.model.routing, cpu_threads());
  exact.forward(pd.data(), r.x, yd.data());
  exact.backward(dyd.data(), gd.data());
  r.rounding.push_back(error_of(r.y.data(), yd.data(), ny));
  for (const auto& e : r.model.layout.entries())
    if (e.trainable) r.rounding.push_back(error_of(r.grad.data() + e.offset, gd.data() + e.offset, size_t(e.size)));
  return r;
}

struct GpuRun {
  std::vector<float> y, grad;
  cuda::LaunchShape shape;
  cuda::SegmentPlan seg;
};

GpuRun gpu_run(const BenchWorkload& w, const Reference& r, const CudaElmOptions& opt) {
  CudaElm gpu(w.model, r.model.routing, opt);
  GpuRun g{std::vector<float>(r.y.size()), std::vector<float>(r.grad.size()), {}, {}};
  gpu.forward_host(r.model.params.data(), r.x, g.y.data());
  gpu.backward_host(r.dy.data(), g.grad.data());
  g.shape = gpu.launch_shape();
  g.seg = gpu.segment_plan();
  return g;
}

// The GPU's error against CpuElm<float>, per tensor, within kMargin times the
// CPU's float rounding error of that tensor (at least kFloor), both as the
// largest entry error and as the error norm. Every tensor's figures are printed:
// the margin actually left is what a later change of tolerance rests on.
void expect_close(const float* got, const float* ref, size_t n, const Error& rounding, const std::string& what) {
  const Error e = error_of(got, ref, n);
  const double tol_max = std::max(kFloor, kMargin * rounding.max_rel);
  const double tol_norm = std::max(kFloor, kMargin * rounding.norm_rel);
  std::printf("  %-22s gpu-cpu max %.2e norm %.2e | cpu float-double max %.2e norm %.2e\n", what.c_str(), e.max_rel,
              e.norm_rel, rounding.max_rel, rounding.norm_rel);
  EXPECT_TRUE(e.max_rel <= tol_max && e.norm_rel <= tol_norm)
      << what << ": largest error " << e.max_rel << " of the largest entry (bound " << tol_max << "), at " << e.worst
      << " of " << n << " (got " << (n ? got[e.worst] : 0.f) << ", reference " << (n ? ref[e.worst] : 0.f)
      << "); error norm " << e.norm_rel << " of the reference's (bound " << tol_norm << ")";
}

void expect_matches(const Reference& r, const GpuRun& g) {
  size_t k = 0;
  expect_close(g.y.data(), r.y.data(), r.y.size(), r.rounding[k++], "output");
  for (const auto& e : r.model.layout.entries())
    if (e.trainable)
      expect_close(g.grad.data() + e.offset, r.grad.data() + e.offset, size_t(e.size), r.rounding[k++], e.name);
}

cuda::RecurrenceDims dims_of(const BenchWorkload& w) { return cuda::RecurrenceDims::of(w.model, w.batch, w.steps); }

// The full bench batch, automatic options: one sample per block and the MLP
// weights (~195 KB) in opted-in dynamic shared memory.
TEST(CudaBenchShapes, NeuronioDm100FullBatch) {
  ELM_REQUIRE_GPU();
  const BenchWorkload w = find_bench_workload("neuronio_dm100");
  const Reference r = cpu_reference(w);
  const GpuRun g = gpu_run(w, r, {});
  EXPECT_EQ(g.shape.group, 1);
  EXPECT_EQ(g.shape.blocks, w.batch);
  EXPECT_TRUE(g.shape.weights_in_smem_fwd);
  EXPECT_TRUE(g.shape.weights_in_smem_bwd);
  EXPECT_GT(g.shape.smem_fwd, kDefaultSmem) << cuda::describe(g.shape);
  EXPECT_GT(g.shape.smem_bwd, kDefaultSmem) << cuda::describe(g.shape);
  EXPECT_EQ(g.seg.num_segments, 1);
  expect_matches(r, g);
}

// Groups of 4 (forced: at 8 samples the automatic choice is 1) with the d_m =
// 150 MLP read from global memory; a group's MLP input (4 x 158) is more than
// one item per thread.
TEST(CudaBenchShapes, PathfinderDm150Group4) {
  ELM_REQUIRE_GPU();
  const BenchWorkload w = workload_of("pathfinder_dm150", 8);
  const Reference r = cpu_reference(w);
  CudaElmOptions opt;
  opt.group = 4;
  const GpuRun g = gpu_run(w, r, opt);
  EXPECT_EQ(g.shape.group, 4);
  EXPECT_EQ(g.shape.blocks, 2);
  EXPECT_FALSE(g.shape.weights_in_smem_fwd);
  EXPECT_FALSE(g.shape.weights_in_smem_bwd);
  EXPECT_GT(g.shape.group * dims_of(w).mlp_input(), g.shape.threads) << cuda::describe(g.shape);
  expect_matches(r, g);
}

// The bench's 384 samples with the sequence cut to 64 steps (CPU time): the
// automatic choice is 4 samples per block on any GPU of up to 192 SMs.
TEST(CudaBenchShapes, PathfinderDm150AutomaticGroup) {
  ELM_REQUIRE_GPU();
  const BenchWorkload w = workload_of("pathfinder_dm150", find_bench_workload("pathfinder_dm150").batch, 64);
  const Reference r = cpu_reference(w);
  const GpuRun g = gpu_run(w, r, {});
  EXPECT_EQ(g.shape.group, 4) << cuda::describe(g.shape);
  EXPECT_EQ(g.shape.blocks, w.batch / 4);
  expect_matches(r, g);
}

// Two samples of Path-X at full length. One CPU reference serves every plan.
const BenchWorkload& pathx_slice() {
  static const BenchWorkload w = workload_of("pathx_dm150", 2);
  return w;
}
const Reference& pathx_reference() {
  static const Reference r = cpu_reference(pathx_slice());
  return r;
}

// The bench's segment plan: its default budget is for 64 samples, so the slice
// gets the same share of it, which gives the bench's segment length.
TEST(CudaBenchShapes, PathxDm150BenchSegments) {
  ELM_REQUIRE_GPU();
  const BenchWorkload& full = find_bench_workload("pathx_dm150");
  const CudaElmOptions defaults;
  const cuda::SegmentPlan bench_plan = cuda::plan_segments(dims_of(full), defaults.segment_budget_bytes);
  ASSERT_GT(bench_plan.num_segments, 1) << cuda::describe(bench_plan);
  CudaElmOptions opt;
  opt.segment_budget_bytes = defaults.segment_budget_bytes / size_t(full.batch) * size_t(pathx_slice().batch);
  const GpuRun g = gpu_run(pathx_slice(), pathx_reference(), opt);
  EXPECT_EQ(g.seg.segment_len, bench_plan.segment_len) << cuda::describe(g.seg);
  EXPECT_EQ(g.seg.num_segments, bench_plan.num_segments) << cuda::describe(g.seg);
  EXPECT_EQ(g.shape.group, 1);
  EXPECT_FALSE(g.shape.weights_in_smem_fwd);
  expect_matches(pathx_reference(), g);
}

// Short segments (an uneven last one): 164 recomputations from checkpoints.
TEST(CudaBenchShapes, PathxDm150ShortSegments) {
  ELM_REQUIRE_GPU();
  CudaElmOptions opt;
  opt.segment_len = 100;
  const GpuRun g = gpu_run(pathx_slice(), pathx_reference(), opt);
  EXPECT_EQ(g.seg.segment_len, 100);
  EXPECT_EQ(g.seg.num_segments, 164);
  expect_matches(pathx_reference(), g);
}

// The default budget holds two samples' whole record: one segment, no recomputation.
TEST(CudaBenchShapes, PathxDm150DefaultBudget) {
  ELM_REQUIRE_GPU();
  const GpuRun g = gpu_run(pathx_slice(), pathx_reference(), {});
  EXPECT_EQ(g.seg.num_segments, 1) << cuda::describe(g.seg);
  expect_matches(pathx_reference(), g);
}

// The check itself, without a GPU: another fp32 computation of the same step
// (the CPU kernels of the baseline instruction set: other FMA and vector sums)
// passes, and a 1% error in one entry of a gradient or in the outputs of part
// of one sample's sequence fails.
TEST(CudaBenchShapes, CheckAcceptsOtherFloatOrderRejectsErrors) {
  const BenchWorkload w = workload_of("pathfinder_dm150", 2, 256);
  const Reference r = cpu_reference(w);
  GpuRun other{std::vector<float>(r.y.size()), std::vector<float>(r.grad.size()), {}, {}};
  CpuElm<float> cpu(w.model, r.model.routing, 1, CpuIsa::Baseline);
  cpu.forward(r.model.params.data(), r.x, other.y.data());
  cpu.backward(r.dy.data(), other.grad.data());
  expect_matches(r, other);

  const ParamEntry* ws = r.model.layout.find("_proto_w_s");
  ASSERT_NE(ws, nullptr);
  GpuRun bad = other;
  float* g = bad.grad.data() + ws->offset;
  *std::max_element(g, g + ws->size, [](float a, float b) { return std::abs(a) < std::abs(b); }) *= 1.01f;
  EXPECT_NONFATAL_FAILURE(expect_matches(r, bad), "_proto_w_s: largest error");
  bad = other;
  std::fill(bad.y.begin() + 10 * w.model.num_output, bad.y.begin() + 40 * w.model.num_output, 0.0f);
  EXPECT_NONFATAL_FAILURE(expect_matches(r, bad), "output: largest error");
}

// The shapes above, planned on the host for an H100/H200 (132 SMs, 227 KiB of
// opt-in shared memory), so that a planner change that moves a bench workload
// off the path its GPU case covers fails everywhere, not only on a GPU.
TEST(CudaBenchShapes, PlannedShapesOnH100) {
  const cuda::DeviceLimits h100{132, 227 * 1024, size_t(80) << 30};
  const cuda::LaunchShape n = cuda::choose_launch_shape(dims_of(find_bench_workload("neuronio_dm100")), h100);
  EXPECT_EQ(n.group, 1);
  EXPECT_TRUE(n.weights_in_smem_fwd && n.weights_in_smem_bwd);
  EXPECT_GT(n.smem_fwd, kDefaultSmem);
  EXPECT_GT(n.smem_bwd, kDefaultSmem);
  const BenchWorkload pf = workload_of("pathfinder_dm150", 8);
  const cuda::LaunchShape p = cuda::choose_launch_shape(dims_of(pf), h100, 4);
  EXPECT_FALSE(p.weights_in_smem_fwd || p.weights_in_smem_bwd);
  EXPECT_GT(p.group * dims_of(pf).mlp_input(), p.threads);
  const BenchWorkload pf_short = workload_of("pathfinder_dm150", find_bench_workload("pathfinder_dm150").batch, 64);
  EXPECT_EQ(cuda::choose_launch_shape(dims_of(pf_short), h100).group, 4);
  EXPECT_EQ(cuda::choose_launch_shape(dims_of(pf_short), {192, 227 * 1024, 0}).group, 4);
  const CudaElmOptions defaults;
  EXPECT_EQ(cuda::plan_segments(dims_of(pathx_slice()), defaults.segment_budget_bytes).num_segments, 1);
  EXPECT_EQ(cuda::plan_segments(dims_of(pathx_slice()), 1, 100).num_segments, 164);
  const BenchWorkload& px = find_bench_workload("pathx_dm150");
  const cuda::SegmentPlan bench = cuda::plan_segments(dims_of(px), defaults.segment_budget_bytes);
  const cuda::SegmentPlan share = cuda::plan_segments(
      dims_of(pathx_slice()), defaults.segment_budget_bytes / size_t(px.batch) * size_t(pathx_slice().batch));
  EXPECT_GT(bench.num_segments, 1);
  EXPECT_EQ(share.segment_len, bench.segment_len);
  EXPECT_EQ(share.num_segments, bench.num_segments);
}

}  // namespace
}  // namespace elm::test
