#pragma once
// Kernels of the CUDA backend and their launchers (device pointers, raw sizes).
// elm_cuda.cu orchestrates them; see docs/cuda-backend.md.
#include <cuda_runtime.h>

#include <cstdint>
#include <span>

#include "backend/cuda/cuda_plan.hpp"

namespace elm::cuda {

constexpr float kTanhScale = 1.7159f;
constexpr float kTanhSlope = float(2.0 / 3.0);
constexpr float kTanhScaleSlope = float(1.7159 * (2.0 / 3.0));

struct MlpView {
  int num_linear = 0;  // hidden layers + output layer
  int in[kMaxMlpLinear] = {}, out[kMaxMlpLinear] = {};
  const float* w[kMaxMlpLinear] = {};   // [out][in], row-major (inside the parameter buffer)
  const float* wt[kMaxMlpLinear] = {};  // [in][out], transposed copy
  const float* b[kMaxMlpLinear] = {};
};

// Activations of the steps of one segment, rows (k, b) in that order so each
// tensor is one [K*B, width] matrix for the weight-gradient GEMMs.
struct Record {
  float* x0 = nullptr;    // [K][B][din]
  float* pre = nullptr;   // [layers][K][B][H]; backward overwrites with dL/dpre
  float* post = nullptr;  // [layers][K][B][H]
  float* g = nullptr;     // [K][B][dm] tanh(2a/3); backward overwrites with dL/da
  float* m = nullptr;     // [K+1][B][dm] memory state before step k (entry k) / after (k+1)
  int cap = 0;            // K
};

struct RecurrenceArgs {
  int B = 0, T = 0, db = 0, dm = 0, H = 0, d_o = 0, layers = 1;
  bool silu = false;
  MlpView mlp;
  const float* wy = nullptr;  // [d_o][dm]
  const float* by = nullptr;
  const float* kappa_m = nullptr;
  const float* update_scale = nullptr;
  const float* z = nullptr;  // [B][T][db] trace values (forward) ...
  float* dz = nullptr;       // ... and their adjoints (backward, same buffer)
  // forward
  float* y = nullptr;        // [B][T][d_o] or null
  float* ckpt = nullptr;     // [segments][B][dm] or null
  int seg_len = 1;
  const float* m_init = nullptr;  // [B][dm] or null: zero state
  // backward
  const float* dy = nullptr;  // [B][T][d_o]
  float* carry = nullptr;     // [B][dm] dL/dm at the segment end, updated
  float* partial = nullptr;   // [blocks][(2 + d_o) * dm + d_o]: dkappa, dkappa_lambda, dW_y, db_y
  bool learn_tau = false, v1 = true;
  float lambda = 5.0f;
  int t0 = 0, t1 = 0;
  Record rec;
  int rec_t0 = 0;  // record steps t >= rec_t0 (at k = t - rec_t0)
  bool weights_in_smem = false;
};

void launch_recurrence_forward(const RecurrenceArgs& a, const LaunchShape& s, cudaStream_t st);
void launch_recurrence_backward(const RecurrenceArgs& a, const LaunchShape& s, cudaStream_t st);

// The same recurrences for several models of one shape (the same B, T, dims,
// plan and launch shape; their own buffers, parameters and lambda) in one
// launch: blockIdx.x the sample group, blockIdx.y the model. Each model's
// block runs the single model's arithmetic on its own arguments. The
// arguments travel as kernel parameters (up to 32 KiB on sm_70 and later,
// CUDA 12.1 and later), kMaxPackLaunch models per launch.
inline constexpr int kMaxPackLaunch = 64;
struct RecurrencePack {
  RecurrenceArgs model[kMaxPackLaunch];
  int count = 0;
};
static_assert(sizeof(RecurrencePack) <= 32764, "RecurrencePack exceeds the kernel parameter limit");
void launch_recurrence_forward_pack(std::span<const RecurrenceArgs> models, const LaunchShape& s, cudaStream_t st);
void launch_recurrence_backward_pack(std::span<const RecurrenceArgs> models, const LaunchShape& s, cudaStream_t st);

// Effective parameters: w_eff (relu, masked), trace decays, tau_m, kappa_m,
// update scale (v1: lambda (1 - kappa_m); v2: 1 - kappa_lambda), kappa_lambda.
struct PrepareArgs {
  const float* params = nullptr;
  int64_t off_w_s = 0, off_tau_m = 0, off_trace_tau = 0;
  int ds = 0, dm = 0, n_trace = 0, trace_stride = 1;
  const uint8_t* valid = nullptr;
  float delta_t = 1, lambda = 5, tau_min = 1, tau_max = 1000;
  bool v1 = true;
  float *w_eff = nullptr, *trace_kappa = nullptr, *tau_m = nullptr, *kappa_m = nullptr, *update_scale = nullptr,
        *kappa_lambda = nullptr;
};
void launch_prepare(const PrepareArgs& a, cudaStream_t st);
// cudaSuccess when this binary holds code the current device can run;
// cudaErrorNoKernelImageForDevice (or InvalidDeviceFunction) when it does not.
cudaError_t kernel_image_status();
void launch_transpose(const float* w, int rows, int cols, float* wt, cudaStream_t st);

// Compact input on the device.
struct DeviceInput {
  InputKind kind = InputKind::Dense;
  int B = 0, T = 0, n_in = 0;
  const float* dense = nullptr;      // [B*T][n_in]
  const int64_t* offsets = nullptr;  // spikes: [B*T + 1]
  const int32_t* channel = nullptr;
  const float* value = nullptr;
  const int32_t* ids = nullptr;  // tokens: [B*T]
};
struct DeviceRouting {
  int ds = 0, k = 1, n_in = 0;
  const int32_t* index = nullptr;   // [ds]
  const uint8_t* valid = nullptr;   // [ds]
  const int32_t* fan_off = nullptr; // [n_in + 1]
  const int32_t* fan_syn = nullptr;
};

// Branch drive of spike/token input: z[r][j] += sum w_eff[s] x~[r][s] (z zeroed by the caller).
void launch_branch_drive_sparse(const DeviceInput& x, const DeviceRouting& r, const float* w_eff, int db, float* z,
                                cudaStream_t st);
// Routing matrix of the dense branch drive: S[i][j] += w_eff[s] for valid s with index i, branch j (S zeroed).
void launch_build_routing_matrix(const DeviceRouting& r, const float* w_eff, int db, float* S, cudaStream_t st);
// Per-synapse routed input xs[r][s] (w_s not applied).
void launch_routed_input(const DeviceInput& x, const DeviceRouting& r, float* xs, cudaStream_t st);
// z[r][j] = sum_q ys[r][j*k + q].
void launch_branch_sum(const float* ys, int64_t rows, int db, int k, float* z, cudaStream_t st);
// ys[r][s] = dz[r][s / k].
void launch_branch_expand(const float* dz, int64_t rows, int db, int k, float* ys, cudaStream_t st);

// Linear recurrence out[b][t][c] = kappa[c] * out[b][t-1][c] + scale[c] * in[b][t][c]
// (reverse: t+1 instead of t-1), chunked over time. in may equal out; scale may be null.
// scratch: B * chunks * C floats.
void launch_linear_scan(const float* in, float* out, const float* scale, const float* kappa, int B, int T, int C,
                        bool reverse, float* scratch, cudaStream_t st);

// w_s gradients (before the relu/valid mask): dws[s] += sum adj[r][s/k] * x~[r][s] for sparse input.
void launch_wgrad_sparse(const DeviceInput& x, const DeviceRouting& r, const float* adj, int db, float* dws,
                         cudaStream_t st);
// dws[s] = G[index[s]][s/k] for valid s (G = X^T adj from cuBLAS).
void launch_wgrad_gather(const DeviceRouting& r, const float* G, int db, float* dws, cudaStream_t st);
// dws[s] = sum_r adj[r][s] * xs[r][s] (per-synapse traces).
void launch_wgrad_synapse(const float* adj, const float* xs, int64_t rows, int ds, float* dws, cudaStream_t st);
// grad_w_s[s] = valid[s] && proto[s] > 0 ? dws[s] : 0.
void launch_wgrad_mask(const float* dws, const float* proto, const uint8_t* valid, int ds, float* grad_w_s,
                       cudaStream_t st);

// Sums the per-block partials into dW_y, db_y and (learned tau) d proto_tau_m.
struct FinishArgs {
  const float* partial = nullptr;
  int blocks = 0, dm = 0, d_o = 0;
  float* gwy = nullptr;
  float* gby = nullptr;
  float* gproto = nullptr;  // null unless learned tau
  const float* proto = nullptr;
  const float* tau_m = nullptr;
  const float* kappa_m = nullptr;
  const float* kappa_lambda = nullptr;
  bool v1 = true;
  float delta_t = 1, lambda = 5, tau_span = 0;
};
void launch_finish_partials(const FinishArgs& a, cudaStream_t st);

void launch_fill(float* p, int64_t n, float v, cudaStream_t st);

// Sets *flag (host-mapped memory, its device address) to 1 when some synapse's tau differs from
// its branch's first (tau [ds], branches of k): per-branch traces no longer exact.
void launch_check_branch_tau(const float* tau, int ds, int k, int* flag, cudaStream_t st);

}  // namespace elm::cuda
