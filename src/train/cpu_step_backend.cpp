#include "train/cpu_step_backend.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "train/classification_metrics.hpp"
#include "train/grad_clip.hpp"
#include "train/loss.hpp"

namespace elm {

CpuStepBackend::CpuStepBackend(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss,
                               const OptimizerConfig& optim, int threads)
    : elm_(config, routing, threads),
      loss_(loss),
      threads_(threads),
      n_grad_(size_t(elm_.layout().num_trainable())),
      opt_(make_optimizer(optim)),
      params_(size_t(elm_.layout().num_params()), 0.0f),
      reduce_buffer_(n_grad_ + 2) {
  if (loss == TaskLoss::PairedCrossEntropy) two_tower_ = std::make_unique<TwoTowerElm<float>>(elm_);
}

std::string CpuStepBackend::description() const {
  return "cpu kernels " + std::string(cpu_isa_name(elm_.isa())) + ", " + std::to_string(threads_) + " thread(s)";
}

void CpuStepBackend::set_params(std::span<const float> params) {
  ELM_CHECK(params.size() == params_.size(), "set_params: ", params.size(), " values for ", params_.size(),
            " parameters");
  std::copy(params.begin(), params.end(), params_.begin());
}

void CpuStepBackend::get_params(std::span<float> params) {
  ELM_CHECK(params.size() == params_.size(), "get_params: room for ", params.size(), " values, not ",
            params_.size());
  std::copy(params_.begin(), params_.end(), params.begin());
}

void CpuStepBackend::set_optimizer_state(const Optimizer& state) {
  opt_->set_step_count(state.step_count());
  for (size_t i = 0; i < Optimizer::num_state_buffers(); ++i) opt_->state_buffer(i) = state.state_buffer(i);
}

void CpuStepBackend::get_optimizer_state(Optimizer& state) {
  state.set_step_count(opt_->step_count());
  for (size_t i = 0; i < Optimizer::num_state_buffers(); ++i) state.state_buffer(i) = opt_->state_buffer(i);
}

const Batch& CpuStepBackend::take_staged() {
  ELM_CHECK(!staged_.empty(), "forward_backward() without a staged batch");
  const Batch& batch = *staged_.front();
  staged_.pop_front();
  return batch;
}

double CpuStepBackend::output_loss(const Batch& batch) {
  const int B = batch.x.batch, T = batch.x.steps, C = elm_.config().num_output;
  return loss_ == TaskLoss::Neuronio
             ? neuronio_loss(y_.data(), B, T, C, batch.target_spike.data(), batch.target_soma.data(), dy_.data())
             : last_step_cross_entropy(y_.data(), B, T, C, batch.labels.data(), dy_.data());
}

void CpuStepBackend::forward_backward() {
  const Batch& batch = take_staged();
  float* grad = reduce_buffer_.data();
  if (two_tower_) {
    local_loss_ = two_tower_->forward(params_.data(), batch.x, batch.labels);
    two_tower_->backward(grad);
    return;
  }
  const int B = batch.x.batch, T = batch.x.steps, C = elm_.config().num_output;
  y_.resize(size_t(B) * T * C);
  dy_.resize(y_.size());
  elm_.forward(params_.data(), batch.x, y_.data());
  local_loss_ = output_loss(batch);
  elm_.backward(dy_.data(), grad);
}

ReducedStep CpuStepBackend::reduce(Comm& comm, bool want_stop) {
  reduce_buffer_[n_grad_] = float(local_loss_);
  reduce_buffer_[n_grad_ + 1] = want_stop ? 1.0f : 0.0f;
  allreduce_step(comm, reduce_buffer_, n_grad_);
  return {double(reduce_buffer_[n_grad_]), reduce_buffer_[n_grad_ + 1] > 0};
}

double CpuStepBackend::clip_gradient(double max_norm) {
  return max_norm > 0 ? clip_grad_norm(gradient(), max_norm) : grad_norm(gradient());
}

void CpuStepBackend::optimizer_step(double lr) {
  opt_->step(std::span<float>(params_.data(), n_grad_), gradient(), lr);
}

void CpuStepBackend::evaluate_batch(const Batch& batch, double& loss_sum, double& correct) {
  if (two_tower_) {
    const int pairs = int(batch.labels.size());
    loss_sum += double(two_tower_->forward(params_.data(), batch.x, batch.labels)) * pairs;
    correct += double(count_correct(two_tower_->logits(), batch.labels, size_t(two_tower_->classes())));
    return;
  }
  ELM_CHECK(loss_ == TaskLoss::LastStepCrossEntropy, "evaluate_batch: the ", to_string(loss_),
            " task is evaluated by its own protocol");
  const int B = batch.x.batch, T = batch.x.steps, C = elm_.config().num_output;
  y_.resize(size_t(B) * T * C);
  dy_.resize(y_.size());
  elm_.forward(params_.data(), batch.x, y_.data());
  loss_sum += double(last_step_cross_entropy(y_.data(), B, T, C, batch.labels.data(), dy_.data())) * B;
  last_.resize(size_t(B) * C);
  for (int b = 0; b < B; ++b) std::copy_n(y_.data() + (size_t(b) * T + T - 1) * C, C, last_.data() + size_t(b) * C);
  correct += double(count_correct(last_, batch.labels, size_t(C)));
}

void CpuStepBackend::forward_outputs(const InputBatch& x, std::vector<float>& y) {
  y.resize(size_t(x.batch) * x.steps * elm_.config().num_output);
  elm_.forward(params_.data(), x, y.data());
}

}  // namespace elm
