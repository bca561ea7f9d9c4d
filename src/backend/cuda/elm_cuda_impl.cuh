#pragma once
// CudaElm's state (CudaElm::Impl) and the phases of its forward and
// backward, shared by CudaElm (elm_cuda.cu) and CudaElmPack (elm_cuda_pack.cu).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "backend/cuda/device_array.cuh"
#include "backend/cuda/elm_cuda.hpp"
#include "backend/cuda/elm_kernels.cuh"

namespace elm {

using cuda::DeviceArray;
using cuda::DeviceInput;
using cuda::DeviceLimits;
using cuda::DeviceRouting;
using cuda::LaunchShape;
using cuda::MlpView;
using cuda::RecurrenceArgs;
using cuda::SegmentPlan;

struct CudaElm::Impl {
  ElmConfig config;
  ParamLayout layout;
  RoutingTable routing;
  CudaElmOptions options;
  DeviceLimits limits;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  int k = 1, ds = 0, db = 0, dm = 0, H = 0, L = 1, d_o = 0, n_in = 0;
  bool v1 = true, branch = true;

  // Routing and derived parameters.
  DeviceArray<int32_t> index, fan_off, fan_syn;
  DeviceArray<uint8_t> valid;
  DeviceArray<float> w_eff, trace_kappa, tau_m, kappa_m, update_scale, kappa_lambda, wt;
  std::vector<float> host_trace_tau;

  // v1 branch-trace decision (see decide_branch_traces): for which parameter
  // buffer and version it was made, and a flag in mapped host memory that a
  // check kernel raises if the tau_s it relied on changed behind its back.
  const float* branch_decided_for = nullptr;
  uint64_t branch_decided_version = 0, params_version = 1;
  int* tau_changed_flag = nullptr;      // host address
  int* tau_changed_flag_dev = nullptr;  // the same int as the device addresses it

  // Input.
  DeviceInput input;
  bool have_input = false;
  DeviceArray<float> x_dense, x_value;
  DeviceArray<int64_t> x_off;
  DeviceArray<int32_t> x_ch, x_ids;
  int64_t events = 0;

  // Work buffers.
  DeviceArray<float> z, xs, ys, scan_scratch, S, Gmat, dws, ckpt, carry, partial, ones;
  DeviceArray<float> rec_x0, rec_pre, rec_post, rec_g, rec_m;
  DeviceArray<float> host_params, host_y, host_dy, host_grad;

  // State of the last forward.
  const float* params = nullptr;
  SegmentPlan seg;
  LaunchShape shape;
  int recorded_segment = -1;
  bool forward_done = false;
  // The backward in progress (between backward_begin and backward_end).
  const float* dy = nullptr;
  float* grad = nullptr;

  Impl(const ElmConfig& c, const RoutingTable& r, const CudaElmOptions& o)
      : config(c), layout(c), routing(r), options(o) {}

  DeviceRouting device_routing() const {
    DeviceRouting d;
    d.ds = ds;
    d.k = k;
    d.n_in = n_in;
    d.index = index.get();
    d.valid = valid.get();
    d.fan_off = fan_off.get();
    d.fan_syn = fan_syn.get();
    return d;
  }

  MlpView mlp_view(const float* p) const {
    MlpView v;
    v.num_linear = int(layout.mlp().size());
    size_t off = 0;
    for (int l = 0; l < v.num_linear; ++l) {
      const auto& m = layout.mlp()[l];
      v.in[l] = m.in;
      v.out[l] = m.out;
      v.w[l] = p + m.weight;
      v.b[l] = p + m.bias;
      v.wt[l] = wt.get() + off;
      off += size_t(m.in) * m.out;
    }
    return v;
  }

  RecurrenceArgs recurrence_args(float* d_y) {
    RecurrenceArgs a;
    a.B = input.B;
    a.T = input.T;
    a.db = db;
    a.dm = dm;
    a.H = H;
    a.d_o = d_o;
    a.layers = L;
    a.silu = config.mlp_activation == MlpActivation::Silu;
    a.mlp = mlp_view(params);
    a.wy = params + layout.w_y();
    a.by = params + layout.b_y();
    a.kappa_m = kappa_m.get();
    a.update_scale = update_scale.get();
    a.z = z.get();
    a.dz = z.get();
    a.y = d_y;
    a.seg_len = seg.segment_len;
    a.learn_tau = config.learn_memory_tau;
    a.v1 = v1;
    a.lambda = float(config.lambda_value);
    a.rec.x0 = rec_x0.get();
    a.rec.pre = rec_pre.get();
    a.rec.post = rec_post.get();
    a.rec.g = rec_g.get();
    a.rec.m = rec_m.get();
    a.rec.cap = seg.segment_len;
    return a;
  }

  // The steps of segment `seg_index`, recorded from its first.
  RecurrenceArgs segment_args(int seg_index) {
    RecurrenceArgs a = recurrence_args(nullptr);
    a.t0 = seg_index * seg.segment_len;
    a.t1 = std::min(input.T, a.t0 + seg.segment_len);
    a.rec_t0 = a.t0;
    return a;
  }

  // Recomputes segment `seg` from its checkpoint into the record (not needed
  // for the segment the forward recorded).
  RecurrenceArgs recompute_args(int seg_index) {
    RecurrenceArgs f = segment_args(seg_index);
    f.m_init = ckpt.get() + size_t(seg_index) * input.B * dm;
    return f;
  }

  // The backward recurrence over segment `seg` (its activations recorded).
  RecurrenceArgs backward_args(int seg_index) {
    RecurrenceArgs a = segment_args(seg_index);
    a.dy = dy;
    a.carry = carry.get();
    a.partial = partial.get();
    return a;
  }

  // One MLP linear layer's weight-gradient product of a segment of `rows`
  // (step, sample) rows: dW [out][in] += dpre^T x_in, db [out] += dpre^T 1.
  struct LayerGradOperands {
    int in = 0, out = 0;
    const float* x_in = nullptr;  // [rows][in]
    const float* dpre = nullptr;  // [rows][out]
    float* dw = nullptr;          // inside grad
    float* db = nullptr;
  };
  LayerGradOperands layer_grad_operands(int l) const {
    const auto& m = layout.mlp()[size_t(l)];
    const size_t layer_stride = size_t(seg.segment_len) * input.B * H;
    LayerGradOperands o;
    o.in = m.in;
    o.out = m.out;
    o.x_in = l == 0 ? rec_x0.get() : rec_post.get() + size_t(l - 1) * layer_stride;
    o.dpre = l == L ? rec_g.get() : rec_pre.get() + size_t(l) * layer_stride;
    o.dw = grad + m.weight;
    o.db = grad + m.bias;
    return o;
  }
};

// The phases of CudaElm::backward, which CudaElmPack drives for several
// models at once (elm_cuda_pack.cu), as it does CudaElm::forward_before_recurrence.
// Both run on the model's stream. Zeroes the gradient and the backward's accumulators.
void backward_begin(CudaElm::Impl& s, const float* d_dy, float* d_grad);
// Everything of a backward after the memory recurrence's segments.
void backward_end(CudaElm::Impl& s);

}  // namespace elm
