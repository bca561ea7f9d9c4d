// The StepBackend on one GPU: CudaElm for the model, the device losses, head,
// norm and optimizer of backend/cuda/train_kernels.cuh. Parameters, gradient
// (with the loss and stop flag in its last two slots), optimizer state and
// activations stay on the device; per step the host reads back the loss, the
// stop flag and the gradient norm (three numbers), which it needs to decide
// whether to step, log and stop.
//
// Ordering: CudaElm runs on a blocking stream and the kernels here run on the
// legacy default stream, so every launch here orders after the model's work
// and the model's next work orders after these (CUDA's legacy-stream rule);
// the NCCL all-reduce waits on an event recorded on the same stream.
#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/device_guard.cuh"
#include "backend/cuda/elm_cuda.hpp"
#include "backend/cuda/train_kernels.cuh"
#include "core/error.hpp"
#include "dist/device_comm.hpp"
#include "train/cuda_optimizer_step.cuh"
#include "train/cuda_step_backend.hpp"
#include "train/grad_clip.hpp"

namespace elm {

namespace {

using cuda::DeviceGuard;

const cudaStream_t kStream = cudaStreamLegacy;

// A device array that only grows; its contents survive growth only when asked.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  ~DeviceArray() {
    if (p_) cudaFree(p_);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  // Room for n values; returns true when it had to reallocate (contents lost).
  bool reserve(size_t n) {
    if (n <= n_ && p_) return false;
    if (p_) CUDA_CHECK(cudaFree(p_));
    p_ = nullptr;
    CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), std::max<size_t>(n, 1) * sizeof(T)));
    n_ = n;
    return true;
  }
  T* get() { return p_; }
  const T* get() const { return p_; }
  void upload(const T* host, size_t n) {
    reserve(n);
    if (n) CUDA_CHECK(cudaMemcpyAsync(p_, host, n * sizeof(T), cudaMemcpyHostToDevice, kStream));
  }
  void download(T* host, size_t n) const {
    if (n) CUDA_CHECK(cudaMemcpyAsync(host, p_, n * sizeof(T), cudaMemcpyDeviceToHost, kStream));
    CUDA_CHECK(cudaStreamSynchronize(kStream));
  }
  void zero(size_t n) {
    reserve(n);
    CUDA_CHECK(cudaMemsetAsync(p_, 0, std::max<size_t>(n, 1) * sizeof(T), kStream));
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

class CudaStepBackend final : public StepBackend {
 public:
  CudaStepBackend(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss, const OptimizerConfig& optim,
                  const StepBackendOptions& options)
      : config_(config), loss_(loss), optim_(optim), device_(options.device), device_comm_(options.device_comm) {
    require_cuda_usable(device_);
    DeviceGuard on(device_);
    CudaElmOptions eo;
    eo.device = device_;
    elm_ = std::make_unique<CudaElm>(config, routing, eo);  // names a device this build has no code for
    const ParamLayout& L = elm_->layout();
    ELM_CHECK(loss != TaskLoss::PairedCrossEntropy || L.has_head(),
              "the two-tower model needs a classifier head: set config key 'model.head_hidden' > 0");
    n_params_ = size_t(L.num_params());
    n_grad_ = size_t(L.num_trainable());
    params_.zero(n_params_);
    reduce_.zero(n_grad_ + 2);
    exp_avg_.zero(n_grad_);
    second_.zero(n_grad_);
    sums_.zero(2);
    norm_sq_.zero(1);
  }

  BackendKind kind() const override { return BackendKind::Cuda; }
  std::string description() const override { return "cuda " + cuda_device_description(device_); }
  const ParamLayout& layout() const override { return elm_->layout(); }

  void set_params(std::span<const float> params) override {
    ELM_CHECK(params.size() == n_params_, "set_params: ", params.size(), " values for ", n_params_, " parameters");
    DeviceGuard on(device_);
    params_.upload(params.data(), params.size());
    CUDA_CHECK(cudaStreamSynchronize(kStream));  // the host buffer may change after return
    elm_->params_changed();  // tau_s may differ: the branch-trace decision is taken again
  }
  void get_params(std::span<float> params) override {
    ELM_CHECK(params.size() == n_params_, "get_params: room for ", params.size(), " values, not ", n_params_);
    DeviceGuard on(device_);
    params_.download(params.data(), params.size());
  }
  void set_optimizer_state(const Optimizer& state) override {
    DeviceGuard on(device_);
    step_count_ = state.step_count();
    DeviceArray<float>* bufs[2] = {&exp_avg_, &second_};
    for (size_t i = 0; i < 2; ++i) {
      const std::vector<float>& b = state.state_buffer(i);
      if (b.empty()) {
        bufs[i]->zero(n_grad_);  // as the CPU optimizer before its first step
        continue;
      }
      ELM_CHECK(b.size() == n_grad_, "optimizer state '", state.state_buffer_name(i), "' has ", b.size(),
                " values for ", n_grad_, " trainable parameters");
      bufs[i]->upload(b.data(), b.size());
    }
    CUDA_CHECK(cudaStreamSynchronize(kStream));
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
      bufs[i]->download(b.data(), n_grad_);
    }
  }

  void stage(const Batch& batch) override {
    DeviceGuard on(device_);
    batch.x.validate();
    elm_->upload_input(batch.x);
    B_ = batch.x.batch;
    T_ = batch.x.steps;
    if (loss_ == TaskLoss::Neuronio) {
      const size_t n = size_t(B_) * T_;
      ELM_CHECK(batch.target_spike.size() == n && batch.target_soma.size() == n,
                "NeuronIO batch: targets must hold B*T = ", n, " values");
      spike_.upload(batch.target_spike.data(), n);
      soma_.upload(batch.target_soma.data(), n);
    } else {
      upload_labels(batch.labels);
    }
    CUDA_CHECK(cudaStreamSynchronize(kStream));  // the batch's host memory may go after return
    staged_ = true;
  }

  void forward_backward() override {
    ELM_CHECK(staged_, "forward_backward() without a staged batch");
    staged_ = false;
    DeviceGuard on(device_);
    float* grad = reduce_.get();
    float* loss_slot = reduce_.get() + n_grad_;
    forward_into_y();
    if (loss_ == TaskLoss::PairedCrossEntropy) {
      const int pairs = B_ / 2;
      const auto& head = elm_->layout().head();
      cuda::launch_two_tower_head_forward(head, params_.get(), y_.get(), pairs, T_, labels_.get(), logits_.get(),
                                          loss_slot, kStream);
      cuda::launch_two_tower_head_backward(head, params_.get(), y_.get(), pairs, T_, labels_.get(), dy_.get(),
                                           nullptr, kStream);
      elm_->backward(dy_.get(), grad);
      // The tower's backward overwrites the gradient; the head's part is added after it.
      cuda::launch_two_tower_head_backward(head, params_.get(), y_.get(), pairs, T_, labels_.get(), nullptr, grad,
                                           kStream);
      return;
    }
    const int C = config_.num_output;
    if (loss_ == TaskLoss::Neuronio)
      cuda::launch_neuronio_loss(y_.get(), B_, T_, C, spike_.get(), soma_.get(), dy_.get(), loss_slot, kStream);
    else
      cuda::launch_last_step_ce(y_.get(), B_, T_, C, labels_.get(), dy_.get(), loss_slot, kStream);
    elm_->backward(dy_.get(), grad);
  }

  ReducedStep reduce(Comm& comm, bool want_stop) override {
    DeviceGuard on(device_);
    const float flag = want_stop ? 1.0f : 0.0f;
    CUDA_CHECK(cudaMemcpyAsync(reduce_.get() + n_grad_ + 1, &flag, sizeof flag, cudaMemcpyHostToDevice, kStream));
    if (device_comm_ && device_comm_->size() > 1) {
      allreduce_step_device(*device_comm_, reduce_.get(), n_grad_ + 2, n_grad_, kStream);
    } else if (comm.size() > 1) {
      // No device collectives in this build: the host carries the gradient.
      host_reduce_.resize(n_grad_ + 2);
      reduce_.download(host_reduce_.data(), host_reduce_.size());
      allreduce_step(comm, host_reduce_, n_grad_);
      reduce_.upload(host_reduce_.data(), host_reduce_.size());
    }
    float tail[2];
    CUDA_CHECK(cudaMemcpyAsync(tail, reduce_.get() + n_grad_, sizeof tail, cudaMemcpyDeviceToHost, kStream));
    CUDA_CHECK(cudaStreamSynchronize(kStream));
    return {double(tail[0]), tail[1] > 0};
  }

  double clip_gradient(double max_norm) override {
    DeviceGuard on(device_);
    cuda::launch_sum_squares(reduce_.get(), int64_t(n_grad_), norm_sq_.get(), kStream);
    double sq = 0;
    norm_sq_.download(&sq, 1);
    const double norm = std::sqrt(sq);
    if (max_norm > 0)
      if (const std::optional<float> scale = clip_scale(norm, max_norm))
        cuda::launch_scale(reduce_.get(), int64_t(n_grad_), *scale, kStream);
    return norm;
  }

  void optimizer_step(double lr) override {
    DeviceGuard on(device_);
    ++step_count_;
    cuda::launch_optimizer_step(optim_, lr, step_count_, params_.get(), reduce_.get(), exp_avg_.get(),
                                second_.get(), int64_t(n_grad_), kStream);
  }

  void evaluate_batch(const Batch& batch, double& loss_sum, double& correct) override {
    ELM_CHECK(loss_ != TaskLoss::Neuronio, "evaluate_batch: the neuronio task is evaluated by its own protocol");
    stage(batch);
    staged_ = false;
    DeviceGuard on(device_);
    forward_into_y();
    CUDA_CHECK(cudaMemsetAsync(sums_.get(), 0, 2 * sizeof(double), kStream));
    if (loss_ == TaskLoss::PairedCrossEntropy)
      cuda::launch_two_tower_head_eval(elm_->layout().head(), params_.get(), y_.get(), B_ / 2, T_, labels_.get(),
                                       sums_.get(), kStream);
    else
      cuda::launch_last_step_ce_eval(y_.get(), B_, T_, config_.num_output, labels_.get(), sums_.get(), kStream);
    double s[2];
    sums_.download(s, 2);
    loss_sum += s[0];
    correct += s[1];
  }

  void forward_outputs(const InputBatch& x, std::vector<float>& y) override {
    DeviceGuard on(device_);
    x.validate();
    elm_->upload_input(x);
    B_ = x.batch;
    T_ = x.steps;
    forward_into_y();
    y.resize(size_t(B_) * T_ * config_.num_output);
    y_.download(y.data(), y.size());
  }

 private:
  // y [B, T, d_o] of the uploaded input; sizes dy and the head's logits with it.
  void forward_into_y() {
    const size_t ny = size_t(B_) * T_ * config_.num_output;
    y_.reserve(ny);
    // dy is written only where the loss looks (the last step, or outputs 0-1
    // of NeuronIO): zeroed whenever its shape changes.
    if (dy_.reserve(ny) || ny != dy_shape_) {
      dy_.zero(ny);
      dy_shape_ = ny;
    }
    if (loss_ == TaskLoss::PairedCrossEntropy) logits_.reserve(size_t(B_ / 2) * elm_->layout().head().classes);
    elm_->forward(params_.get(), y_.get());
  }

  void upload_labels(const std::vector<int64_t>& labels) {
    const int classes = loss_ == TaskLoss::PairedCrossEntropy ? elm_->layout().head().classes : config_.num_output;
    const size_t expect = loss_ == TaskLoss::PairedCrossEntropy ? size_t(B_ / 2) : size_t(B_);
    ELM_CHECK(labels.size() == expect, "batch of ", B_, " rows has ", labels.size(), " labels, expected ", expect);
    labels32_.resize(labels.size());
    for (size_t i = 0; i < labels.size(); ++i) {
      // The kernels cannot throw: a bad label is caught here, as the CPU loss does.
      ELM_CHECK(labels[i] >= 0 && labels[i] < classes, "label ", labels[i], " of sample ", i, " is outside [0, ",
                classes, ")");
      labels32_[i] = int32_t(labels[i]);
    }
    labels_.upload(labels32_.data(), labels32_.size());
  }

  ElmConfig config_;
  TaskLoss loss_;
  OptimizerConfig optim_;
  int device_;
  DeviceComm* device_comm_;
  std::unique_ptr<CudaElm> elm_;
  size_t n_params_ = 0, n_grad_ = 0;
  int64_t step_count_ = 0;
  int B_ = 0, T_ = 0;
  bool staged_ = false;
  size_t dy_shape_ = 0;
  DeviceArray<float> params_, reduce_, exp_avg_, second_, y_, dy_, logits_, spike_, soma_;
  DeviceArray<int32_t> labels_;
  DeviceArray<double> sums_, norm_sq_;
  std::vector<int32_t> labels32_;
  std::vector<float> host_reduce_;
};

}  // namespace

int cuda_visible_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
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

std::unique_ptr<StepBackend> make_cuda_step_backend(const ElmConfig& config, const RoutingTable& routing,
                                                    TaskLoss loss, const OptimizerConfig& optim,
                                                    const StepBackendOptions& options) {
  return std::make_unique<CudaStepBackend>(config, routing, loss, optim, options);
}

}  // namespace elm
