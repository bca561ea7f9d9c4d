#pragma once
// Host-side planning for the CUDA backend, plain C++ (no CUDA headers) so that
// it is built and tested everywhere: launch shape of the persistent recurrence
// kernels, checkpoint/segment plan of BPTT, chunking of the linear-trace scans
// and device-memory estimates.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/elm_config.hpp"

namespace elm::cuda {

// Sizes of one forward/backward problem.
struct RecurrenceDims {
  int batch = 0, steps = 0;
  int branches = 0, memory = 0, hidden = 0, layers = 1, outputs = 0;
  int synapses = 0, inputs = 0;
  int mlp_input() const { return branches + memory; }
  static RecurrenceDims of(const ElmConfig& c, int batch, int steps);
};

// What the device offers (from cudaGetDeviceProperties; plain numbers for tests).
struct DeviceLimits {
  int sm_count = 0;
  size_t smem_per_block_optin = 0;  // largest dynamic shared memory one block may opt into
  size_t total_memory = 0;
};

// The recurrence kernels run one block per group of `group` samples; every
// thread of the block owns some output units of a layer for all samples of the
// group. The MLP weights live in shared memory when they fit, else they are
// read through L1/L2 from global memory.
struct LaunchShape {
  int group = 1, threads = 0, blocks = 0;
  bool weights_in_smem_fwd = false, weights_in_smem_bwd = false;
  size_t smem_fwd = 0, smem_bwd = 0;  // dynamic shared memory, bytes
};

// Groups the kernels are compiled for.
inline constexpr int kGroupSizes[] = {1, 4};
inline constexpr int kMaxMlpLinear = 8;  // hidden layers + output layer

// Floats of MLP weights (+ biases when with_bias) over all linear layers.
size_t mlp_weight_floats(const RecurrenceDims& d, bool with_bias);
// Per-block shared memory, without weights.
size_t forward_state_floats(const RecurrenceDims& d, int group);
size_t backward_state_floats(const RecurrenceDims& d, int group);

// group_override: 0 picks automatically (4 when that still gives at least half
// an SM's worth of blocks, else 1); weights go to shared memory when
// allow_smem_weights and they fit next to the state. Throws ElmError when even
// the state does not fit.
LaunchShape choose_launch_shape(const RecurrenceDims& d, const DeviceLimits& lim, int group_override = 0,
                                bool allow_smem_weights = true);

// BPTT with checkpoints: the forward pass keeps the memory state at the start of
// every segment of `segment_len` steps (and the full record of the last
// segment); backward walks the segments in reverse, recomputing each one's
// activations from its checkpoint into a record buffer of segment_len steps.
struct SegmentPlan {
  int segment_len = 0, num_segments = 0;
  size_t record_floats_per_sample_step = 0;
  size_t record_bytes = 0;      // the per-segment activation record
  size_t checkpoint_bytes = 0;  // memory states at segment starts
};
// forced_len > 0 fixes the segment length (tests); else the longest segment
// whose record fits budget_bytes (at least 1 step, at most all steps).
SegmentPlan plan_segments(const RecurrenceDims& d, size_t budget_bytes, int forced_len = 0);

// Chunked parallel scan of a linear recurrence over `steps` for `channels`
// independent channels: enough (channel, chunk) work items to fill the GPU,
// chunks of at least 32 steps.
struct ScanPlan {
  int chunks = 1, chunk_len = 0;
};
ScanPlan plan_scan(int64_t channels, int steps);

// Grid of the per-synapse w_s gradient: x covers the synapses, y the chunks of
// chunk_rows (B*T) rows. The hardware allows at most 65535 blocks in y, so
// with more chunks each block row y takes chunks y, y + blocks_y, ...
struct WgradSynapseGrid {
  int blocks_x = 0, blocks_y = 0;
  int64_t chunks = 0;
  int chunk_rows = 256;
};
inline constexpr int kMaxGridY = 65535;
WgradSynapseGrid plan_wgrad_synapse(int64_t rows, int ds, int threads);

enum class InputKind { Dense, Spikes, Tokens };

// Device memory of one CudaElm forward+backward, bytes (buffers it allocates,
// excluding the caller's params/y/dy/grad). `events` counts spike events.
struct MemoryEstimate {
  size_t traces = 0, input = 0, checkpoints = 0, record = 0, other = 0;
  size_t total() const { return traces + input + checkpoints + record + other; }
};
MemoryEstimate estimate_memory(const RecurrenceDims& d, const SegmentPlan& seg, const LaunchShape& shape,
                               InputKind kind, bool branch_traces, int64_t events);

std::string describe(const LaunchShape& s);
std::string describe(const SegmentPlan& s);

}  // namespace elm::cuda
