// Element-wise, input-routing, scan and gradient-gathering kernels of the CUDA backend.
#include <algorithm>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/elm_kernels.cuh"

namespace elm::cuda {

namespace {

constexpr int kThreads = 256;

inline int blocks_for(int64_t n) { return int(std::max<int64_t>(1, (n + kThreads - 1) / kThreads)); }

__global__ void prepare_kernel(PrepareArgs a) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const float* p = a.params;
  if (i < a.ds) {
    const float w = p[a.off_w_s + i];
    a.w_eff[i] = a.valid[i] && w > 0.0f ? w : 0.0f;
  }
  if (i < a.n_trace) {
    const float tau = p[a.off_trace_tau + int64_t(i) * a.trace_stride];
    a.trace_kappa[i] = expf(-a.delta_t / fmaxf(tau, 1e-6f));
  }
  if (i < a.dm) {
    const float sig = 1.0f / (1.0f + expf(-p[a.off_tau_m + i]));
    const float tau_m = (a.tau_max - a.tau_min) * sig + a.tau_min;
    const float tau = fmaxf(tau_m, 1e-6f);
    const float km = expf(-a.delta_t / tau);
    const float kl = expf(-a.delta_t * a.lambda / tau);
    a.tau_m[i] = tau_m;
    a.kappa_m[i] = km;
    a.kappa_lambda[i] = kl;
    a.update_scale[i] = a.v1 ? a.lambda * (1.0f - km) : 1.0f - kl;
  }
}

__global__ void transpose_kernel(const float* __restrict__ w, int rows, int cols, float* __restrict__ wt) {
  __shared__ float tile[32][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  for (int dr = threadIdx.y; dr < 32; dr += blockDim.y) {
    const int r = blockIdx.y * 32 + dr;
    if (r < rows && c < cols) tile[dr][threadIdx.x] = w[size_t(r) * cols + c];
  }
  __syncthreads();
  const int r2 = blockIdx.y * 32 + threadIdx.x;
  for (int dc = threadIdx.y; dc < 32; dc += blockDim.y) {
    const int c2 = blockIdx.x * 32 + dc;
    if (r2 < rows && c2 < cols) wt[size_t(c2) * rows + r2] = tile[threadIdx.x][dc];
  }
}

// Calls visit(s, v) for every valid synapse s fed at row r, in the CPU backend's order.
template <class Visit>
__device__ __forceinline__ void for_each_sparse(const DeviceInput& x, const DeviceRouting& rt, int64_t r,
                                                Visit&& visit) {
  if (x.kind == InputKind::Spikes) {
    for (int64_t e = x.offsets[r]; e < x.offsets[r + 1]; ++e) {
      const int i = x.channel[e];
      const float v = x.value[e];
      for (int q = rt.fan_off[i]; q < rt.fan_off[i + 1]; ++q) visit(rt.fan_syn[q], v);
    }
  } else {
    const int id = x.ids[r];
    if (id >= 0)
      for (int q = rt.fan_off[id]; q < rt.fan_off[id + 1]; ++q) visit(rt.fan_syn[q], 1.0f);
  }
}

__global__ void branch_drive_sparse_kernel(DeviceInput x, DeviceRouting rt, const float* w_eff, int db, float* z) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= int64_t(x.B) * x.T) return;
  float* zr = z + r * db;
  const int k = rt.k;
  for_each_sparse(x, rt, r, [&](int s, float v) { zr[s / k] += w_eff[s] * v; });
}

__global__ void build_routing_matrix_kernel(DeviceRouting rt, const float* w_eff, int db, float* S) {
  const int s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= rt.ds || !rt.valid[s]) return;
  atomicAdd(&S[size_t(rt.index[s]) * db + s / rt.k], w_eff[s]);
}

__global__ void routed_dense_kernel(DeviceInput x, DeviceRouting rt, float* xs) {
  const int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t rows = int64_t(x.B) * x.T;
  if (q >= rows * rt.ds) return;
  const int64_t r = q / rt.ds;
  const int s = int(q - r * rt.ds);
  xs[q] = rt.valid[s] ? x.dense[r * x.n_in + rt.index[s]] : 0.0f;
}

__global__ void routed_sparse_kernel(DeviceInput x, DeviceRouting rt, float* xs) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= int64_t(x.B) * x.T) return;
  float* row = xs + r * rt.ds;
  for_each_sparse(x, rt, r, [&](int s, float v) { row[s] += v; });
}

__global__ void branch_sum_kernel(const float* ys, int64_t rows, int db, int k, float* z) {
  const int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= rows * db) return;
  const float* src = ys + q * k;  // row r, branch j: ys[r][j*k ...] = ys[(r*db + j)*k ...]
  float acc = 0.0f;
  for (int i = 0; i < k; ++i) acc += src[i];
  z[q] = acc;
}

__global__ void branch_expand_kernel(const float* dz, int64_t rows, int db, int k, float* ys) {
  const int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= rows * db * k) return;
  ys[q] = dz[q / k];
}

// Phase 1: scan each (b, chunk, c) from zero; the chunk's last value goes to ends.
__global__ void scan_local_kernel(const float* in, float* out, const float* scale, const float* kappa, int B, int T,
                                  int C, int chunks, int chunk_len, bool reverse, float* ends) {
  const int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= int64_t(B) * chunks * C) return;
  const int c = int(q % C);
  const int64_t rest = q / C;
  const int chunk = int(rest % chunks), b = int(rest / chunks);
  const int ta = chunk * chunk_len, tb = min(T, ta + chunk_len);
  const float kc = kappa[c], sc = scale ? scale[c] : 1.0f;
  float s = 0.0f;
  for (int n = 0; n < tb - ta; ++n) {
    const int t = reverse ? tb - 1 - n : ta + n;
    const size_t idx = (size_t(b) * T + t) * C + c;
    s = kc * s + sc * in[idx];
    out[idx] = s;
  }
  ends[q] = s;
}

// Phase 2: per (b, c), the value entering each chunk (replaces ends).
__global__ void scan_carry_kernel(const float* kappa, int B, int T, int C, int chunks, int chunk_len, bool reverse,
                                  float* ends) {
  const int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= int64_t(B) * C) return;
  const int c = int(q % C), b = int(q / C);
  const float kc = kappa[c];
  float carry = 0.0f;
  for (int n = 0; n < chunks; ++n) {
    const int chunk = reverse ? chunks - 1 - n : n;
    const int len = min(T, (chunk + 1) * chunk_len) - chunk * chunk_len;
    float* e = ends + (size_t(b) * chunks + chunk) * C + c;
    const float local_end = *e;
    *e = carry;
    carry = powf(kc, float(len)) * carry + local_end;
  }
}

// Phase 3: add kappa^(n+1) * carry_in to the n-th step of each chunk.
__global__ void scan_apply_kernel(float* out, const float* kappa, int B, int T, int C, int chunks, int chunk_len,
                                  bool reverse, const float* ends) {
  const int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= int64_t(B) * chunks * C) return;
  const float cin = ends[q];
  if (cin == 0.0f) return;
  const int c = int(q % C);
  const int64_t rest = q / C;
  const int chunk = int(rest % chunks), b = int(rest / chunks);
  const int ta = chunk * chunk_len, tb = min(T, ta + chunk_len);
  const float kc = kappa[c];
  float f = kc;
  for (int n = 0; n < tb - ta; ++n) {
    const int t = reverse ? tb - 1 - n : ta + n;
    out[(size_t(b) * T + t) * C + c] += f * cin;
    f *= kc;
  }
}

constexpr int kSmemSynapses = 8192;

__global__ void wgrad_sparse_kernel(DeviceInput x, DeviceRouting rt, const float* adj, int db, float* dws,
                                    bool use_smem) {
  __shared__ float acc[kSmemSynapses];
  if (use_smem) {
    for (int s = threadIdx.x; s < rt.ds; s += blockDim.x) acc[s] = 0.0f;
    __syncthreads();
  }
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int k = rt.k;
  if (r < int64_t(x.B) * x.T) {
    const float* ar = adj + r * db;
    for_each_sparse(x, rt, r, [&](int s, float v) {
      const float c = ar[s / k] * v;
      if (use_smem)
        atomicAdd(&acc[s], c);
      else
        atomicAdd(&dws[s], c);
    });
  }
  if (use_smem) {
    __syncthreads();
    for (int s = threadIdx.x; s < rt.ds; s += blockDim.x)
      if (acc[s] != 0.0f) atomicAdd(&dws[s], acc[s]);
  }
}

__global__ void wgrad_gather_kernel(DeviceRouting rt, const float* G, int db, float* dws) {
  const int s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= rt.ds) return;
  dws[s] = rt.valid[s] ? G[size_t(rt.index[s]) * db + s / rt.k] : 0.0f;
}

// Block row y sums the chunks y, y + gridDim.y, ... (plan_wgrad_synapse caps
// gridDim.y at the hardware's 65535), each chunk into its own atomicAdd as when
// every chunk had a block of its own.
__global__ void wgrad_synapse_kernel(const float* adj, const float* xs, int64_t rows, int ds, int64_t chunks,
                                     int chunk_rows, float* dws) {
  const int s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= ds) return;
  for (int64_t chunk = blockIdx.y; chunk < chunks; chunk += gridDim.y) {
    const int64_t r0 = chunk * chunk_rows, r1 = min(rows, r0 + chunk_rows);
    float acc = 0.0f;
    for (int64_t r = r0; r < r1; ++r) acc = fmaf(adj[r * ds + s], xs[r * ds + s], acc);
    atomicAdd(&dws[s], acc);
  }
}

__global__ void wgrad_mask_kernel(const float* dws, const float* proto, const uint8_t* valid, int ds, float* g) {
  const int s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s < ds) g[s] = valid[s] && proto[s] > 0.0f ? dws[s] : 0.0f;
}

__global__ void finish_partials_kernel(FinishArgs a) {
  const int P = (2 + a.d_o) * a.dm + a.d_o;
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= P) return;
  float sum = 0.0f;
  for (int b = 0; b < a.blocks; ++b) sum += a.partial[size_t(b) * P + q];
  if (q >= 2 * a.dm) {
    const int r = q - 2 * a.dm;
    if (r < a.d_o * a.dm)
      a.gwy[r] = sum;
    else
      a.gby[r - a.d_o * a.dm] = sum;
    return;
  }
  if (!a.gproto || q >= a.dm) return;
  // d proto_tau_m through kappa_m (and kappa_lambda in v2), as the CPU backend.
  const int i = q;
  float dkl = 0.0f;
  if (!a.v1)
    for (int b = 0; b < a.blocks; ++b) dkl += a.partial[size_t(b) * P + a.dm + i];
  const float tau = a.tau_m[i];
  if (!(tau > 1e-6f)) {
    a.gproto[i] = 0.0f;
    return;
  }
  float dtau = sum * a.kappa_m[i] * a.delta_t / (tau * tau);
  if (!a.v1) dtau += dkl * a.kappa_lambda[i] * a.delta_t * a.lambda / (tau * tau);
  const float sig = 1.0f / (1.0f + expf(-a.proto[i]));
  a.gproto[i] = dtau * a.tau_span * sig * (1.0f - sig);
}

__global__ void check_branch_tau_kernel(const float* tau, int ds, int k, int* flag) {
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q < ds && tau[q] != tau[(q / k) * k]) *flag = 1;
}

__global__ void fill_kernel(float* p, int64_t n, float v) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v;
}

}  // namespace

cudaError_t kernel_image_status() {
  cudaFuncAttributes attr{};
  return cudaFuncGetAttributes(&attr, prepare_kernel);
}

void launch_prepare(const PrepareArgs& a, cudaStream_t st) {
  const int n = std::max({a.ds, a.dm, a.n_trace});
  prepare_kernel<<<blocks_for(n), kThreads, 0, st>>>(a);
  CUDA_CHECK_LAUNCH();
}

void launch_transpose(const float* w, int rows, int cols, float* wt, cudaStream_t st) {
  const dim3 grid((cols + 31) / 32, (rows + 31) / 32), block(32, 8);
  transpose_kernel<<<grid, block, 0, st>>>(w, rows, cols, wt);
  CUDA_CHECK_LAUNCH();
}

void launch_branch_drive_sparse(const DeviceInput& x, const DeviceRouting& r, const float* w_eff, int db, float* z,
                                cudaStream_t st) {
  branch_drive_sparse_kernel<<<blocks_for(int64_t(x.B) * x.T), kThreads, 0, st>>>(x, r, w_eff, db, z);
  CUDA_CHECK_LAUNCH();
}

void launch_build_routing_matrix(const DeviceRouting& r, const float* w_eff, int db, float* S, cudaStream_t st) {
  build_routing_matrix_kernel<<<blocks_for(r.ds), kThreads, 0, st>>>(r, w_eff, db, S);
  CUDA_CHECK_LAUNCH();
}

void launch_routed_input(const DeviceInput& x, const DeviceRouting& r, float* xs, cudaStream_t st) {
  const int64_t rows = int64_t(x.B) * x.T;
  if (x.kind == InputKind::Dense) {
    routed_dense_kernel<<<blocks_for(rows * r.ds), kThreads, 0, st>>>(x, r, xs);
  } else {
    CUDA_CHECK(cudaMemsetAsync(xs, 0, size_t(rows) * r.ds * sizeof(float), st));
    routed_sparse_kernel<<<blocks_for(rows), kThreads, 0, st>>>(x, r, xs);
  }
  CUDA_CHECK_LAUNCH();
}

void launch_branch_sum(const float* ys, int64_t rows, int db, int k, float* z, cudaStream_t st) {
  branch_sum_kernel<<<blocks_for(rows * db), kThreads, 0, st>>>(ys, rows, db, k, z);
  CUDA_CHECK_LAUNCH();
}

void launch_branch_expand(const float* dz, int64_t rows, int db, int k, float* ys, cudaStream_t st) {
  branch_expand_kernel<<<blocks_for(rows * db * k), kThreads, 0, st>>>(dz, rows, db, k, ys);
  CUDA_CHECK_LAUNCH();
}

void launch_linear_scan(const float* in, float* out, const float* scale, const float* kappa, int B, int T, int C,
                        bool reverse, float* scratch, cudaStream_t st) {
  const ScanPlan p = plan_scan(int64_t(B) * C, T);
  const int64_t items = int64_t(B) * p.chunks * C;
  scan_local_kernel<<<blocks_for(items), kThreads, 0, st>>>(in, out, scale, kappa, B, T, C, p.chunks, p.chunk_len,
                                                            reverse, scratch);
  CUDA_CHECK_LAUNCH();
  if (p.chunks == 1) return;
  scan_carry_kernel<<<blocks_for(int64_t(B) * C), kThreads, 0, st>>>(kappa, B, T, C, p.chunks, p.chunk_len, reverse,
                                                                     scratch);
  CUDA_CHECK_LAUNCH();
  scan_apply_kernel<<<blocks_for(items), kThreads, 0, st>>>(out, kappa, B, T, C, p.chunks, p.chunk_len, reverse,
                                                            scratch);
  CUDA_CHECK_LAUNCH();
}

void launch_wgrad_sparse(const DeviceInput& x, const DeviceRouting& r, const float* adj, int db, float* dws,
                         cudaStream_t st) {
  const bool use_smem = r.ds <= kSmemSynapses;
  wgrad_sparse_kernel<<<blocks_for(int64_t(x.B) * x.T), kThreads, 0, st>>>(x, r, adj, db, dws, use_smem);
  CUDA_CHECK_LAUNCH();
}

void launch_wgrad_gather(const DeviceRouting& r, const float* G, int db, float* dws, cudaStream_t st) {
  wgrad_gather_kernel<<<blocks_for(r.ds), kThreads, 0, st>>>(r, G, db, dws);
  CUDA_CHECK_LAUNCH();
}

void launch_wgrad_synapse(const float* adj, const float* xs, int64_t rows, int ds, float* dws, cudaStream_t st) {
  const WgradSynapseGrid g = plan_wgrad_synapse(rows, ds, kThreads);
  wgrad_synapse_kernel<<<dim3(unsigned(g.blocks_x), unsigned(g.blocks_y)), kThreads, 0, st>>>(
      adj, xs, rows, ds, g.chunks, g.chunk_rows, dws);
  CUDA_CHECK_LAUNCH();
}

void launch_wgrad_mask(const float* dws, const float* proto, const uint8_t* valid, int ds, float* grad_w_s,
                       cudaStream_t st) {
  wgrad_mask_kernel<<<blocks_for(ds), kThreads, 0, st>>>(dws, proto, valid, ds, grad_w_s);
  CUDA_CHECK_LAUNCH();
}

void launch_finish_partials(const FinishArgs& a, cudaStream_t st) {
  finish_partials_kernel<<<blocks_for((2 + a.d_o) * a.dm + a.d_o), kThreads, 0, st>>>(a);
  CUDA_CHECK_LAUNCH();
}

void launch_check_branch_tau(const float* tau, int ds, int k, int* flag, cudaStream_t st) {
  check_branch_tau_kernel<<<blocks_for(ds), kThreads, 0, st>>>(tau, ds, k, flag);
  CUDA_CHECK_LAUNCH();
}

void launch_fill(float* p, int64_t n, float v, cudaStream_t st) {
  if (n <= 0) return;
  fill_kernel<<<blocks_for(n), kThreads, 0, st>>>(p, n, v);
  CUDA_CHECK_LAUNCH();
}

}  // namespace elm::cuda
