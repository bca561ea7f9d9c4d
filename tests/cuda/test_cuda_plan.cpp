// Host-side logic of the CUDA backend: these tests run without a GPU.
#include <gtest/gtest.h>

#include <algorithm>

#include "backend/cuda/cuda_plan.hpp"
#include "backend/cuda/elm_cuda.hpp"
#include "bench/cuda_bench.hpp"
#include "bench/workloads.hpp"
#include "model/elm_model.hpp"
#include "test_support.hpp"

namespace elm::cuda {
namespace {

RecurrenceDims dims_of(const std::string& workload) {
  const BenchWorkload& w = find_bench_workload(workload);
  return RecurrenceDims::of(w.model, w.batch, w.steps);
}

DeviceLimits h100() { return {132, 227 * 1024, size_t(80) << 30}; }

TEST(CudaPlan, PathXSegmentsBoundTheRecord) {
  const RecurrenceDims d = dims_of("pathx_dm150");
  EXPECT_EQ(d.mlp_input(), 158);
  const SegmentPlan p = plan_segments(d, size_t(256) << 20);
  // x0 158 + pre/post 2*300 + g and m 2*150 floats per sample-step.
  EXPECT_EQ(p.record_floats_per_sample_step, 158u + 600u + 300u);
  EXPECT_LE(p.record_bytes, (size_t(256) << 20) + size_t(64) * 150 * 4);
  EXPECT_GT(p.segment_len, 100);
  EXPECT_LT(p.segment_len, 16384);
  EXPECT_EQ(p.num_segments, (16384 + p.segment_len - 1) / p.segment_len);
  EXPECT_EQ(p.checkpoint_bytes, size_t(p.num_segments) * 64 * 150 * 4);
  // Without segments the record alone would be > 4 GiB.
  const SegmentPlan whole = plan_segments(d, size_t(1) << 40);
  EXPECT_EQ(whole.num_segments, 1);
  EXPECT_EQ(whole.segment_len, 16384);
  EXPECT_GT(whole.record_bytes, size_t(4) << 30);
}

TEST(CudaPlan, ForcedAndTinySegments) {
  RecurrenceDims d = dims_of("neuronio_dm15");
  d.steps = 50;
  const SegmentPlan p = plan_segments(d, 1, 7);
  EXPECT_EQ(p.segment_len, 7);
  EXPECT_EQ(p.num_segments, 8);  // 7 * 7 + 1
  EXPECT_EQ(plan_segments(d, 1).segment_len, 1);  // budget below one step: still one step
  EXPECT_EQ(plan_segments(d, 1, 500).segment_len, 50);
  EXPECT_EQ(plan_segments(d, size_t(1) << 30).num_segments, 1);
}

TEST(CudaPlan, LaunchShapes) {
  // NeuronIO dm15: small batch, tiny MLP: one sample per block, weights in shared memory.
  const LaunchShape n = choose_launch_shape(dims_of("neuronio_dm15"), h100());
  EXPECT_EQ(n.group, 1);
  EXPECT_EQ(n.blocks, 8);
  EXPECT_TRUE(n.weights_in_smem_fwd && n.weights_in_smem_bwd);
  EXPECT_EQ(n.threads % 32, 0);
  // Pathfinder: 384 samples in groups of 4; the fp32 MLP (~380 KB) does not fit in shared memory.
  const RecurrenceDims pf = dims_of("pathfinder_dm150");
  EXPECT_GT(mlp_weight_floats(pf, true) * 4, h100().smem_per_block_optin);
  const LaunchShape p = choose_launch_shape(pf, h100());
  EXPECT_EQ(p.group, 4);
  EXPECT_EQ(p.blocks, 96);
  EXPECT_FALSE(p.weights_in_smem_fwd);
  EXPECT_FALSE(p.weights_in_smem_bwd);
  EXPECT_EQ(p.smem_fwd, forward_state_floats(pf, 4) * 4);
  EXPECT_LE(p.smem_bwd, h100().smem_per_block_optin);
  EXPECT_EQ(p.threads, 320);
  // neuronio_dm100 weights (~195 KB with biases) fit next to the state on an H100, not in 48 KB.
  const RecurrenceDims n100 = dims_of("neuronio_dm100");
  EXPECT_TRUE(choose_launch_shape(n100, h100()).weights_in_smem_fwd);
  EXPECT_FALSE(choose_launch_shape(n100, {132, 48 * 1024, 0}).weights_in_smem_fwd);
  // Overrides.
  EXPECT_EQ(choose_launch_shape(n100, h100(), 4).blocks, 2);
  EXPECT_FALSE(choose_launch_shape(n100, h100(), 0, false).weights_in_smem_bwd);
}

TEST(CudaPlan, LaunchShapeErrors) {
  RecurrenceDims d = dims_of("neuronio_dm15");
  test::expect_one_line_elm_error([&] { choose_launch_shape(d, h100(), 3); });
  d.layers = kMaxMlpLinear;
  test::expect_one_line_elm_error([&] { choose_launch_shape(d, h100()); });
  RecurrenceDims big = dims_of("pathx_dm150");
  big.hidden = 40000;
  const std::string msg = test::expect_one_line_elm_error([&] { choose_launch_shape(big, h100()); });
  EXPECT_NE(msg.find("shared memory"), std::string::npos) << msg;
}

TEST(CudaPlan, ScanChunks) {
  for (int64_t channels : {1, 8, 512, 36000, 1 << 20})
    for (int steps : {1, 31, 32, 100, 1024, 16384}) {
      const ScanPlan p = plan_scan(channels, steps);
      ASSERT_GE(p.chunks, 1);
      EXPECT_GE(int64_t(p.chunks) * p.chunk_len, steps);
      EXPECT_LT(int64_t(p.chunks - 1) * p.chunk_len, steps) << "empty chunk";
      if (p.chunks > 1) EXPECT_GE(p.chunk_len, 32);
    }
  EXPECT_EQ(plan_scan(64 * 8, 16384).chunks, 128);  // Path-X branch traces: 128 chunks of 128 steps
  EXPECT_EQ(plan_scan(1 << 20, 1024).chunks, 1);
}

TEST(CudaPlan, MemoryEstimates) {
  const RecurrenceDims d = dims_of("pathx_dm150");
  const SegmentPlan seg = plan_segments(d, size_t(256) << 20);
  const LaunchShape sh = choose_launch_shape(d, h100());
  const MemoryEstimate m = estimate_memory(d, seg, sh, InputKind::Tokens, true, 0);
  EXPECT_EQ(m.input, size_t(64) * 16384 * 4);
  EXPECT_EQ(m.checkpoints, seg.checkpoint_bytes);
  EXPECT_LT(m.total(), size_t(1) << 30);  // bounded: the whole-sequence record would be > 4 GiB
  const MemoryEstimate syn = estimate_memory(dims_of("neuronio_dm15"), plan_segments(dims_of("neuronio_dm15"), 1 << 28),
                                             choose_launch_shape(dims_of("neuronio_dm15"), h100()), InputKind::Spikes,
                                             false, 1000);
  EXPECT_GE(syn.traces, size_t(2) * 8 * 500 * 4500 * 4);  // per-synapse traces are materialised
}

// Rows summed by the blocks of grid row y, as wgrad_synapse_kernel walks them.
int64_t rows_of_block_row(const WgradSynapseGrid& g, int64_t rows, int y) {
  int64_t n = 0;
  for (int64_t chunk = y; chunk < g.chunks; chunk += g.blocks_y)
    n += std::min(rows, (chunk + 1) * g.chunk_rows) - chunk * g.chunk_rows;
  return n;
}

TEST(CudaPlan, WgradSynapseGridStaysWithinTheHardwareLimit) {
  // Per-synapse traces at B*T above 65535 * 256 = 16.7M rows put more chunks
  // than the 65535 blocks grid.y allows: the launch failed.
  for (const int64_t rows : {int64_t(1), int64_t(255), int64_t(256), int64_t(257), int64_t(64) * 16384,
                             int64_t(kMaxGridY) * 256, int64_t(kMaxGridY) * 256 + 1, int64_t(64) * 16384 * 20,
                             int64_t(64) * 16384 * 64 + 77}) {
    SCOPED_TRACE(rows);
    const WgradSynapseGrid g = plan_wgrad_synapse(rows, 1000, 256);
    EXPECT_EQ(g.blocks_x, 4);
    EXPECT_GE(g.blocks_y, 1);
    EXPECT_LE(g.blocks_y, kMaxGridY);
    EXPECT_GE(int64_t(g.blocks_y) * g.chunk_rows * ((g.chunks + g.blocks_y - 1) / g.blocks_y), rows);
    // Every row summed exactly once over the block rows.
    int64_t covered = 0;
    for (int y = 0; y < g.blocks_y; ++y) covered += rows_of_block_row(g, rows, y);
    EXPECT_EQ(covered, rows);
  }
  // Up to the limit each chunk keeps a block row of its own (the launch as before).
  const WgradSynapseGrid small = plan_wgrad_synapse(int64_t(3) * 40, 24, 256);
  EXPECT_EQ(small.blocks_y, 1);
  EXPECT_EQ(small.chunks, 1);
  const WgradSynapseGrid at_limit = plan_wgrad_synapse(int64_t(kMaxGridY) * 256, 24, 256);
  EXPECT_EQ(at_limit.blocks_y, kMaxGridY);
  EXPECT_EQ(at_limit.chunks, kMaxGridY);
}

TEST(CudaBenchProjection, PaperSchedules) {
  EXPECT_EQ(paper_schedule("pathfinder_dm150").train_samples, 160000);
  EXPECT_EQ(paper_schedule("pathx_dm150").epochs, 300);
  EXPECT_EQ(paper_schedule("neuronio_dm15").train_samples, 0);
  // 416 steps/epoch * 300 epochs * 10 ms = 1248 s.
  EXPECT_NEAR(projected_training_hours(10.0, 384, paper_schedule("pathfinder_dm150")), 1248.0 / 3600, 1e-9);
  EXPECT_EQ(projected_training_hours(10.0, 8, {}), 0.0);
}

TEST(CudaNoDevice, FailsWithOneLine) {
  std::string why;
  if (cuda_device_usable(&why)) GTEST_SKIP() << "a GPU is present: the no-device path is not reachable";
  EXPECT_FALSE(why.empty());
  EXPECT_EQ(why.find('\n'), std::string::npos);
  const ElmConfig c = released_neuronio_config(15);
  const std::string msg =
      test::expect_one_line_elm_error([&] { CudaElm e(c, RoutingTable::build(c)); });
  EXPECT_NE(msg.find("CUDA"), std::string::npos) << msg;
  const std::string bench = test::expect_one_line_elm_error(
      [&] { run_cuda_bench(find_bench_workload("neuronio_dm15"), 0.1, 1); });
  EXPECT_NE(bench.find("--backend cuda"), std::string::npos) << bench;
}

}  // namespace
}  // namespace elm::cuda
