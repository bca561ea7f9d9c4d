// CudaElm: buffers, plans and the order of kernels and cuBLAS calls.
#include "backend/cuda/elm_cuda.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <vector>

#include "backend/cuda/cuda_arch.hpp"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/device_array.cuh"
#include "backend/cuda/device_guard.cuh"
#include "backend/cuda/elm_cuda_impl.cuh"
#include "backend/cuda/elm_kernels.cuh"
#include "core/error.hpp"

namespace elm {

using namespace elm::cuda;

bool cuda_device_usable(std::string* reason) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (reason) *reason = std::string("no usable CUDA device: ") + cudaGetErrorString(e);
    cudaGetLastError();  // clear the sticky error state of the runtime
    return false;
  }
  if (n == 0) {
    if (reason) *reason = "no usable CUDA device: the driver reports 0 devices";
    return false;
  }
  return true;
}

std::string cuda_device_description(int device) {
  cudaDeviceProp p{};
  CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  std::ostringstream os;
  os << p.name << " (sm_" << p.major << p.minor << ", " << p.multiProcessorCount << " SMs, "
     << (p.totalGlobalMem >> 20) << " MiB)";
  return os.str();
}

void require_code_for_device(int device) {
  const cudaError_t e = kernel_image_status();
  if (e == cudaSuccess) return;
  cudaGetLastError();  // not sticky, but leave no error behind for the next check
  if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction) {
    cudaDeviceProp p{};
    CUDA_CHECK(cudaGetDeviceProperties(&p, device));
    fail(cuda_no_code_message(device, p.name, p.major, p.minor, built_cuda_architectures()));
  }
  CUDA_CHECK(e);
}

namespace {

// True when every synapse of a branch has the branch's first tau_s: then
// per-branch traces are exact (the sum of equal-decay traces is one trace).
bool branch_traces_exact(const float* tau, int ds, int k) {
  for (int q = 0; q < ds; ++q)
    if (tau[q] != tau[(q / k) * k]) return false;
  return true;
}

}  // namespace

CudaElm::CudaElm(const ElmConfig& config, const RoutingTable& routing, const CudaElmOptions& options)
    : impl_(std::make_unique<Impl>(config, routing, options)) {
  Impl& s = *impl_;
  s.config.validate();
  s.routing.validate(s.config, "routing");
  ELM_CHECK(!s.config.has_head(), "CUDA backend: the two-tower head is computed outside the ELM backend");
  std::string why;
  ELM_CHECK(cuda_device_usable(&why), why);
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  ELM_CHECK(options.device >= 0 && options.device < count, "CUDA backend: device ", options.device,
            " does not exist (", count, " visible)");
  DeviceGuard on(options.device);
  require_code_for_device(options.device);
  cudaDeviceProp p{};
  CUDA_CHECK(cudaGetDeviceProperties(&p, options.device));
  s.limits.sm_count = p.multiProcessorCount;
  s.limits.smem_per_block_optin = p.sharedMemPerBlockOptin;
  s.limits.total_memory = p.totalGlobalMem;
  // A blocking stream: work on the legacy default stream (DeviceFloats copies) orders with it.
  CUDA_CHECK(cudaStreamCreate(&s.stream));
  CUBLAS_CHECK(cublasCreate(&s.cublas));
  CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream));
  CUBLAS_CHECK(cublasSetMathMode(s.cublas, CUBLAS_DEFAULT_MATH));  // plain fp32, no TF32
  CUBLAS_CHECK(cublasSetPointerMode(s.cublas, CUBLAS_POINTER_MODE_HOST));

  const ElmConfig& c = s.config;
  s.k = c.num_synapse_per_branch;
  s.ds = c.synapses();
  s.db = c.branches();
  s.dm = c.num_memory;
  s.H = c.hidden();
  s.L = c.mlp_num_layers;
  s.d_o = c.num_output;
  s.n_in = c.num_input;
  s.v1 = c.variant == ElmVariant::V1;
  ELM_CHECK(s.L + 1 <= kMaxMlpLinear, "CUDA backend: at most ", kMaxMlpLinear - 1, " MLP hidden layers, got ", s.L);

  std::vector<int32_t> idx(s.ds);
  for (int q = 0; q < s.ds; ++q) idx[q] = int32_t(s.routing.input_index[q]);
  const InputFanout fan = InputFanout::build(s.routing, s.n_in);
  s.index.upload(idx.data(), idx.size(), s.stream);
  s.valid.upload(s.routing.valid.data(), s.routing.valid.size(), s.stream);
  s.fan_off.upload(fan.offsets.data(), fan.offsets.size(), s.stream);
  s.fan_syn.upload(fan.synapses.data(), fan.synapses.size(), s.stream);
  s.w_eff.ensure(s.ds);
  s.trace_kappa.ensure(s.ds);
  for (DeviceArray<float>* b : {&s.tau_m, &s.kappa_m, &s.update_scale, &s.kappa_lambda}) b->ensure(s.dm);
  s.wt.ensure(mlp_weight_floats(RecurrenceDims::of(c, 1, 1), false));
  s.dws.ensure(s.ds);
  CUDA_CHECK(cudaHostAlloc(&s.tau_changed_flag, sizeof(int), cudaHostAllocMapped));
  *s.tau_changed_flag = 0;
  CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&s.tau_changed_flag_dev), s.tau_changed_flag, 0));
  CUDA_CHECK(cudaStreamSynchronize(s.stream));
}

CudaElm::~CudaElm() {
  if (!impl_) return;
  try {
    DeviceGuard on(impl_->options.device);
    cudaStreamSynchronize(impl_->stream);
    if (impl_->cublas) cublasDestroy(impl_->cublas);
    if (impl_->stream) cudaStreamDestroy(impl_->stream);
    if (impl_->tau_changed_flag) cudaFreeHost(impl_->tau_changed_flag);
    impl_.reset();  // the device buffers, freed while their device is current
  } catch (const std::exception&) {
    // The device cannot be made current: a destructor must not throw.
  }
}

const ElmConfig& CudaElm::config() const { return impl_->config; }
const ParamLayout& CudaElm::layout() const { return impl_->layout; }
bool CudaElm::uses_branch_traces() const { return impl_->branch; }

size_t CudaElm::device_bytes_at_least(const InputBatch& x) const {
  const Impl& s = *impl_;
  const RecurrenceDims dims = RecurrenceDims::of(s.config, x.batch, x.steps);
  const LaunchShape shape = choose_launch_shape(dims, s.limits, s.options.group, s.options.weights_in_smem);
  const SegmentPlan seg = plan_segments(dims, s.options.segment_budget_bytes, s.options.segment_len);
  InputKind kind = InputKind::Dense;
  int64_t events = 0;
  if (auto* sp = std::get_if<SpikeInput>(&x.data)) {
    kind = InputKind::Spikes;
    events = int64_t(sp->channel.size());
  } else if (std::holds_alternative<TokenInput>(x.data)) {
    kind = InputKind::Tokens;
  }
  return estimate_memory(dims, seg, shape, kind, true, events).total();
}

std::pair<size_t, size_t> CudaElm::device_memory() const {
  DeviceGuard on(impl_->options.device);
  size_t free_bytes = 0, total = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
  return {free_bytes, total};
}
const SegmentPlan& CudaElm::segment_plan() const { return impl_->seg; }
const LaunchShape& CudaElm::launch_shape() const { return impl_->shape; }
int CudaElm::device() const { return impl_->options.device; }
void CudaElm::params_changed() { ++impl_->params_version; }

void CudaElm::synchronize() {
  DeviceGuard on(impl_->options.device);
  CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
  check_branch_decision();
}

void CudaElm::check_branch_decision() const {
  // A plain read of mapped host memory: no synchronisation, so a change is
  // seen once the check kernel of a later forward() has run.
  const volatile int* flag = impl_->tau_changed_flag;
  ELM_CHECK(*flag == 0, "CUDA backend: tau_s changed in the parameter buffer after a forward() without "
                        "CudaElm::params_changed(); per-branch traces were used for unequal tau_s");
}

void CudaElm::decide_branch_traces(const float* d_params, const float* host_trace_tau) {
  Impl& s = *impl_;
  if (!s.v1) {
    s.branch = true;  // v2 has one tau_b per branch
    return;
  }
  // tau_s is not trainable: it changes only when the caller writes the whole
  // parameter buffer (initialisation, checkpoint, broadcast from rank 0), which
  // it announces with params_changed(). So the decision is made once per
  // (buffer, version) instead of copying tau_s to the host and synchronising
  // in every forward(), which stalled the stream each training step. A
  // device-side check of every forward that used branch traces raises
  // tau_changed_flag if the values no longer allow them (a missed
  // params_changed()); the flag is read without synchronising.
  if (host_trace_tau) {
    s.branch = branch_traces_exact(host_trace_tau, s.ds, s.k);
  } else if (d_params != s.branch_decided_for || s.params_version != s.branch_decided_version) {
    s.host_trace_tau.resize(s.ds);
    CUDA_CHECK(cudaMemcpyAsync(s.host_trace_tau.data(), d_params + s.layout.trace_tau(), s.ds * sizeof(float),
                               cudaMemcpyDeviceToHost, s.stream));
    CUDA_CHECK(cudaStreamSynchronize(s.stream));
    s.branch = branch_traces_exact(s.host_trace_tau.data(), s.ds, s.k);
  }
  // forward_host() refills one buffer with new values each call: never a cache hit later.
  s.branch_decided_for = host_trace_tau ? nullptr : d_params;
  s.branch_decided_version = s.params_version;
  if (s.branch) launch_check_branch_tau(d_params + s.layout.trace_tau(), s.ds, s.k, s.tau_changed_flag_dev, s.stream);
}

void CudaElm::upload_input(const InputBatch& x) {
  DeviceGuard on(impl_->options.device);
  Impl& s = *impl_;
  ELM_CHECK(x.channels == s.n_in, "input has ", x.channels, " channels, the model expects ", s.n_in);
  x.validate();
  DeviceInput d;
  d.B = x.batch;
  d.T = x.steps;
  d.n_in = x.channels;
  const size_t rows = size_t(x.batch) * x.steps;
  if (auto* dense = std::get_if<DenseInput>(&x.data)) {
    d.kind = InputKind::Dense;
    s.x_dense.upload(dense->data.data(), dense->data.size(), s.stream);
    d.dense = s.x_dense.get();
  } else if (auto* sp = std::get_if<SpikeInput>(&x.data)) {
    d.kind = InputKind::Spikes;
    s.x_off.upload(sp->offsets.data(), sp->offsets.size(), s.stream);
    s.x_ch.upload(sp->channel.data(), sp->channel.size(), s.stream);
    s.x_value.upload(sp->value.data(), sp->value.size(), s.stream);
    s.events = int64_t(sp->channel.size());
    d.offsets = s.x_off.get();
    d.channel = s.x_ch.get();
    d.value = s.x_value.get();
  } else {
    const auto& t = std::get<TokenInput>(x.data);
    d.kind = InputKind::Tokens;
    ELM_ASSERT(t.ids.size() == rows);
    s.x_ids.upload(t.ids.data(), t.ids.size(), s.stream);
    d.ids = s.x_ids.get();
  }
  // The host vectors may go away after this call.
  CUDA_CHECK(cudaStreamSynchronize(s.stream));
  s.input = d;
  s.have_input = true;
  s.forward_done = false;
}

void CudaElm::use_device_input(const DeviceInputView& x, void* ready) {
  DeviceGuard on(impl_->options.device);
  Impl& s = *impl_;
  ELM_CHECK(x.channels == s.n_in, "input has ", x.channels, " channels, the model expects ", s.n_in);
  DeviceInput d;
  d.B = x.batch;
  d.T = x.steps;
  d.n_in = x.channels;
  d.kind = x.kind == DeviceInputView::Kind::Dense    ? InputKind::Dense
           : x.kind == DeviceInputView::Kind::Spikes ? InputKind::Spikes
                                                     : InputKind::Tokens;
  d.dense = x.dense;
  d.offsets = x.offsets;
  d.channel = x.channel;
  d.value = x.value;
  d.ids = x.ids;
  s.events = x.events;
  if (ready) CUDA_CHECK(cudaStreamWaitEvent(s.stream, static_cast<cudaEvent_t>(ready), 0));
  s.input = d;
  s.have_input = true;
  s.forward_done = false;
}

void* CudaElm::stream() const { return impl_->stream; }

void CudaElm::forward(const float* d_params, float* d_y) { forward_impl(d_params, d_y, nullptr); }

RecurrenceArgs CudaElm::forward_before_recurrence(const float* d_params, float* d_y, const float* host_params) {
  Impl& s = *impl_;
  ELM_CHECK(s.have_input, "CudaElm::forward: no input uploaded");
  check_branch_decision();
  const ElmConfig& c = s.config;
  const int B = s.input.B, T = s.input.T;
  const int64_t rows = int64_t(B) * T;
  cudaStream_t st = s.stream;
  s.params = d_params;

  // Per-branch traces are exact when every synapse of a branch has the same tau_s.
  decide_branch_traces(d_params, host_params ? host_params + s.layout.trace_tau() : nullptr);

  PrepareArgs pa;
  pa.params = d_params;
  pa.off_w_s = s.layout.w_s();
  pa.off_tau_m = s.layout.proto_tau_m();
  pa.off_trace_tau = s.layout.trace_tau();
  pa.ds = s.ds;
  pa.dm = s.dm;
  pa.n_trace = s.branch ? s.db : s.ds;
  pa.trace_stride = (s.v1 && s.branch) ? s.k : 1;
  pa.valid = s.valid.get();
  pa.delta_t = float(c.delta_t);
  pa.lambda = float(c.lambda_value);
  pa.tau_min = float(c.memory_tau_min);
  pa.tau_max = float(c.effective_tau_max());
  pa.v1 = s.v1;
  pa.w_eff = s.w_eff.get();
  pa.trace_kappa = s.trace_kappa.get();
  pa.tau_m = s.tau_m.get();
  pa.kappa_m = s.kappa_m.get();
  pa.update_scale = s.update_scale.get();
  pa.kappa_lambda = s.kappa_lambda.get();
  launch_prepare(pa, st);
  {
    size_t off = 0;
    for (const auto& m : s.layout.mlp()) {
      launch_transpose(d_params + m.weight, m.out, m.in, s.wt.get() + off, st);
      off += size_t(m.in) * m.out;
    }
  }

  const RecurrenceDims dims = RecurrenceDims::of(c, B, T);
  s.shape = choose_launch_shape(dims, s.limits, s.options.group, s.options.weights_in_smem);
  s.seg = plan_segments(dims, s.options.segment_budget_bytes, s.options.segment_len);
  const MemoryEstimate est = estimate_memory(dims, s.seg, s.shape, s.input.kind, s.branch, s.events);
  ELM_CHECK(s.limits.total_memory == 0 || est.total() < s.limits.total_memory,
            "CUDA backend: this batch needs about ", est.total() >> 20, " MiB of device memory, the device has ",
            s.limits.total_memory >> 20, " MiB (", describe(s.seg), ")");

  // 1. Linear traces z [B][T][db] for all steps.
  s.z.ensure(size_t(rows) * s.db);
  const DeviceRouting rt = s.device_routing();
  const int channels = s.branch ? s.db : s.ds;
  const ScanPlan sp = plan_scan(int64_t(B) * channels, T);
  s.scan_scratch.ensure(size_t(B) * sp.chunks * channels);
  if (s.branch) {
    if (s.input.kind == InputKind::Dense) {
      // z = X S with S [n_in][db] the routing matrix holding w_eff: one cuBLAS GEMM.
      s.S.ensure(size_t(s.n_in) * s.db);
      CUDA_CHECK(cudaMemsetAsync(s.S.get(), 0, size_t(s.n_in) * s.db * sizeof(float), st));
      launch_build_routing_matrix(rt, s.w_eff.get(), s.db, s.S.get(), st);
      const float one = 1.0f, zero = 0.0f;
      CUBLAS_CHECK(cublasSgemm(s.cublas, CUBLAS_OP_N, CUBLAS_OP_N, s.db, int(rows), s.n_in, &one, s.S.get(), s.db,
                               s.input.dense, s.n_in, &zero, s.z.get(), s.db));
    } else {
      CUDA_CHECK(cudaMemsetAsync(s.z.get(), 0, size_t(rows) * s.db * sizeof(float), st));
      launch_branch_drive_sparse(s.input, rt, s.w_eff.get(), s.db, s.z.get(), st);
    }
    launch_linear_scan(s.z.get(), s.z.get(), nullptr, s.trace_kappa.get(), B, T, s.db, false, s.scan_scratch.get(),
                       st);
  } else {
    s.xs.ensure(size_t(rows) * s.ds);
    s.ys.ensure(size_t(rows) * s.ds);
    launch_routed_input(s.input, rt, s.xs.get(), st);
    launch_linear_scan(s.xs.get(), s.ys.get(), s.w_eff.get(), s.trace_kappa.get(), B, T, s.ds, false,
                       s.scan_scratch.get(), st);
    launch_branch_sum(s.ys.get(), rows, s.db, s.k, s.z.get(), st);
  }

  // 2. The memory recurrence over all steps: outputs, checkpoints, record of the last segment.
  const size_t K = size_t(s.seg.segment_len);
  s.rec_x0.ensure(K * B * (s.db + s.dm));
  s.rec_pre.ensure(size_t(s.L) * K * B * s.H);
  s.rec_post.ensure(size_t(s.L) * K * B * s.H);
  s.rec_g.ensure(K * B * s.dm);
  s.rec_m.ensure((K + 1) * B * s.dm);
  s.ckpt.ensure(size_t(s.seg.num_segments) * B * s.dm);
  RecurrenceArgs a = s.recurrence_args(d_y);
  a.ckpt = s.ckpt.get();
  a.t0 = 0;
  a.t1 = T;
  s.recorded_segment = s.seg.num_segments - 1;
  a.rec_t0 = s.recorded_segment * s.seg.segment_len;
  return a;
}

void CudaElm::forward_impl(const float* d_params, float* d_y, const float* host_params) {
  DeviceGuard on(impl_->options.device);
  Impl& s = *impl_;
  const RecurrenceArgs a = forward_before_recurrence(d_params, d_y, host_params);
  launch_recurrence_forward(a, s.shape, s.stream);
  s.forward_done = true;
}

void backward_begin(CudaElm::Impl& s, const float* d_dy, float* d_grad) {
  ELM_CHECK(s.forward_done, "CudaElm::backward() called before forward()");
  const int B = s.input.B;
  cudaStream_t st = s.stream;
  const int P = (2 + s.d_o) * s.dm + s.d_o;
  s.dy = d_dy;
  s.grad = d_grad;
  CUDA_CHECK(cudaMemsetAsync(d_grad, 0, size_t(s.layout.num_trainable()) * sizeof(float), st));
  CUDA_CHECK(cudaMemsetAsync(s.carry.ensure(size_t(B) * s.dm), 0, size_t(B) * s.dm * sizeof(float), st));
  CUDA_CHECK(cudaMemsetAsync(s.partial.ensure(size_t(s.shape.blocks) * P), 0,
                             size_t(s.shape.blocks) * P * sizeof(float), st));
  const size_t ones_n = size_t(s.seg.segment_len) * B;
  s.ones.ensure(ones_n);
  launch_fill(s.ones.get(), int64_t(ones_n), 1.0f, st);
}

void CudaElm::backward(const float* d_dy, float* d_grad) {
  DeviceGuard on(impl_->options.device);
  Impl& s = *impl_;
  backward_begin(s, d_dy, d_grad);
  const float one = 1.0f;
  for (int seg = s.seg.num_segments - 1; seg >= 0; --seg) {
    if (seg != s.recorded_segment) launch_recurrence_forward(s.recompute_args(seg), s.shape, s.stream);
    const RecurrenceArgs a = s.backward_args(seg);
    launch_recurrence_backward(a, s.shape, s.stream);
    // MLP weight and bias gradients of the segment: one GEMM per layer over its (step, sample) rows.
    const int R = (a.t1 - a.t0) * s.input.B;
    for (int l = s.L; l >= 0; --l) {
      const Impl::LayerGradOperands o = s.layer_grad_operands(l);
      CUBLAS_CHECK(cublasSgemm(s.cublas, CUBLAS_OP_N, CUBLAS_OP_T, o.in, o.out, R, &one, o.x_in, o.in, o.dpre, o.out,
                               &one, o.dw, o.in));
      CUBLAS_CHECK(
          cublasSgemv(s.cublas, CUBLAS_OP_N, o.out, R, &one, o.dpre, o.out, s.ones.get(), 1, &one, o.db, 1));
    }
  }
  backward_end(s);
}

void backward_end(CudaElm::Impl& s) {
  const ElmConfig& c = s.config;
  const int B = s.input.B, T = s.input.T;
  const int64_t rows = int64_t(B) * T;
  cudaStream_t st = s.stream;
  const float* p = s.params;
  float* d_grad = s.grad;
  const float one = 1.0f;
  s.recorded_segment = -1;
  s.forward_done = false;  // the traces now hold their adjoints

  FinishArgs fa;
  fa.partial = s.partial.get();
  fa.blocks = s.shape.blocks;
  fa.dm = s.dm;
  fa.d_o = s.d_o;
  fa.gwy = d_grad + s.layout.w_y();
  fa.gby = d_grad + s.layout.b_y();
  fa.gproto = c.learn_memory_tau ? d_grad + s.layout.proto_tau_m() : nullptr;
  fa.proto = p + s.layout.proto_tau_m();
  fa.tau_m = s.tau_m.get();
  fa.kappa_m = s.kappa_m.get();
  fa.kappa_lambda = s.kappa_lambda.get();
  fa.v1 = s.v1;
  fa.delta_t = float(c.delta_t);
  fa.lambda = float(c.lambda_value);
  fa.tau_span = float(c.effective_tau_max() - c.memory_tau_min);
  launch_finish_partials(fa, st);

  // Adjoint of the linear traces (reverse scan), then the synapse weights.
  const DeviceRouting rt = s.device_routing();
  if (s.branch) {
    launch_linear_scan(s.z.get(), s.z.get(), nullptr, s.trace_kappa.get(), B, T, s.db, true, s.scan_scratch.get(),
                       st);
    if (s.input.kind == InputKind::Dense) {
      // G [n_in][db] = X^T adj: one cuBLAS GEMM, then each synapse reads its (input, branch) entry.
      s.Gmat.ensure(size_t(s.n_in) * s.db);
      const float zero = 0.0f;
      CUBLAS_CHECK(cublasSgemm(s.cublas, CUBLAS_OP_N, CUBLAS_OP_T, s.db, s.n_in, int(rows), &one, s.z.get(), s.db,
                               s.input.dense, s.n_in, &zero, s.Gmat.get(), s.db));
      launch_wgrad_gather(rt, s.Gmat.get(), s.db, s.dws.get(), st);
    } else {
      CUDA_CHECK(cudaMemsetAsync(s.dws.get(), 0, size_t(s.ds) * sizeof(float), st));
      launch_wgrad_sparse(s.input, rt, s.z.get(), s.db, s.dws.get(), st);
    }
  } else {
    launch_branch_expand(s.z.get(), rows, s.db, s.k, s.ys.get(), st);
    launch_linear_scan(s.ys.get(), s.ys.get(), nullptr, s.trace_kappa.get(), B, T, s.ds, true, s.scan_scratch.get(),
                       st);
    CUDA_CHECK(cudaMemsetAsync(s.dws.get(), 0, size_t(s.ds) * sizeof(float), st));
    launch_wgrad_synapse(s.ys.get(), s.xs.get(), rows, s.ds, s.dws.get(), st);
  }
  launch_wgrad_mask(s.dws.get(), p + s.layout.w_s(), s.valid.get(), s.ds, d_grad + s.layout.w_s(), st);
}

void CudaElm::forward_host(const float* params, const InputBatch& x, float* y) {
  DeviceGuard on(impl_->options.device);
  Impl& s = *impl_;
  const size_t np = size_t(s.layout.num_params());
  s.host_params.upload(params, np, s.stream);
  upload_input(x);
  const size_t ny = size_t(x.batch) * x.steps * s.d_o;
  s.host_y.ensure(ny);
  forward_impl(s.host_params.get(), s.host_y.get(), params);
  CUDA_CHECK(cudaMemcpyAsync(y, s.host_y.get(), ny * sizeof(float), cudaMemcpyDeviceToHost, s.stream));
  CUDA_CHECK(cudaStreamSynchronize(s.stream));
}

void CudaElm::backward_host(const float* dy, float* grad) {
  DeviceGuard on(impl_->options.device);
  Impl& s = *impl_;
  ELM_CHECK(s.forward_done && s.params == s.host_params.get(),
            "CudaElm::backward_host() needs a forward_host() before it");
  const size_t ny = size_t(s.input.B) * s.input.T * s.d_o, ng = size_t(s.layout.num_trainable());
  s.host_dy.upload(dy, ny, s.stream);
  s.host_grad.ensure(ng);
  backward(s.host_dy.get(), s.host_grad.get());
  CUDA_CHECK(cudaMemcpyAsync(grad, s.host_grad.get(), ng * sizeof(float), cudaMemcpyDeviceToHost, s.stream));
  CUDA_CHECK(cudaStreamSynchronize(s.stream));
}

namespace {
int current_device() {
  int d = 0;
  CUDA_CHECK(cudaGetDevice(&d));
  return d;
}
}  // namespace

DeviceFloats::DeviceFloats(size_t n) : DeviceFloats(n, current_device()) {}

DeviceFloats::DeviceFloats(size_t n, int device) : n_(n), device_(device) {
  DeviceGuard on(device_);
  CUDA_CHECK(cudaMalloc(&p_, std::max<size_t>(n, 1) * sizeof(float)));
}

DeviceFloats::~DeviceFloats() { release(); }

void DeviceFloats::release() noexcept {
  if (!p_) return;
  // cudaFree of another device's pointer works under unified addressing, but
  // it synchronises the current device: free it on its own.
  int previous = 0;
  if (cudaGetDevice(&previous) == cudaSuccess && previous != device_ && cudaSetDevice(device_) == cudaSuccess) {
    cudaFree(p_);
    cudaSetDevice(previous);
  } else {
    cudaFree(p_);
  }
  p_ = nullptr;
  n_ = 0;
}

DeviceFloats& DeviceFloats::operator=(DeviceFloats&& o) noexcept {
  if (this != &o) {
    release();
    p_ = o.p_;
    n_ = o.n_;
    device_ = o.device_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

void DeviceFloats::upload(const float* host, size_t n) {
  ELM_ASSERT(n <= n_);
  DeviceGuard on(device_);
  CUDA_CHECK(cudaMemcpy(p_, host, n * sizeof(float), cudaMemcpyHostToDevice));
}

void DeviceFloats::download(float* host, size_t n) const {
  ELM_ASSERT(n <= n_);
  DeviceGuard on(device_);
  CUDA_CHECK(cudaMemcpy(host, p_, n * sizeof(float), cudaMemcpyDeviceToHost));
}

void DeviceFloats::zero() {
  DeviceGuard on(device_);
  CUDA_CHECK(cudaMemset(p_, 0, n_ * sizeof(float)));
}

}  // namespace elm
