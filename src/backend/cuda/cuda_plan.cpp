#include "backend/cuda/cuda_plan.hpp"

#include <algorithm>
#include <sstream>

#include "core/error.hpp"

namespace elm::cuda {

RecurrenceDims RecurrenceDims::of(const ElmConfig& c, int batch, int steps) {
  RecurrenceDims d;
  d.batch = batch;
  d.steps = steps;
  d.branches = c.branches();
  d.memory = c.num_memory;
  d.hidden = c.hidden();
  d.layers = c.mlp_num_layers;
  d.outputs = c.num_output;
  d.synapses = c.synapses();
  d.inputs = c.num_input;
  return d;
}

size_t mlp_weight_floats(const RecurrenceDims& d, bool with_bias) {
  size_t n = 0;
  int in = d.mlp_input();
  for (int l = 0; l <= d.layers; ++l) {
    const int out = l < d.layers ? d.hidden : d.memory;
    n += size_t(in) * out + (with_bias ? size_t(out) : 0);
    in = out;
  }
  return n;
}

size_t forward_state_floats(const RecurrenceDims& d, int group) {
  const size_t w = std::max(d.hidden, d.memory);
  return size_t(group) * (d.memory + d.mlp_input() + 2 * w);
}

size_t backward_state_floats(const RecurrenceDims& d, int group) {
  const size_t w = std::max({d.hidden, d.memory, d.mlp_input()});
  return size_t(group) * (2 * d.memory + 2 * w) + size_t(2 + d.outputs) * d.memory + d.outputs;
}

LaunchShape choose_launch_shape(const RecurrenceDims& d, const DeviceLimits& lim, int group_override,
                                bool allow_smem_weights) {
  ELM_CHECK(d.batch > 0 && d.steps > 0, "CUDA backend: empty batch");
  ELM_CHECK(d.layers + 1 <= kMaxMlpLinear, "CUDA backend: at most ", kMaxMlpLinear - 1, " MLP hidden layers, got ",
            d.layers);
  LaunchShape s;
  if (group_override > 0) {
    ELM_CHECK(std::find(std::begin(kGroupSizes), std::end(kGroupSizes), group_override) != std::end(kGroupSizes),
              "CUDA backend: group size must be 1 or 4, got ", group_override);
    s.group = group_override;
  } else {
    const int sms = std::max(1, lim.sm_count);
    s.group = (d.batch + 3) / 4 >= (sms + 1) / 2 ? 4 : 1;
  }
  s.blocks = (d.batch + s.group - 1) / s.group;
  const int widest = std::max({d.hidden, d.memory, d.mlp_input()});
  s.threads = std::clamp((widest + 31) / 32 * 32, 64, 512);
  const size_t limit = lim.smem_per_block_optin > 0 ? lim.smem_per_block_optin : size_t(48) << 10;
  const size_t f_state = forward_state_floats(d, s.group) * sizeof(float);
  const size_t b_state = backward_state_floats(d, s.group) * sizeof(float);
  ELM_CHECK(f_state <= limit && b_state <= limit, "CUDA backend: the recurrence state of one block needs ",
            std::max(f_state, b_state), " bytes of shared memory, the device allows ", limit);
  const size_t f_w = mlp_weight_floats(d, true) * sizeof(float);
  const size_t b_w = mlp_weight_floats(d, false) * sizeof(float);
  s.weights_in_smem_fwd = allow_smem_weights && f_state + f_w <= limit;
  s.weights_in_smem_bwd = allow_smem_weights && b_state + b_w <= limit;
  s.smem_fwd = f_state + (s.weights_in_smem_fwd ? f_w : 0);
  s.smem_bwd = b_state + (s.weights_in_smem_bwd ? b_w : 0);
  return s;
}

SegmentPlan plan_segments(const RecurrenceDims& d, size_t budget_bytes, int forced_len) {
  ELM_CHECK(d.batch > 0 && d.steps > 0, "CUDA backend: empty batch");
  SegmentPlan p;
  // x0, pre and post of each hidden layer, tanh value (then dL/da), memory state.
  p.record_floats_per_sample_step = size_t(d.mlp_input()) + 2 * size_t(d.layers) * d.hidden + 2 * size_t(d.memory);
  const size_t per_step = p.record_floats_per_sample_step * d.batch * sizeof(float);
  if (forced_len > 0) {
    p.segment_len = std::min(forced_len, d.steps);
  } else {
    const size_t fit = budget_bytes / std::max<size_t>(per_step, 1);
    p.segment_len = int(std::clamp<size_t>(fit, 1, size_t(d.steps)));
  }
  p.num_segments = (d.steps + p.segment_len - 1) / p.segment_len;
  // The record holds segment_len steps plus one more memory state (the start).
  p.record_bytes = per_step * p.segment_len + size_t(d.batch) * d.memory * sizeof(float);
  p.checkpoint_bytes = size_t(p.num_segments) * d.batch * d.memory * sizeof(float);
  return p;
}

ScanPlan plan_scan(int64_t channels, int steps) {
  ScanPlan p;
  constexpr int64_t kTargetItems = 1 << 16;
  constexpr int kMinChunk = 32;
  const int64_t want = std::max<int64_t>(1, kTargetItems / std::max<int64_t>(channels, 1));
  const int64_t most = std::max(1, steps / kMinChunk);
  p.chunks = int(std::min(want, most));
  p.chunk_len = (steps + p.chunks - 1) / p.chunks;
  p.chunks = (steps + p.chunk_len - 1) / p.chunk_len;  // no empty chunk
  return p;
}

WgradSynapseGrid plan_wgrad_synapse(int64_t rows, int ds, int threads) {
  ELM_ASSERT(rows >= 0 && ds > 0 && threads > 0);
  WgradSynapseGrid g;
  g.blocks_x = (ds + threads - 1) / threads;
  g.chunks = (rows + g.chunk_rows - 1) / g.chunk_rows;
  g.blocks_y = int(std::clamp<int64_t>(g.chunks, 1, kMaxGridY));
  return g;
}

MemoryEstimate estimate_memory(const RecurrenceDims& d, const SegmentPlan& seg, const LaunchShape& shape,
                               InputKind kind, bool branch_traces, int64_t events) {
  MemoryEstimate m;
  const size_t rows = size_t(d.batch) * d.steps, f = sizeof(float);
  m.traces = rows * d.branches * f;
  if (!branch_traces) m.traces += 2 * rows * d.synapses * f;  // routed input and per-synapse traces
  const ScanPlan sp = plan_scan(int64_t(d.batch) * (branch_traces ? d.branches : d.synapses), d.steps);
  m.traces += size_t(d.batch) * sp.chunks * (branch_traces ? d.branches : d.synapses) * f;
  switch (kind) {
    case InputKind::Dense:
      m.input = rows * d.inputs * f;
      if (branch_traces) m.other += 2 * size_t(d.inputs) * d.branches * f;  // routing matrix, w_s gradient
      break;
    case InputKind::Spikes:
      m.input = (rows + 1) * sizeof(int64_t) + size_t(events) * (sizeof(int32_t) + f);
      break;
    case InputKind::Tokens:
      m.input = rows * sizeof(int32_t);
      break;
  }
  m.checkpoints = seg.checkpoint_bytes;
  m.record = seg.record_bytes + size_t(seg.segment_len) * d.batch * f;  // + the ones vector of the bias sums
  m.other += mlp_weight_floats(d, false) * f;                              // transposed weights
  m.other += (size_t(d.batch) * d.memory + size_t(shape.blocks) * ((2 + d.outputs) * d.memory + d.outputs)) * f;
  m.other += (size_t(d.synapses) * 3 + size_t(d.memory) * 4) * f;
  return m;
}

std::string describe(const LaunchShape& s) {
  std::ostringstream os;
  os << "group=" << s.group << " blocks=" << s.blocks << " threads=" << s.threads
     << " smem_weights=" << (s.weights_in_smem_fwd ? "fwd" : "") << (s.weights_in_smem_bwd ? "+bwd" : "")
     << " smem_bytes=" << s.smem_fwd << "/" << s.smem_bwd;
  return os.str();
}

std::string describe(const SegmentPlan& s) {
  std::ostringstream os;
  os << "segments=" << s.num_segments << " segment_len=" << s.segment_len << " record_mib="
     << double(s.record_bytes) / (1 << 20) << " checkpoint_mib=" << double(s.checkpoint_bytes) / (1 << 20);
  return os.str();
}

}  // namespace elm::cuda
