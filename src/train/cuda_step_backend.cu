// The StepBackend on one GPU: CudaElm for the model, the device losses, head,
// norm and optimizer of backend/cuda/train_kernels.cuh. Parameters, gradient
// (with the loss and stop flag in its last two slots), optimizer state and
// activations stay on the device; per step the host reads back the loss, the
// stop flag and the gradient norm (three numbers), which it needs to decide
// whether to step, log and stop.
//
// Ordering: the kernels here run on the model's own stream (CudaElm::stream()),
// so every launch orders after the model's work and the model's next work
// after these, and nothing orders with another backend's work: the members of
// a pack (train/step_pack.hpp) run side by side on the device. The NCCL
// all-reduce is queued on the same stream.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <deque>
#include <memory>
#include <vector>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/device_array.cuh"
#include "backend/cuda/device_guard.cuh"
#include "backend/cuda/elm_cuda.hpp"
#include "backend/cuda/elm_cuda_pack.hpp"
#include "backend/cuda/train_kernels.cuh"
#include "core/error.hpp"
#include "dist/device_comm.hpp"
#include "train/cuda_optimizer_step.cuh"
#include "train/cuda_step_backend.hpp"
#include "train/grad_clip.hpp"
#include "train/step_pack.hpp"
#include "train/staging_plan.hpp"

namespace elm {

namespace {

using cuda::DeviceArray;
using cuda::DeviceGuard;

class CudaStepBackend final : public StepBackend {
  // A staging slot: the batch's arrays in pinned host memory and on the device.
  struct Slot {
    StagingPlan plan;
    std::byte* host = nullptr;
    std::byte* device = nullptr;
    size_t capacity = 0;
    cudaEvent_t ready = nullptr;     // the copy to the device is done
    cudaEvent_t consumed = nullptr;  // the step that read it is done
  };
  static constexpr size_t kSlots = 2;  // the step's batch and the next one

 public:
  CudaStepBackend(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss, const OptimizerConfig& optim,
                  const StepBackendOptions& options)
      : config_(config), loss_(loss), optim_(optim), device_(options.device), device_comm_(options.device_comm) {
    require_cuda_usable(device_);
    DeviceGuard on(device_);
    CudaElmOptions eo;
    eo.device = device_;
    elm_ = std::make_unique<CudaElm>(config, routing, eo);  // names a device this build has no code for
    stream_ = static_cast<cudaStream_t>(elm_->stream());
    const ParamLayout& L = elm_->layout();
    ELM_CHECK(loss != TaskLoss::PairedCrossEntropy || L.has_head(),
              "the two-tower model needs a classifier head: set config key 'model.head_hidden' > 0");
    n_params_ = size_t(L.num_params());
    n_grad_ = size_t(L.num_trainable());
    params_.zero(n_params_, stream_);
    reduce_.zero(n_grad_ + 2, stream_);
    exp_avg_.zero(n_grad_, stream_);
    second_.zero(n_grad_, stream_);
    sums_.zero(2, stream_);
    norm_sq_.zero(1, stream_);
    CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
    for (Slot& slot : slots_) {
      CUDA_CHECK(cudaEventCreateWithFlags(&slot.ready, cudaEventDisableTiming));
      CUDA_CHECK(cudaEventCreateWithFlags(&slot.consumed, cudaEventDisableTiming));
    }
  }
  ~CudaStepBackend() override {
    int caller = 0;
    cudaGetDevice(&caller);
    cudaSetDevice(device_);
    cudaDeviceSynchronize();  // no copy or step may still use what is freed below
    for (Slot& slot : slots_) {
      if (slot.host) cudaFreeHost(slot.host);
      if (slot.device) cudaFree(slot.device);
      if (slot.ready) cudaEventDestroy(slot.ready);
      if (slot.consumed) cudaEventDestroy(slot.consumed);
    }
    if (copy_stream_) cudaStreamDestroy(copy_stream_);
    cudaSetDevice(caller);
  }

  BackendKind kind() const override { return BackendKind::Cuda; }
  std::string description() const override { return "cuda " + cuda_device_description(device_); }
  std::string plan_description() const override {
    return cuda::describe(elm_->segment_plan()) + " " + cuda::describe(elm_->launch_shape());
  }
  const ParamLayout& layout() const override { return elm_->layout(); }

  void set_params(std::span<const float> params) override {
    ELM_CHECK(params.size() == n_params_, "set_params: ", params.size(), " values for ", n_params_, " parameters");
    DeviceGuard on(device_);
    params_.upload(params.data(), params.size(), stream_);
    CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host buffer may change after return
    elm_->params_changed();  // tau_s may differ: the branch-trace decision is taken again
  }
  void get_params(std::span<float> params) override {
    ELM_CHECK(params.size() == n_params_, "get_params: room for ", params.size(), " values, not ", n_params_);
    DeviceGuard on(device_);
    params_.download(params.data(), params.size(), stream_);
  }
  void set_optimizer_state(const Optimizer& state) override {
    DeviceGuard on(device_);
    step_count_ = state.step_count();
    DeviceArray<float>* bufs[2] = {&exp_avg_, &second_};
    for (size_t i = 0; i < 2; ++i) {
      const std::vector<float>& b = state.state_buffer(i);
      if (b.empty()) {
        bufs[i]->zero(n_grad_, stream_);  // as the CPU optimizer before its first step
        continue;
      }
      ELM_CHECK(b.size() == n_grad_, "optimizer state '", state.state_buffer_name(i), "' has ", b.size(),
                " values for ", n_grad_, " trainable parameters");
      bufs[i]->upload(b.data(), b.size(), stream_);
    }
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void get_optimizer_state(Optimizer& state) override {
    DeviceGuard on(device_);
    state.set_step_count(step_count_);
    DeviceArray<float>* bufs[2] = {&exp_avg_, &second_};
    for (size_t i = 0; i < 2; ++i) {
      std::vector<float>& b = state.state_buffer(i);
      if (step_count_ == 0) {
        b.clear();  // the CPU optimizer's buffers are empty until its first step
        continue;
      }
      b.resize(n_grad_);
      bufs[i]->download(b.data(), n_grad_, stream_);
    }
  }

  // The batch goes into a free slot's pinned host buffer, then to the device
  // on the copy stream; the step that reads it waits for that copy on the
  // device, so a batch staged while the previous step computes (train_step's
  // `next`) crosses the bus during that step.
  void stage(const Batch& batch) override {
    DeviceGuard on(device_);
    ELM_CHECK(staged_.size() < kSlots, "stage(): ", kSlots, " batches are already waiting for forward_backward()");
    batch.x.validate();
    ELM_CHECK(batch.x.channels == config_.num_input, "batch has ", batch.x.channels, " input channels, the model ",
              config_.num_input);
    if (loss_ != TaskLoss::Neuronio) check_labels(batch);
    const size_t k = next_slot_;
    next_slot_ = (next_slot_ + 1) % kSlots;
    Slot& slot = slots_[k];
    slot.plan = plan_staging(batch, loss_);
    // The slot's previous batch: its copy has left the pinned buffer, and
    // (before the device buffer is reallocated) its step has read it.
    CUDA_CHECK(cudaEventSynchronize(slot.ready));
    if (slot.plan.total > slot.capacity) {
      CUDA_CHECK(cudaEventSynchronize(slot.consumed));
      if (slot.host) CUDA_CHECK(cudaFreeHost(slot.host));
      if (slot.device) CUDA_CHECK(cudaFree(slot.device));
      slot.host = nullptr;
      slot.device = nullptr;
      slot.capacity = 0;
      CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&slot.host), slot.plan.total));
      CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&slot.device), slot.plan.total));
      slot.capacity = slot.plan.total;
    }
    fill_staging(batch, slot.plan, slot.host);
    CUDA_CHECK(cudaStreamWaitEvent(copy_stream_, slot.consumed, 0));
    CUDA_CHECK(cudaMemcpyAsync(slot.device, slot.host, slot.plan.total, cudaMemcpyHostToDevice, copy_stream_));
    CUDA_CHECK(cudaEventRecord(slot.ready, copy_stream_));
    staged_.push_back(k);
  }

  bool has_staged() const override { return !staged_.empty(); }

  void forward_backward() override {
    DeviceGuard on(device_);
    const Slot& slot = begin_step();
    float* grad = reduce_.get();
    elm_->forward(params_.get(), y_.get());
    if (loss_ == TaskLoss::PairedCrossEntropy) {
      const StagingPlan& p = slot.plan;
      const int32_t* labels = reinterpret_cast<const int32_t*>(slot.device + p.labels.offset);
      float* loss_slot = reduce_.get() + n_grad_;
      const int pairs = B_ / 2;
      const auto& head = elm_->layout().head();
      cuda::launch_two_tower_head_forward(head, params_.get(), y_.get(), pairs, T_, labels, logits_.get(), loss_slot,
                                          stream_);
      cuda::launch_two_tower_head_backward(head, params_.get(), y_.get(), pairs, T_, labels, dy_.get(), nullptr,
                                           stream_);
      elm_->backward(dy_.get(), grad);
      // The tower's backward overwrites the gradient; the head's part is added after it.
      cuda::launch_two_tower_head_backward(head, params_.get(), y_.get(), pairs, T_, labels, nullptr, grad, stream_);
    } else {
      launch_loss(slot);
      elm_->backward(dy_.get(), grad);
    }
    end_step();
  }

  // The phases of forward_backward() for a pack whose models' recurrences run
  // in one launch (IndexedCudaStepPack): begin_step, then the pack's forward of
  // packed_model() on packed_params() into packed_y(), launch_loss, the pack's
  // backward of packed_dy() into packed_grad(), end_step. Not for two-tower runs.
  const Slot& begin_step() {
    ELM_CHECK(!staged_.empty(), "forward_backward() without a staged batch");
    current_ = staged_.front();
    staged_.pop_front();
    const Slot& slot = slots_[current_];
    B_ = slot.plan.batch;
    T_ = slot.plan.steps;
    // The model's stream, which the loss kernels share, waits for the copy.
    elm_->use_device_input(input_view(slot), slot.ready);
    size_outputs();
    return slot;
  }
  void launch_loss() { launch_loss(slots_[current_]); }
  void end_step() {
    // After everything that read the slot.
    CUDA_CHECK(cudaEventRecord(slots_[current_].consumed, stream_));
  }
  CudaElm& packed_model() { return *elm_; }
  const float* packed_params() const { return params_.get(); }
  float* packed_y() { return y_.get(); }
  const float* packed_dy() const { return dy_.get(); }
  float* packed_grad() { return reduce_.get(); }
  int device() const { return device_; }

  ReducedStep reduce(Comm& comm, bool want_stop) override {
    DeviceGuard on(device_);
    const float flag = want_stop ? 1.0f : 0.0f;
    CUDA_CHECK(cudaMemcpyAsync(reduce_.get() + n_grad_ + 1, &flag, sizeof flag, cudaMemcpyHostToDevice, stream_));
    if (device_comm_ && device_comm_->size() > 1) {
      allreduce_step_device(*device_comm_, reduce_.get(), n_grad_ + 2, n_grad_, stream_);
    } else if (comm.size() > 1) {
      // No device collectives in this build: the host carries the gradient.
      host_reduce_.resize(n_grad_ + 2);
      reduce_.download(host_reduce_.data(), host_reduce_.size(), stream_);
      allreduce_step(comm, host_reduce_, n_grad_);
      reduce_.upload(host_reduce_.data(), host_reduce_.size(), stream_);
    }
    float tail[2];
    CUDA_CHECK(cudaMemcpyAsync(tail, reduce_.get() + n_grad_, sizeof tail, cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return {double(tail[0]), tail[1] > 0};
  }

  double clip_gradient(double max_norm) override {
    DeviceGuard on(device_);
    cuda::launch_sum_squares(reduce_.get(), int64_t(n_grad_), norm_sq_.get(), stream_);
    double sq = 0;
    norm_sq_.download(&sq, 1, stream_);
    const double norm = std::sqrt(sq);
    if (max_norm > 0)
      if (const std::optional<float> scale = clip_scale(norm, max_norm))
        cuda::launch_scale(reduce_.get(), int64_t(n_grad_), *scale, stream_);
    return norm;
  }

  void optimizer_step(double lr) override {
    DeviceGuard on(device_);
    ++step_count_;
    cuda::launch_optimizer_step(optim_, lr, step_count_, params_.get(), reduce_.get(), exp_avg_.get(),
                                second_.get(), int64_t(n_grad_), stream_);
  }

  void evaluate_batch(const Batch& batch, double& loss_sum, double& correct) override {
    ELM_CHECK(loss_ != TaskLoss::Neuronio, "evaluate_batch: the neuronio task is evaluated by its own protocol");
    DeviceGuard on(device_);
    batch.x.validate();
    check_labels(batch);
    elm_->upload_input(batch.x);  // apart from the training slots: a staged next batch stays as it is
    B_ = batch.x.batch;
    T_ = batch.x.steps;
    labels32_.assign(batch.labels.begin(), batch.labels.end());
    labels_.upload(labels32_.data(), labels32_.size(), stream_);
    forward_into_y();
    CUDA_CHECK(cudaMemsetAsync(sums_.get(), 0, 2 * sizeof(double), stream_));
    if (loss_ == TaskLoss::PairedCrossEntropy)
      cuda::launch_two_tower_head_eval(elm_->layout().head(), params_.get(), y_.get(), B_ / 2, T_, labels_.get(),
                                       sums_.get(), stream_);
    else
      cuda::launch_last_step_ce_eval(y_.get(), B_, T_, config_.num_output, labels_.get(), sums_.get(), stream_);
    double s[2];
    sums_.download(s, 2, stream_);
    loss_sum += s[0];
    correct += s[1];
  }

  void require_fits(const Batch& batch) override {
    const InputBatch& x = batch.x;
    const size_t ny = size_t(x.batch) * x.steps * config_.num_output;
    // Ours: parameters, gradient + 2, optimizer state, y and dy, targets.
    const size_t own = sizeof(float) * (n_params_ + 3 * n_grad_ + 2 + 2 * ny + 2 * size_t(x.batch) * x.steps);
    const size_t need = (own + elm_->device_bytes_at_least(x)) * size_t(sharers_);
    const auto [free_bytes, total] = elm_->device_memory();
    const std::string what = sharers_ > 1 ? "a pack of " + std::to_string(sharers_) + " runs, each training on "
                                          : std::string("a training step of ");
    ELM_CHECK(need < free_bytes, "train.backend = cuda: ", what, x.batch, " rows x ", x.steps, " steps, needs at least ",
              need >> 20, " MiB on GPU ", device_, ", which has ", free_bytes >> 20, " MiB free of ", total >> 20,
              sharers_ > 1 ? ": lower sweep.pack (or --pack)" : ": lower train.batch_size or train on more ranks");
  }
  void share_device_with(int runs) override {
    ELM_CHECK(runs >= 1, "share_device_with: ", runs, " runs");
    sharers_ = runs;
  }

  void forward_outputs(const InputBatch& x, std::vector<float>& y) override {
    DeviceGuard on(device_);
    x.validate();
    elm_->upload_input(x);
    B_ = x.batch;
    T_ = x.steps;
    forward_into_y();
    y.resize(size_t(B_) * T_ * config_.num_output);
    y_.download(y.data(), y.size(), stream_);
  }

 private:
  // Room for y [B, T, d_o] and dy of the current B_, T_, and the head's logits.
  void size_outputs() {
    const size_t ny = size_t(B_) * T_ * config_.num_output;
    y_.reserve(ny);
    // dy is written only where the loss looks (the last step, or outputs 0-1
    // of NeuronIO): zeroed whenever its shape changes.
    if (dy_.reserve(ny) || ny != dy_shape_) {
      dy_.zero(ny, stream_);
      dy_shape_ = ny;
    }
    if (loss_ == TaskLoss::PairedCrossEntropy) logits_.reserve(size_t(B_ / 2) * elm_->layout().head().classes);
  }

  // y [B, T, d_o] of the uploaded input.
  void forward_into_y() {
    size_outputs();
    elm_->forward(params_.get(), y_.get());
  }

  // The loss of the step into its slot of reduce_ and dL/dy into dy_ (not two-tower).
  void launch_loss(const Slot& slot) {
    const StagingPlan& p = slot.plan;
    float* loss_slot = reduce_.get() + n_grad_;
    const int C = config_.num_output;
    if (loss_ == TaskLoss::Neuronio)
      cuda::launch_neuronio_loss(y_.get(), B_, T_, C, reinterpret_cast<const float*>(slot.device + p.spike.offset),
                                 reinterpret_cast<const float*>(slot.device + p.soma.offset), dy_.get(), loss_slot,
                                 stream_);
    else
      cuda::launch_last_step_ce(y_.get(), B_, T_, C, reinterpret_cast<const int32_t*>(slot.device + p.labels.offset),
                                dy_.get(), loss_slot, stream_);
  }

  // The kernels cannot throw: labels are checked here, as the CPU loss does.
  void check_labels(const Batch& batch) const {
    const bool paired = loss_ == TaskLoss::PairedCrossEntropy;
    const int classes = paired ? elm_->layout().head().classes : config_.num_output;
    const size_t expect = paired ? size_t(batch.x.batch / 2) : size_t(batch.x.batch);
    ELM_CHECK(batch.labels.size() == expect, "batch of ", batch.x.batch, " rows has ", batch.labels.size(),
              " labels, expected ", expect);
    for (size_t i = 0; i < batch.labels.size(); ++i)
      ELM_CHECK(batch.labels[i] >= 0 && batch.labels[i] < classes, "label ", batch.labels[i], " of sample ", i,
                " is outside [0, ", classes, ")");
  }

  static DeviceInputView input_view(const Slot& slot) {
    const StagingPlan& p = slot.plan;
    DeviceInputView v;
    v.batch = p.batch;
    v.steps = p.steps;
    v.channels = p.channels;
    const std::byte* d = slot.device;
    switch (p.kind) {
      case InputKind::Dense:
        v.kind = DeviceInputView::Kind::Dense;
        v.dense = reinterpret_cast<const float*>(d + p.dense.offset);
        break;
      case InputKind::Spikes:
        v.kind = DeviceInputView::Kind::Spikes;
        v.offsets = reinterpret_cast<const int64_t*>(d + p.offsets.offset);
        v.channel = reinterpret_cast<const int32_t*>(d + p.channel.offset);
        v.value = reinterpret_cast<const float*>(d + p.value.offset);
        v.events = p.events;
        break;
      case InputKind::Tokens:
        v.kind = DeviceInputView::Kind::Tokens;
        v.ids = reinterpret_cast<const int32_t*>(d + p.ids.offset);
        break;
    }
    return v;
  }


  ElmConfig config_;
  TaskLoss loss_;
  OptimizerConfig optim_;
  int device_;
  DeviceComm* device_comm_;
  std::unique_ptr<CudaElm> elm_;
  cudaStream_t stream_ = nullptr;  // the model's: everything of this backend runs on it
  size_t n_params_ = 0, n_grad_ = 0;
  int64_t step_count_ = 0;
  int B_ = 0, T_ = 0;
  Slot slots_[kSlots];
  size_t next_slot_ = 0;
  std::deque<size_t> staged_;  // slots waiting for forward_backward, oldest first
  size_t current_ = 0;         // the slot of the step in progress
  cudaStream_t copy_stream_ = nullptr;
  size_t dy_shape_ = 0;
  int sharers_ = 1;  // runs of its pack on this device, itself included (share_device_with)
  DeviceArray<float> params_, reduce_, exp_avg_, second_, y_, dy_, logits_;
  DeviceArray<int32_t> labels_;
  DeviceArray<double> sums_, norm_sq_;
  std::vector<int32_t> labels32_;
  std::vector<float> host_reduce_;
};

// A GPU pack whose members' memory recurrences run as one launch with a model
// index and whose MLP weight gradients are batched GEMMs (CudaElmPack); each
// member's input, loss, all-reduce, clipping and optimizer stay its own, on its
// own stream, as for a run alone.
class IndexedCudaStepPack final : public StepPack {
 public:
  explicit IndexedCudaStepPack(const StepBackendOptions& options) : options_(options) {}
  StepBackend& add_member(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss,
                          const OptimizerConfig& optim) override {
    return add_gpu_pack_member(members_, loss,
                               [&] { return std::make_unique<CudaStepBackend>(config, routing, loss, optim, options_); });
  }
  int size() const override { return int(members_.size()); }
  StepBackend& member(int i) override { return *members_.at(size_t(i)); }
  std::string description() const override {
    return members_.empty() ? "empty pack"
                            : members_.front()->description() + ", " + std::to_string(size()) +
                                  " runs packed (their recurrences in one launch)";
  }
  void forward_backward(std::span<const int> members) override {
    if (members.empty()) return;
    DeviceGuard on(members_.front()->device());
    // The runs still training: a run that failed or finished leaves the pack.
    if (!pack_ || !std::ranges::equal(members, pack_members_)) {
      pack_.reset();
      pack_members_.assign(members.begin(), members.end());
      std::vector<CudaElm*> elms;
      for (int k : members) elms.push_back(&at(k).packed_model());
      pack_ = std::make_unique<CudaElmPack>(std::move(elms));
    }
    std::vector<const float*> params, dys;
    std::vector<float*> ys, grads;
    for (int k : members) {
      CudaStepBackend& m = at(k);
      m.begin_step();
      params.push_back(m.packed_params());
      ys.push_back(m.packed_y());
    }
    pack_->forward(params, ys);
    for (int k : members) {
      CudaStepBackend& m = at(k);
      m.launch_loss();
      dys.push_back(m.packed_dy());
      grads.push_back(m.packed_grad());
    }
    pack_->backward(dys, grads);
    for (int k : members) at(k).end_step();
  }

 private:
  CudaStepBackend& at(int k) { return *members_.at(size_t(k)); }
  StepBackendOptions options_;
  std::vector<std::unique_ptr<CudaStepBackend>> members_;
  std::vector<int> pack_members_;
  std::unique_ptr<CudaElmPack> pack_;  // over pack_members_' models
};

}  // namespace

int gpu_for_this_rank(const NodeRanks& node) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    count = 0;  // no driver: gpu_for_rank names it with the counts
  }
  const char* env = std::getenv("CUDA_VISIBLE_DEVICES");
  return gpu_for_rank(node.local_rank, node.local_ranks, count, env ? env : "");
}

void require_cuda_usable(int device) {
  std::string why;
  ELM_CHECK(cuda_device_usable(&why), "train.backend = cuda: ", why);
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  ELM_CHECK(device >= 0 && device < count, "train.backend = cuda: device ", device, " does not exist (", count,
            " visible; CUDA_VISIBLE_DEVICES chooses which)");
  try {
    DeviceGuard on(device);
    require_code_for_device(device);
  } catch (const ElmError& e) {
    fail("train.backend = cuda: ", e.what());
  }
}

std::unique_ptr<StepPack> make_cuda_step_pack(const StepBackendOptions& options) {
  return std::make_unique<IndexedCudaStepPack>(options);
}

std::unique_ptr<StepBackend> make_cuda_step_backend(const ElmConfig& config, const RoutingTable& routing,
                                                    TaskLoss loss, const OptimizerConfig& optim,
                                                    const StepBackendOptions& options) {
  return std::make_unique<CudaStepBackend>(config, routing, loss, optim, options);
}

}  // namespace elm
