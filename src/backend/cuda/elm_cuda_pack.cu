// CudaElmPack: the members' phases on their own streams, the recurrences and
// weight-gradient GEMMs of all members on the pack's stream, joined by events.
#include "backend/cuda/elm_cuda_pack.hpp"

#include <cstring>
#include <vector>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/device_guard.cuh"
#include "backend/cuda/elm_cuda_impl.cuh"
#include "core/error.hpp"

namespace elm {

using namespace elm::cuda;

struct CudaElmPack::Impl {
  std::vector<CudaElm*> members;
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  std::vector<cudaEvent_t> member_done;  // member k's work before the pack's
  cudaEvent_t pack_done = nullptr;       // the pack's work before the members' next
  cudaEvent_t table_copied = nullptr;    // the pointer tables left host_tables
  // Pointer tables of the batched GEMMs, per linear layer: x_in, dpre, dW, ones, db (K each).
  static constexpr int kTables = 5;
  void** host_tables = nullptr;  // pinned
  DeviceArray<void*> tables;
  std::vector<void*> last_tables;
  size_t table_entries = 0;

  CudaElm::Impl& m(int k) const { return *members[size_t(k)]->impl_; }
  int size() const { return int(members.size()); }

  // Every member's stream has done its work so far before the pack's next.
  void pack_waits_for_members() {
    for (int k = 0; k < size(); ++k) {
      CUDA_CHECK(cudaEventRecord(member_done[size_t(k)], m(k).stream));
      CUDA_CHECK(cudaStreamWaitEvent(stream, member_done[size_t(k)], 0));
    }
  }
  void members_wait_for_pack() {
    CUDA_CHECK(cudaEventRecord(pack_done, stream));
    for (int k = 0; k < size(); ++k) CUDA_CHECK(cudaStreamWaitEvent(m(k).stream, pack_done, 0));
  }

  // The members' GEMM operands of every layer into the device tables (copied
  // only when a pointer changed, as it does not from step to step in training).
  void upload_tables() {
    const int K = size(), layers = m(0).L + 1;
    std::vector<void*> t(size_t(layers) * kTables * K);
    for (int l = 0; l < layers; ++l)
      for (int k = 0; k < K; ++k) {
        const CudaElm::Impl::LayerGradOperands o = m(k).layer_grad_operands(l);
        void** row = t.data() + size_t(l) * kTables * K;
        row[0 * K + k] = const_cast<float*>(o.x_in);
        row[1 * K + k] = const_cast<float*>(o.dpre);
        row[2 * K + k] = o.dw;
        row[3 * K + k] = m(k).ones.get();
        row[4 * K + k] = o.db;
      }
    if (t == last_tables) return;
    if (t.size() > table_entries) {
      CUDA_CHECK(cudaEventSynchronize(table_copied));
      if (host_tables) CUDA_CHECK(cudaFreeHost(host_tables));
      host_tables = nullptr;
      CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host_tables), t.size() * sizeof(void*), cudaHostAllocDefault));
      table_entries = t.size();
    }
    tables.ensure(t.size());
    CUDA_CHECK(cudaEventSynchronize(table_copied));  // the previous copy has read host_tables
    std::memcpy(host_tables, t.data(), t.size() * sizeof(void*));
    CUDA_CHECK(cudaMemcpyAsync(tables.get(), host_tables, t.size() * sizeof(void*), cudaMemcpyHostToDevice, stream));
    CUDA_CHECK(cudaEventRecord(table_copied, stream));
    last_tables = std::move(t);
  }

  // dW += dpre^T x_in and db += dpre^T 1 of one segment of R rows, for every member at once.
  void weight_grads(int R) {
    const int K = size();
    const float one = 1.0f;
    for (int l = m(0).L; l >= 0; --l) {
      const CudaElm::Impl::LayerGradOperands o = m(0).layer_grad_operands(l);
      void** row = tables.get() + size_t(l) * kTables * K;
      const auto A = reinterpret_cast<const float* const*>(row);
      const auto Bm = reinterpret_cast<const float* const*>(row + K);
      const auto C = reinterpret_cast<float* const*>(row + 2 * K);
      const auto ones = reinterpret_cast<const float* const*>(row + 3 * K);
      const auto Y = reinterpret_cast<float* const*>(row + 4 * K);
      CUBLAS_CHECK(cublasSgemmBatched(cublas, CUBLAS_OP_N, CUBLAS_OP_T, o.in, o.out, R, &one, A, o.in, Bm, o.out, &one,
                                      C, o.in, K));
      CUBLAS_CHECK(cublasSgemvBatched(cublas, CUBLAS_OP_N, o.out, R, &one, Bm, o.out, ones, 1, &one, Y, 1, K));
    }
  }
};

namespace {

bool same_shape(const CudaElm::Impl& a, const CudaElm::Impl& b) {
  const auto& x = a.config;
  const auto& y = b.config;
  return a.k == b.k && a.ds == b.ds && a.db == b.db && a.dm == b.dm && a.H == b.H && a.L == b.L && a.d_o == b.d_o &&
         a.n_in == b.n_in && a.v1 == b.v1 && x.mlp_activation == y.mlp_activation &&
         x.learn_memory_tau == y.learn_memory_tau && a.layout.num_params() == b.layout.num_params() &&
         a.options.device == b.options.device && a.options.segment_len == b.options.segment_len &&
         a.options.segment_budget_bytes == b.options.segment_budget_bytes && a.options.group == b.options.group &&
         a.options.weights_in_smem == b.options.weights_in_smem;
}

bool same_plan(const CudaElm::Impl& a, const CudaElm::Impl& b) {
  const LaunchShape &p = a.shape, &q = b.shape;
  return a.input.B == b.input.B && a.input.T == b.input.T && a.seg.segment_len == b.seg.segment_len &&
         a.seg.num_segments == b.seg.num_segments && a.recorded_segment == b.recorded_segment &&
         p.group == q.group && p.threads == q.threads && p.blocks == q.blocks &&
         p.weights_in_smem_fwd == q.weights_in_smem_fwd && p.weights_in_smem_bwd == q.weights_in_smem_bwd &&
         p.smem_fwd == q.smem_fwd && p.smem_bwd == q.smem_bwd;
}

}  // namespace

CudaElmPack::CudaElmPack(std::vector<CudaElm*> members) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  ELM_CHECK(!members.empty(), "CudaElmPack: no members");
  s.members = std::move(members);
  for (int k = 1; k < s.size(); ++k)
    ELM_CHECK(same_shape(s.m(0), s.m(k)), "CudaElmPack: member ", k,
              " differs from member 0 in a shape, its device or its CUDA options");
  s.device = s.m(0).options.device;
  DeviceGuard on(s.device);
  CUDA_CHECK(cudaStreamCreate(&s.stream));
  CUBLAS_CHECK(cublasCreate(&s.cublas));
  CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream));
  CUBLAS_CHECK(cublasSetMathMode(s.cublas, CUBLAS_DEFAULT_MATH));  // plain fp32, as the members' own
  CUBLAS_CHECK(cublasSetPointerMode(s.cublas, CUBLAS_POINTER_MODE_HOST));
  s.member_done.resize(s.members.size());
  for (auto& e : s.member_done) CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&s.pack_done, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&s.table_copied, cudaEventDisableTiming));
}

CudaElmPack::~CudaElmPack() {
  if (!impl_) return;
  Impl& s = *impl_;
  try {
    DeviceGuard on(s.device);
    cudaStreamSynchronize(s.stream);
    for (auto e : s.member_done)
      if (e) cudaEventDestroy(e);
    if (s.pack_done) cudaEventDestroy(s.pack_done);
    if (s.table_copied) cudaEventDestroy(s.table_copied);
    if (s.host_tables) cudaFreeHost(s.host_tables);
    if (s.cublas) cublasDestroy(s.cublas);
    if (s.stream) cudaStreamDestroy(s.stream);
    impl_.reset();
  } catch (const std::exception&) {
    // The device cannot be made current: a destructor must not throw.
  }
}

int CudaElmPack::size() const { return impl_->size(); }
CudaElm& CudaElmPack::member(int k) const { return *impl_->members.at(size_t(k)); }

void CudaElmPack::forward(std::span<const float* const> d_params, std::span<float* const> d_y) {
  Impl& s = *impl_;
  ELM_CHECK(int(d_params.size()) == s.size() && int(d_y.size()) == s.size(), "CudaElmPack::forward: ", s.size(),
            " members, ", d_params.size(), " parameter and ", d_y.size(), " output buffers");
  DeviceGuard on(s.device);
  std::vector<RecurrenceArgs> args(s.members.size());
  for (int k = 0; k < s.size(); ++k) {
    args[size_t(k)] = s.members[size_t(k)]->forward_before_recurrence(d_params[size_t(k)], d_y[size_t(k)], nullptr);
    ELM_CHECK(same_plan(s.m(0), s.m(k)), "CudaElmPack::forward: member ", k,
              "'s batch or plan differs from member 0's (", describe(s.m(k).seg), " against ",
              describe(s.m(0).seg), ")");
  }
  s.pack_waits_for_members();
  launch_recurrence_forward_pack(args, s.m(0).shape, s.stream);
  s.members_wait_for_pack();
  for (int k = 0; k < s.size(); ++k) s.m(k).forward_done = true;
}

void CudaElmPack::backward(std::span<const float* const> d_dy, std::span<float* const> d_grad) {
  Impl& s = *impl_;
  ELM_CHECK(int(d_dy.size()) == s.size() && int(d_grad.size()) == s.size(), "CudaElmPack::backward: ", s.size(),
            " members, ", d_dy.size(), " output-gradient and ", d_grad.size(), " gradient buffers");
  DeviceGuard on(s.device);
  for (int k = 0; k < s.size(); ++k) backward_begin(s.m(k), d_dy[size_t(k)], d_grad[size_t(k)]);
  s.upload_tables();  // after backward_begin: the ones buffers may have moved
  s.pack_waits_for_members();
  const CudaElm::Impl& first = s.m(0);
  std::vector<RecurrenceArgs> args(s.members.size());
  for (int seg = first.seg.num_segments - 1; seg >= 0; --seg) {
    if (seg != first.recorded_segment) {
      for (int k = 0; k < s.size(); ++k) args[size_t(k)] = s.m(k).recompute_args(seg);
      launch_recurrence_forward_pack(args, first.shape, s.stream);
    }
    for (int k = 0; k < s.size(); ++k) args[size_t(k)] = s.m(k).backward_args(seg);
    launch_recurrence_backward_pack(args, first.shape, s.stream);
    s.weight_grads((args[0].t1 - args[0].t0) * first.input.B);
  }
  s.members_wait_for_pack();
  for (int k = 0; k < s.size(); ++k) backward_end(s.m(k));
}

void CudaElmPack::synchronize() {
  Impl& s = *impl_;
  DeviceGuard on(s.device);
  CUDA_CHECK(cudaStreamSynchronize(s.stream));
  for (auto* e : s.members) e->synchronize();
}

}  // namespace elm
