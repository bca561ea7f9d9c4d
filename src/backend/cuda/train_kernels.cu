// Device training math; see train_kernels.cuh. The formulas go through
// step_math.hpp (products and sums rounded one by one, never fused) and in the
// same order as the CPU loops they mirror.
#include "backend/cuda/train_kernels.cuh"

#include <algorithm>
#include <cmath>

#include "backend/cuda/cuda_check.cuh"
#include "core/error.hpp"

namespace elm::cuda {
namespace {

namespace sm = step_math;

constexpr int kThreads = 256;       // every kernel here runs 256-thread blocks
constexpr int kMaxReduceBlocks = 1024;

// Device memory for the duration of a launcher's kernels, from the stream's
// pool: the free is queued behind them, so nothing waits on the host.
template <class T>
class StreamScratch {
 public:
  StreamScratch(size_t n, cudaStream_t stream) : stream_(stream) {
    CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&p_), std::max<size_t>(n, 1) * sizeof(T), stream));
  }
  ~StreamScratch() { cudaFreeAsync(p_, stream_); }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
  cudaStream_t stream_;
};

unsigned blocks_for(int64_t n, int64_t per_block = kThreads) {
  return unsigned(std::max<int64_t>(1, (n + per_block - 1) / per_block));
}

// Blocks of the first pass of a reduction over n items: a function of n only,
// so the partition (and the rounding) is the same on every device.
unsigned reduce_blocks_for(int64_t n) {
  return unsigned(std::min<int64_t>(kMaxReduceBlocks, std::max<int64_t>(1, (n + 8 * kThreads - 1) / (8 * kThreads))));
}

// Tree sum over the block of kThreads threads; the total is valid in thread 0.
__device__ double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) shared[threadIdx.x] = sm::add(shared[threadIdx.x], shared[threadIdx.x + s]);
    __syncthreads();
  }
  return shared[0];
}

// The loss of a row whose label is outside [0, classes).
__device__ inline double bad_label_loss() { return __longlong_as_double(0x7ff8000000000000LL); }

// ---- per-row cross-entropy: row_loss[b], row_correct[b], then one finish ----

__global__ void last_step_ce_rows_kernel(const float* y, int B, int T, int C, const int32_t* labels, float* dy,
                                         double* row_loss, int* row_correct) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  const int64_t at = (int64_t(b) * T + T - 1) * C;
  const float* logits = y + at;
  const int label = labels[b];
  const int best = sm::argmax_of(logits, C);
  row_correct[b] = best == label ? 1 : 0;
  if (label < 0 || label >= C) {
    row_loss[b] = bad_label_loss();
    return;
  }
  const float log_z = sm::log_sum_exp(logits, C);
  row_loss[b] = double(sm::sub(log_z, logits[label]));
  if (dy == nullptr) return;
  float* g = dy + at;
  for (int k = 0; k < C; ++k) g[k] = sm::exp_of(sm::sub(logits[k], log_z)) / float(B);
  g[label] = sm::sub(g[label], 1.0f / float(B));
}

// Sums the rows in row order (as the CPU loops do) on one thread: rows are few.
// loss_out (if given) = mean; sums (if given) += {loss sum, correct count}.
__global__ void finish_rows_kernel(const double* row_loss, const int* row_correct, int rows, float* loss_out,
                                   double* sums) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  double total = 0;
  int64_t correct = 0;
  for (int b = 0; b < rows; ++b) {
    total = sm::add(total, row_loss[b]);
    correct += row_correct[b];
  }
  if (loss_out != nullptr) *loss_out = float(total / rows);
  if (sums != nullptr) {
    sums[0] = sm::add(sums[0], total);
    sums[1] = sm::add(sums[1], double(correct));
  }
}

void last_step_ce(const float* y, int B, int T, int C, const int32_t* labels, float* dy, float* loss_out,
                  double* sums, cudaStream_t stream) {
  ELM_CHECK(B >= 1 && T >= 1 && C >= 1, "last-step cross-entropy: batch ", B, ", steps ", T, ", classes ", C);
  StreamScratch<double> row_loss(size_t(B), stream);
  StreamScratch<int> row_correct(size_t(B), stream);
  last_step_ce_rows_kernel<<<blocks_for(B), kThreads, 0, stream>>>(y, B, T, C, labels, dy, row_loss.get(),
                                                                     row_correct.get());
  CUDA_CHECK_LAUNCH();
  finish_rows_kernel<<<1, 1, 0, stream>>>(row_loss.get(), row_correct.get(), B, loss_out, sums);
  CUDA_CHECK_LAUNCH();
}

// ---- NeuronIO: dy per (b, t) and block partials of (bce, mse) ----

__global__ void neuronio_partials_kernel(const float* y, int64_t n, int d_o, const float* spike, const float* soma,
                                         float* dy, double* partial) {
  __shared__ double shared[kThreads];
  double bce = 0, mse = 0;
  const float nf = float(n);
  for (int64_t r = int64_t(blockIdx.x) * kThreads + threadIdx.x; r < n; r += int64_t(gridDim.x) * kThreads) {
    const float x = y[r * d_o], s = spike[r];
    bce = sm::add(bce, double(sm::bce_with_logits(x, s)));
    dy[r * d_o] = sm::mul(0.5f, sm::sub(sm::sigmoid(x), s)) / nf;
    const float d = sm::sub(y[r * d_o + 1], soma[r]);
    mse = sm::add(mse, sm::mul(double(d), double(d)));
    dy[r * d_o + 1] = sm::mul(sm::mul(0.5f, 2.0f), d) / nf;
  }
  bce = block_sum(bce, shared);
  __syncthreads();
  mse = block_sum(mse, shared);
  if (threadIdx.x == 0) {
    partial[2 * blockIdx.x] = bce;
    partial[2 * blockIdx.x + 1] = mse;
  }
}

__global__ void neuronio_finish_kernel(const double* partial, int blocks, int64_t n, float* loss_out) {
  __shared__ double shared[kThreads];
  double bce = 0, mse = 0;
  for (int i = threadIdx.x; i < blocks; i += kThreads) {
    bce = sm::add(bce, partial[2 * i]);
    mse = sm::add(mse, partial[2 * i + 1]);
  }
  bce = block_sum(bce, shared);
  __syncthreads();
  mse = block_sum(mse, shared);
  if (threadIdx.x == 0) *loss_out = float(sm::add(sm::mul(0.5, bce) / double(n), sm::mul(0.5, mse) / double(n)));
}

// ---- sum of squares, two passes ----

__global__ void sum_squares_partials_kernel(const float* g, int64_t n, double* partial) {
  __shared__ double shared[kThreads];
  double acc = 0;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads)
    acc = sm::add(acc, sm::mul(double(g[i]), double(g[i])));
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void sum_partials_kernel(const double* partial, int blocks, double* out) {
  __shared__ double shared[kThreads];
  double acc = 0;
  for (int i = threadIdx.x; i < blocks; i += kThreads) acc = sm::add(acc, partial[i]);
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) *out = acc;
}

__global__ void scale_kernel(float* g, int64_t n, float factor) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads)
    g[i] = sm::mul(g[i], factor);
}

// ---- optimizer ----

template <bool Adamax>
__global__ void optimizer_kernel(sm::OptimizerStepScalars s, float* p, const float* g, float* exp_avg, float* second,
                                 int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) {
    float pi = p[i], m = exp_avg[i], v = second[i];
    if constexpr (Adamax)
      sm::adamax_element(s, pi, g[i], m, v);
    else
      sm::adam_element(s, pi, g[i], m, v);
    p[i] = pi;
    exp_avg[i] = m;
    second[i] = v;
  }
}

unsigned elementwise_blocks(int64_t n) { return std::min<unsigned>(blocks_for(n), 65535u); }

// ---- two-tower head ----

// Per-pair values the gradient kernel needs, [pairs, width] each.
struct HeadRows {
  float* f = nullptr;     // [4L] features
  float* hid = nullptr;   // [H] relu(pre)
  float* dz = nullptr;    // [C] dL/dlogits
  float* dhid = nullptr;  // [H] dL/dpre (0 where pre <= 0)
};

struct HeadArgs {
  int L = 0, H = 0, C = 0, pairs = 0, steps = 0;
  const float *w0 = nullptr, *b0 = nullptr, *w2 = nullptr, *b2 = nullptr;
  const float* y = nullptr;
  const int32_t* labels = nullptr;  // null: logits only
  float* logits = nullptr;          // [pairs, C] or null
  double* row_loss = nullptr;       // [pairs], with labels
  int* row_correct = nullptr;       // [pairs], with labels
  bool backprop = false;            // fill rows (and dy if given); needs labels
  HeadRows rows;
  float* dy = nullptr;              // [2*pairs, steps, L] or null
};

HeadArgs head_args(const ParamLayout::Head& head, const float* params, const float* y, int pairs, int steps,
                   const int32_t* labels) {
  ELM_CHECK(head.hidden > 0 && head.latent > 0 && head.classes > 0,
            "two-tower head on the GPU: the model has no head (config key 'model.head_hidden' is 0)");
  ELM_CHECK(pairs >= 1 && steps >= 1, "two-tower head on the GPU: ", pairs, " pairs of ", steps, " steps");
  HeadArgs a;
  a.L = head.latent;
  a.H = head.hidden;
  a.C = head.classes;
  a.pairs = pairs;
  a.steps = steps;
  a.w0 = params + head.w0;
  a.b0 = params + head.b0;
  a.w2 = params + head.w2;
  a.b2 = params + head.b2;
  a.y = y;
  a.labels = labels;
  return a;
}

size_t head_rows_smem(const HeadArgs& a) { return sizeof(float) * (size_t(8) * a.L + 3 * size_t(a.H) + 2 * a.C); }

// One block per pair: the CPU's per-pair loop of two_tower_head, with the
// loops over outputs spread over the threads and every sum kept in the CPU's
// order.
__global__ void head_rows_kernel(HeadArgs a) {
  extern __shared__ float smem[];
  const int L = a.L, F = 4 * L, H = a.H, C = a.C, b = blockIdx.x;
  float* f = smem;        // [F]
  float* pre = f + F;     // [H]
  float* hid = pre + H;   // [H]
  float* dhid = hid + H;  // [H]
  float* z = dhid + H;    // [C]
  float* dz = z + C;      // [C]
  float* df = dz + C;     // [F]
  const float* u = a.y + (int64_t(b) * a.steps + a.steps - 1) * L;
  const float* v = a.y + (int64_t(a.pairs + b) * a.steps + a.steps - 1) * L;
  for (int i = threadIdx.x; i < L; i += blockDim.x) {
    f[i] = u[i];
    f[L + i] = v[i];
    f[2 * L + i] = sm::mul(u[i], v[i]);
    f[3 * L + i] = sm::sub(u[i], v[i]);
  }
  __syncthreads();
  for (int j = threadIdx.x; j < H; j += blockDim.x) {
    float s = a.b0[j];
    const float* w = a.w0 + int64_t(j) * F;
    for (int i = 0; i < F; ++i) s = sm::add(s, sm::mul(w[i], f[i]));
    pre[j] = s;
    hid[j] = s > 0.0f ? s : 0.0f;
  }
  __syncthreads();
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float s = a.b2[c];
    const float* w = a.w2 + int64_t(c) * H;
    for (int j = 0; j < H; ++j) s = sm::add(s, sm::mul(w[j], hid[j]));
    z[c] = s;
    if (a.logits != nullptr) a.logits[int64_t(b) * C + c] = s;
  }
  __syncthreads();
  if (a.labels == nullptr) return;
  const int label = a.labels[b];
  const bool valid = label >= 0 && label < C;
  if (threadIdx.x == 0) {
    const int best = sm::argmax_of(z, C);
    a.row_correct[b] = best == label ? 1 : 0;
    const float zmax = z[best];
    const float sum = sm::sum_exp_shifted(z, C, zmax);
    a.row_loss[b] = valid ? double(sm::sub(sm::add(zmax, sm::log_of(sum)), z[label])) : bad_label_loss();
    // A bad label contributes nothing to the gradients (its loss is NaN).
    for (int c = 0; c < C; ++c)
      dz[c] = valid ? sm::sub(sm::exp_of(sm::sub(z[c], zmax)) / sum, c == label ? 1.0f : 0.0f) / float(a.pairs)
                    : 0.0f;
  }
  if (!a.backprop) return;
  __syncthreads();
  for (int j = threadIdx.x; j < H; j += blockDim.x) {
    float s = 0;
    for (int c = 0; c < C; ++c) s = sm::add(s, sm::mul(a.w2[int64_t(c) * H + j], dz[c]));
    dhid[j] = pre[j] > 0.0f ? s : 0.0f;
  }
  __syncthreads();
  const HeadRows& r = a.rows;
  if (r.f != nullptr) {
    for (int i = threadIdx.x; i < F; i += blockDim.x) r.f[int64_t(b) * F + i] = f[i];
    for (int j = threadIdx.x; j < H; j += blockDim.x) {
      r.hid[int64_t(b) * H + j] = hid[j];
      r.dhid[int64_t(b) * H + j] = dhid[j];
    }
    for (int c = threadIdx.x; c < C; c += blockDim.x) r.dz[int64_t(b) * C + c] = dz[c];
  }
  if (a.dy == nullptr) return;
  for (int i = threadIdx.x; i < F; i += blockDim.x) {
    float s = 0;
    for (int j = 0; j < H; ++j)
      if (dhid[j] != 0.0f) s = sm::add(s, sm::mul(a.w0[int64_t(j) * F + i], dhid[j]));
    df[i] = s;
  }
  __syncthreads();
  float* du = a.dy + (int64_t(b) * a.steps + a.steps - 1) * L;
  float* dv = a.dy + (int64_t(a.pairs + b) * a.steps + a.steps - 1) * L;
  for (int i = threadIdx.x; i < L; i += blockDim.x) {
    du[i] = sm::add(sm::add(df[i], sm::mul(df[2 * L + i], v[i])), df[3 * L + i]);
    dv[i] = sm::sub(sm::add(df[L + i], sm::mul(df[2 * L + i], u[i])), df[3 * L + i]);
  }
}

// One thread per head parameter, adding the pairs' contributions in pair
// order (the CPU's order, so each entry gets the same sequence of additions).
__global__ void head_grad_kernel(HeadArgs a, int64_t w0_at, int64_t b0_at, int64_t w2_at, int64_t b2_at,
                                 float* grad) {
  const int L = a.L, F = 4 * L, H = a.H, C = a.C;
  const int64_t n_w0 = int64_t(H) * F, n_w2 = int64_t(C) * H;
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const HeadRows& r = a.rows;
  if (e < n_w0) {
    const int j = int(e / F), i = int(e % F);
    float acc = grad[w0_at + e];
    for (int b = 0; b < a.pairs; ++b) {
      const float d = r.dhid[int64_t(b) * H + j];
      if (d != 0.0f) acc = sm::add(acc, sm::mul(d, r.f[int64_t(b) * F + i]));
    }
    grad[w0_at + e] = acc;
  } else if (e < n_w0 + H) {
    const int j = int(e - n_w0);
    float acc = grad[b0_at + j];
    for (int b = 0; b < a.pairs; ++b) {
      const float d = r.dhid[int64_t(b) * H + j];
      if (d != 0.0f) acc = sm::add(acc, d);
    }
    grad[b0_at + j] = acc;
  } else if (e < n_w0 + H + n_w2) {
    const int64_t k = e - n_w0 - H;
    const int c = int(k / H), j = int(k % H);
    float acc = grad[w2_at + k];
    for (int b = 0; b < a.pairs; ++b) acc = sm::add(acc, sm::mul(r.dz[int64_t(b) * C + c], r.hid[int64_t(b) * H + j]));
    grad[w2_at + k] = acc;
  } else if (e < n_w0 + H + n_w2 + C) {
    const int c = int(e - n_w0 - H - n_w2);
    float acc = grad[b2_at + c];
    for (int b = 0; b < a.pairs; ++b) acc = sm::add(acc, r.dz[int64_t(b) * C + c]);
    grad[b2_at + c] = acc;
  }
}

void launch_head_rows(const HeadArgs& a, cudaStream_t stream) {
  const size_t smem = head_rows_smem(a);
  ELM_CHECK(smem <= 48 * 1024, "two-tower head on the GPU: latent ", a.L, " and hidden ", a.H,
            " need more shared memory than a block has (48 KiB)");
  head_rows_kernel<<<unsigned(a.pairs), 128, smem, stream>>>(a);
  CUDA_CHECK_LAUNCH();
}

void head_loss(const ParamLayout::Head& head, const float* params, const float* y, int pairs, int steps,
               const int32_t* labels, float* logits, float* loss_out, double* sums, cudaStream_t stream) {
  HeadArgs a = head_args(head, params, y, pairs, steps, labels);
  a.logits = logits;
  StreamScratch<double> row_loss(size_t(pairs), stream);
  StreamScratch<int> row_correct(size_t(pairs), stream);
  a.row_loss = row_loss.get();
  a.row_correct = row_correct.get();
  launch_head_rows(a, stream);
  if (labels == nullptr) return;
  finish_rows_kernel<<<1, 1, 0, stream>>>(a.row_loss, a.row_correct, pairs, loss_out, sums);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_last_step_ce(const float* y, int B, int T, int C, const int32_t* labels, float* dy, float* loss_out,
                         cudaStream_t stream) {
  last_step_ce(y, B, T, C, labels, dy, loss_out, nullptr, stream);
}

void launch_last_step_ce_eval(const float* y, int B, int T, int C, const int32_t* labels, double* sums,
                              cudaStream_t stream) {
  last_step_ce(y, B, T, C, labels, nullptr, nullptr, sums, stream);
}

void launch_neuronio_loss(const float* y, int B, int T, int d_o, const float* spike, const float* soma, float* dy,
                          float* loss_out, cudaStream_t stream) {
  ELM_CHECK(d_o >= 2, "the NeuronIO loss needs 2 outputs (spike, soma), the model has ", d_o);
  ELM_CHECK(B >= 1 && T >= 1, "NeuronIO loss: batch ", B, ", steps ", T);
  const int64_t n = int64_t(B) * T;
  const unsigned blocks = reduce_blocks_for(n);
  StreamScratch<double> partial(2 * size_t(blocks), stream);
  neuronio_partials_kernel<<<blocks, kThreads, 0, stream>>>(y, n, d_o, spike, soma, dy, partial.get());
  CUDA_CHECK_LAUNCH();
  neuronio_finish_kernel<<<1, kThreads, 0, stream>>>(partial.get(), int(blocks), n, loss_out);
  CUDA_CHECK_LAUNCH();
}

void launch_two_tower_head_forward(const ParamLayout::Head& head, const float* params, const float* y, int pairs,
                                   int steps, const int32_t* labels, float* logits, float* loss_out,
                                   cudaStream_t stream) {
  ELM_CHECK((labels == nullptr) == (loss_out == nullptr), "two-tower head forward: labels and loss go together");
  head_loss(head, params, y, pairs, steps, labels, logits, loss_out, nullptr, stream);
}

void launch_two_tower_head_eval(const ParamLayout::Head& head, const float* params, const float* y, int pairs,
                                int steps, const int32_t* labels, double* sums, cudaStream_t stream) {
  ELM_CHECK(labels != nullptr && sums != nullptr, "two-tower head eval needs labels and sums");
  head_loss(head, params, y, pairs, steps, labels, nullptr, nullptr, sums, stream);
}

void launch_two_tower_head_backward(const ParamLayout::Head& head, const float* params, const float* y, int pairs,
                                    int steps, const int32_t* labels, float* dy, float* grad, cudaStream_t stream) {
  ELM_CHECK(labels != nullptr, "two_tower_head: gradients need labels");
  if (dy == nullptr && grad == nullptr) return;
  HeadArgs a = head_args(head, params, y, pairs, steps, labels);
  const int F = 4 * a.L;
  StreamScratch<double> row_loss(size_t(pairs), stream);
  StreamScratch<int> row_correct(size_t(pairs), stream);
  const size_t per_pair = size_t(F) + 2 * size_t(a.H) + a.C;
  StreamScratch<float> rows(grad != nullptr ? per_pair * pairs : 0, stream);
  a.row_loss = row_loss.get();
  a.row_correct = row_correct.get();
  a.backprop = true;
  a.dy = dy;
  if (grad != nullptr) {
    a.rows.f = rows.get();
    a.rows.hid = a.rows.f + size_t(pairs) * F;
    a.rows.dhid = a.rows.hid + size_t(pairs) * a.H;
    a.rows.dz = a.rows.dhid + size_t(pairs) * a.H;
  }
  launch_head_rows(a, stream);
  if (grad == nullptr) return;
  const int64_t n = int64_t(a.H) * F + a.H + int64_t(a.C) * a.H + a.C;
  head_grad_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, head.w0, head.b0, head.w2, head.b2, grad);
  CUDA_CHECK_LAUNCH();
}

void launch_sum_squares(const float* g, int64_t n, double* out, cudaStream_t stream) {
  ELM_CHECK(n >= 0, "sum of squares of ", n, " entries");
  const unsigned blocks = reduce_blocks_for(n);
  StreamScratch<double> partial(blocks, stream);
  sum_squares_partials_kernel<<<blocks, kThreads, 0, stream>>>(g, n, partial.get());
  CUDA_CHECK_LAUNCH();
  sum_partials_kernel<<<1, kThreads, 0, stream>>>(partial.get(), int(blocks), out);
  CUDA_CHECK_LAUNCH();
}

void launch_scale(float* g, int64_t n, float factor, cudaStream_t stream) {
  if (n <= 0) return;
  scale_kernel<<<elementwise_blocks(n), kThreads, 0, stream>>>(g, n, factor);
  CUDA_CHECK_LAUNCH();
}

void launch_optimizer_step(const step_math::OptimizerStepScalars& s, float* p, const float* g, float* exp_avg,
                           float* second, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  if (s.kind == OptimizerKind::adamax)
    optimizer_kernel<true><<<elementwise_blocks(n), kThreads, 0, stream>>>(s, p, g, exp_avg, second, n);
  else
    optimizer_kernel<false><<<elementwise_blocks(n), kThreads, 0, stream>>>(s, p, g, exp_avg, second, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace elm::cuda
