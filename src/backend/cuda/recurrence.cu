// The nonlinear memory recurrence: persistent kernels, one block per group of G
// samples, looping over the time steps of a segment with the MLP weights in
// shared memory (when they fit) and the state in shared memory.
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/elm_kernels.cuh"

#include <algorithm>

namespace elm::cuda {

namespace {

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

// y[g][o] = bias[o] + sum_i x[g][i] * wt[i][out + o] for all G rows, threads over o.
template <int G>
__device__ __forceinline__ void layer_forward(const float* __restrict__ wt, const float* __restrict__ bias, int in,
                                              int out, const float* x, int xs, float* y, int ys) {
  for (int o = threadIdx.x; o < out; o += blockDim.x) {
    float acc[G];
    const float b0 = bias[o];
#pragma unroll
    for (int g = 0; g < G; ++g) acc[g] = b0;
    for (int i = 0; i < in; ++i) {
      const float w = wt[size_t(i) * out + o];
#pragma unroll
      for (int g = 0; g < G; ++g) acc[g] = fmaf(x[g * xs + i], w, acc[g]);
    }
#pragma unroll
    for (int g = 0; g < G; ++g) y[g * ys + o] = acc[g];
  }
}

// y[g][j] = sum_r d[g][r] * w[r][j] (w row-major [rows][cols]), threads over j.
template <int G>
__device__ __forceinline__ void layer_backward(const float* __restrict__ w, int rows, int cols, const float* d, int ds,
                                               float* y, int ys) {
  for (int j = threadIdx.x; j < cols; j += blockDim.x) {
    float acc[G];
#pragma unroll
    for (int g = 0; g < G; ++g) acc[g] = 0.0f;
    for (int r = 0; r < rows; ++r) {
      const float wv = w[size_t(r) * cols + j];
#pragma unroll
      for (int g = 0; g < G; ++g) acc[g] = fmaf(d[g * ds + r], wv, acc[g]);
    }
#pragma unroll
    for (int g = 0; g < G; ++g) y[g * ys + j] = acc[g];
  }
}

// The bodies take the block's model's arguments and its sample group: a single
// model's kernel passes its own, a pack's kernel those of model blockIdx.y.
template <int G>
__device__ __forceinline__ void recurrence_forward_body(const RecurrenceArgs& a) {
  extern __shared__ float smem[];
  const int tid = threadIdx.x, bd = blockDim.x;
  const int b0 = blockIdx.x * G, nb = min(G, a.B - b0);
  const int db = a.db, dm = a.dm, din = db + dm, B = a.B, T = a.T;
  const int nl = a.mlp.num_linear, W = max(a.H, dm);
  float* p = smem;
  const float* wt[kMaxMlpLinear];
  const float* bias[kMaxMlpLinear];
  for (int l = 0; l < nl; ++l) {
    if (a.weights_in_smem) {
      const int n = a.mlp.in[l] * a.mlp.out[l];
      for (int i = tid; i < n; i += bd) p[i] = a.mlp.wt[l][i];
      wt[l] = p;
      p += n;
      for (int i = tid; i < a.mlp.out[l]; i += bd) p[i] = a.mlp.b[l][i];
      bias[l] = p;
      p += a.mlp.out[l];
    } else {
      wt[l] = a.mlp.wt[l];
      bias[l] = a.mlp.b[l];
    }
  }
  float* m = p;
  p += G * dm;
  float* x = p;
  p += G * din;
  float* h[2] = {p, p + G * W};
  for (int i = tid; i < G * (dm + din + 2 * W); i += bd) m[i] = 0.0f;  // m, x, h are contiguous
  __syncthreads();
  if (a.m_init)
    for (int q = tid; q < nb * dm; q += bd) m[q] = a.m_init[size_t(b0) * dm + q];
  __syncthreads();

  for (int t = a.t0; t < a.t1; ++t) {
    const bool rec = a.rec.m != nullptr && t >= a.rec_t0;
    const int k = t - a.rec_t0;
    if (a.ckpt && t % a.seg_len == 0)
      for (int q = tid; q < nb * dm; q += bd) a.ckpt[(size_t(t / a.seg_len) * B + b0) * dm + q] = m[q];
    if (rec && k == 0)
      for (int q = tid; q < nb * dm; q += bd) a.rec.m[size_t(b0) * dm + q] = m[q];
    // MLP input [z_t, kappa_m * m_{t-1}].
    for (int q = tid; q < nb * din; q += bd) {
      const int g = q / din, j = q - g * din;
      const float v = j < db ? a.z[(size_t(b0 + g) * T + t) * db + j] : a.kappa_m[j - db] * m[g * dm + j - db];
      x[g * din + j] = v;
      if (rec) a.rec.x0[(size_t(k) * B + b0 + g) * din + j] = v;
    }
    __syncthreads();
    const float* in = x;
    int in_stride = din;
    for (int l = 0; l < nl; ++l) {
      float* out = h[l & 1];
      const int ow = a.mlp.out[l];
      layer_forward<G>(wt[l], bias[l], a.mlp.in[l], ow, in, in_stride, out, W);
      if (l < nl - 1) {
        // Each thread activates the units it computed: no barrier needed in between.
        for (int o = tid; o < ow; o += bd)
          for (int g = 0; g < G; ++g) {
            const float v = out[g * W + o];
            const float act = a.silu ? v * sigmoidf_(v) : (v > 0.0f ? v : 0.0f);
            out[g * W + o] = act;
            if (rec && g < nb) {
              const size_t r = ((size_t(l) * a.rec.cap + k) * B + b0 + g) * a.H + o;
              a.rec.pre[r] = v;
              a.rec.post[r] = act;
            }
          }
      }
      __syncthreads();
      in = out;
      in_stride = W;
    }
    // Memory update from the last layer's output a_t.
    for (int i = tid; i < dm; i += bd)
      for (int g = 0; g < nb; ++g) {
        const float gv = tanhf(kTanhSlope * in[g * W + i]);
        const float mn = a.kappa_m[i] * m[g * dm + i] + a.update_scale[i] * (kTanhScale * gv);
        m[g * dm + i] = mn;
        if (rec) {
          a.rec.g[(size_t(k) * B + b0 + g) * dm + i] = gv;
          a.rec.m[(size_t(k + 1) * B + b0 + g) * dm + i] = mn;
        }
      }
    __syncthreads();
    if (a.y)
      for (int q = tid; q < nb * a.d_o; q += bd) {
        const int g = q / a.d_o, o = q - g * a.d_o;
        float acc = a.by[o];
        for (int i = 0; i < dm; ++i) acc = fmaf(a.wy[size_t(o) * dm + i], m[g * dm + i], acc);
        a.y[(size_t(b0 + g) * T + t) * a.d_o + o] = acc;
      }
    // The readout only reads m, which changes again only after the next step's barriers.
  }
}

template <int G>
__device__ __forceinline__ void recurrence_backward_body(const RecurrenceArgs& a) {
  extern __shared__ float smem[];
  const int tid = threadIdx.x, bd = blockDim.x;
  const int b0 = blockIdx.x * G, nb = min(G, a.B - b0);
  const int db = a.db, dm = a.dm, din = db + dm, B = a.B, T = a.T, H = a.H, d_o = a.d_o;
  const int nl = a.mlp.num_linear, L = nl - 1;
  const int W = max(max(H, dm), din);
  float* p = smem;
  const float* w[kMaxMlpLinear];
  for (int l = 0; l < nl; ++l) {
    if (a.weights_in_smem) {
      const int n = a.mlp.in[l] * a.mlp.out[l];
      for (int i = tid; i < n; i += bd) p[i] = a.mlp.w[l][i];
      w[l] = p;
      p += n;
    } else {
      w[l] = a.mlp.w[l];
    }
  }
  float* carry = p;
  p += G * dm;
  float* dmem = p;
  p += G * dm;
  float* d[2] = {p, p + G * W};
  p += 2 * G * W;
  const int P = (2 + d_o) * dm + d_o;
  float* acc = p;  // dkappa [dm], dkappa_lambda [dm], dW_y [d_o][dm], db_y [d_o]
  float* part = a.partial + size_t(blockIdx.x) * P;
  for (int i = tid; i < G * (2 * dm + 2 * W); i += bd) carry[i] = 0.0f;  // carry, dmem, d are contiguous
  for (int i = tid; i < P; i += bd) acc[i] = part[i];
  __syncthreads();
  for (int q = tid; q < nb * dm; q += bd) carry[q] = a.carry[size_t(b0) * dm + q];
  __syncthreads();
  float* dk = acc;
  float* dkl = acc + dm;
  float* dwy = acc + 2 * dm;
  float* dby = acc + (2 + d_o) * dm;

  for (int t = a.t1 - 1; t >= a.t0; --t) {
    const int k = t - a.rec_t0;
    const float* mprev = a.rec.m + size_t(k) * B * dm;
    const float* mcur = a.rec.m + size_t(k + 1) * B * dm;
    float* da = d[0];
    // dL/dm_t, dL/da_t, readout and time-constant gradients; thread i owns unit i.
    for (int i = tid; i < dm; i += bd)
      for (int g = 0; g < G; ++g) {
        if (g >= nb) {
          da[g * W + i] = 0.0f;
          continue;
        }
        const int b = b0 + g;
        const float* dyt = a.dy + (size_t(b) * T + t) * d_o;
        float dmv = carry[g * dm + i];
        for (int o = 0; o < d_o; ++o) {
          const float gy = dyt[o];
          dmv = fmaf(gy, a.wy[size_t(o) * dm + i], dmv);
          dwy[o * dm + i] = fmaf(gy, mcur[size_t(b) * dm + i], dwy[o * dm + i]);
        }
        const size_t q = (size_t(k) * B + b) * dm + i;
        const float gv = a.rec.g[q];
        const float dav = dmv * a.update_scale[i] * kTanhScaleSlope * (1.0f - gv * gv);
        a.rec.g[q] = dav;
        dmem[g * dm + i] = dmv;
        da[g * W + i] = dav;
        if (a.learn_tau) {
          const float mp = mprev[size_t(b) * dm + i], delta = kTanhScale * gv;
          if (a.v1) {
            dk[i] += dmv * (mp - a.lambda * delta);
          } else {
            dk[i] += dmv * mp;
            dkl[i] -= dmv * delta;
          }
        }
      }
    for (int o = tid; o < d_o; o += bd)
      for (int g = 0; g < nb; ++g) dby[o] += a.dy[(size_t(b0 + g) * T + t) * d_o + o];
    __syncthreads();
    // Through the output layer, then the hidden layers in reverse.
    layer_backward<G>(w[L], dm, H, da, W, d[1], W);
    __syncthreads();
    int cur = 1;
    for (int l = L - 1; l >= 0; --l) {
      float* dc = d[cur];
      for (int j = tid; j < H; j += bd)
        for (int g = 0; g < G; ++g) {
          if (g >= nb) {
            dc[g * W + j] = 0.0f;
            continue;
          }
          const size_t r = ((size_t(l) * a.rec.cap + k) * B + b0 + g) * H + j;
          const float v = a.rec.pre[r];
          float dv = dc[g * W + j];
          if (a.silu) {
            const float sg = sigmoidf_(v);
            dv *= sg * (1.0f + v * (1.0f - sg));
          } else if (!(v > 0.0f)) {
            dv = 0.0f;
          }
          dc[g * W + j] = dv;
          a.rec.pre[r] = dv;
        }
      __syncthreads();
      layer_backward<G>(w[l], H, a.mlp.in[l], dc, W, d[cur ^ 1], W);
      __syncthreads();
      cur ^= 1;
    }
    // d[cur] = dL/d[z_t, kappa_m * m_{t-1}].
    const float* dx = d[cur];
    for (int q = tid; q < nb * db; q += bd) {
      const int g = q / db, j = q - g * db;
      a.dz[(size_t(b0 + g) * T + t) * db + j] = dx[g * W + j];
    }
    for (int i = tid; i < dm; i += bd)
      for (int g = 0; g < nb; ++g) {
        const float dmk = dx[g * W + db + i];
        if (a.learn_tau) dk[i] += dmk * mprev[size_t(b0 + g) * dm + i];
        carry[g * dm + i] = a.kappa_m[i] * (dmem[g * dm + i] + dmk);
      }
    __syncthreads();
  }
  for (int q = tid; q < nb * dm; q += bd) a.carry[size_t(b0) * dm + q] = carry[q];
  for (int i = tid; i < P; i += bd) part[i] = acc[i];
}

// __grid_constant__: the bodies read the arguments where the launch put them,
// the pack's by the block's model index, without a copy per thread.
template <int G>
__global__ void recurrence_forward_kernel(const __grid_constant__ RecurrenceArgs a) {
  recurrence_forward_body<G>(a);
}
template <int G>
__global__ void recurrence_backward_kernel(const __grid_constant__ RecurrenceArgs a) {
  recurrence_backward_body<G>(a);
}
// A pack's arguments cost registers; 512 threads (the largest launch shape)
// must still fit an SM's register file.
template <int G>
__global__ void __launch_bounds__(512) recurrence_forward_pack_kernel(const __grid_constant__ RecurrencePack p) {
  recurrence_forward_body<G>(p.model[blockIdx.y]);
}
template <int G>
__global__ void __launch_bounds__(512) recurrence_backward_pack_kernel(const __grid_constant__ RecurrencePack p) {
  recurrence_backward_body<G>(p.model[blockIdx.y]);
}

template <int G>
void launch_forward_g(const RecurrenceArgs& a, const LaunchShape& s, cudaStream_t st) {
  auto* k = recurrence_forward_kernel<G>;
  CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(s.smem_fwd)));
  k<<<s.blocks, s.threads, s.smem_fwd, st>>>(a);
  CUDA_CHECK_LAUNCH();
}

template <int G>
void launch_backward_g(const RecurrenceArgs& a, const LaunchShape& s, cudaStream_t st) {
  auto* k = recurrence_backward_kernel<G>;
  CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(s.smem_bwd)));
  k<<<s.blocks, s.threads, s.smem_bwd, st>>>(a);
  CUDA_CHECK_LAUNCH();
}

template <int G>
void launch_pack_g(const RecurrencePack& p, const LaunchShape& s, bool forward, cudaStream_t st) {
  auto* k = forward ? recurrence_forward_pack_kernel<G> : recurrence_backward_pack_kernel<G>;
  const size_t smem = forward ? s.smem_fwd : s.smem_bwd;
  CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  k<<<dim3(unsigned(s.blocks), unsigned(p.count)), s.threads, smem, st>>>(p);
  CUDA_CHECK_LAUNCH();
}

void launch_pack(std::span<const RecurrenceArgs> models, const LaunchShape& s, bool forward, cudaStream_t st) {
  RecurrencePack p;
  for (size_t first = 0; first < models.size(); first += kMaxPackLaunch) {
    p.count = int(std::min(models.size() - first, size_t(kMaxPackLaunch)));
    for (int m = 0; m < p.count; ++m) {
      p.model[m] = models[first + m];
      p.model[m].weights_in_smem = forward ? s.weights_in_smem_fwd : s.weights_in_smem_bwd;
    }
    if (s.group == 4)
      launch_pack_g<4>(p, s, forward, st);
    else
      launch_pack_g<1>(p, s, forward, st);
  }
}

}  // namespace

void launch_recurrence_forward_pack(std::span<const RecurrenceArgs> models, const LaunchShape& s, cudaStream_t st) {
  launch_pack(models, s, true, st);
}

void launch_recurrence_backward_pack(std::span<const RecurrenceArgs> models, const LaunchShape& s, cudaStream_t st) {
  launch_pack(models, s, false, st);
}

void launch_recurrence_forward(const RecurrenceArgs& a, const LaunchShape& s, cudaStream_t st) {
  RecurrenceArgs b = a;
  b.weights_in_smem = s.weights_in_smem_fwd;
  if (s.group == 4)
    launch_forward_g<4>(b, s, st);
  else
    launch_forward_g<1>(b, s, st);
}

void launch_recurrence_backward(const RecurrenceArgs& a, const LaunchShape& s, cudaStream_t st) {
  RecurrenceArgs b = a;
  b.weights_in_smem = s.weights_in_smem_bwd;
  if (s.group == 4)
    launch_backward_g<4>(b, s, st);
  else
    launch_backward_g<1>(b, s, st);
}

}  // namespace elm::cuda
