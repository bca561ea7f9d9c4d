#pragma once
// The StepBackend on the host: CpuElm<float> (and the two-tower model for
// paired tasks), the CPU losses, clip_grad_norm and the Optimizer, in exactly
// the order and arithmetic of the CPU reference.
#include <deque>
#include <memory>

#include "backend/cpu/elm_cpu.hpp"
#include "train/step_backend.hpp"
#include "train/two_tower.hpp"

namespace elm {

class CpuStepBackend final : public StepBackend {
 public:
  CpuStepBackend(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss, const OptimizerConfig& optim,
                 int threads);

  BackendKind kind() const override { return BackendKind::Cpu; }
  std::string description() const override;
  const ParamLayout& layout() const override { return elm_.layout(); }
  CpuIsa isa() const { return elm_.isa(); }
  bool uses_branch_traces() const { return elm_.uses_branch_traces(); }

  void set_params(std::span<const float> params) override;
  void get_params(std::span<float> params) override;
  void set_optimizer_state(const Optimizer& state) override;
  void get_optimizer_state(Optimizer& state) override;

  void stage(const Batch& batch) override { staged_.push_back(&batch); }
  bool has_staged() const override { return !staged_.empty(); }
  void forward_backward() override;
  ReducedStep reduce(Comm& comm, bool want_stop) override;
  double clip_gradient(double max_norm) override;
  void optimizer_step(double lr) override;

  void evaluate_batch(const Batch& batch, double& loss_sum, double& correct) override;
  void forward_outputs(const InputBatch& x, std::vector<float>& y) override;

 private:
  friend class CpuStepPack;  // runs the forward and backward of many of these in one pass
  const Batch& take_staged();
  // The task's loss of y_ for `batch`, with dL/dy in dy_ (y_ and dy_ sized).
  double output_loss(const Batch& batch);
  std::span<float> gradient() { return std::span<float>(reduce_buffer_.data(), n_grad_); }

  CpuElm<float> elm_;
  TaskLoss loss_;
  int threads_;
  size_t n_grad_;
  std::unique_ptr<TwoTowerElm<float>> two_tower_;  // paired tasks
  std::unique_ptr<Optimizer> opt_;
  std::vector<float> params_;
  // The gradient, then this rank's loss and stop flag: one all-reduce per step.
  std::vector<float> reduce_buffer_;
  std::vector<float> y_, dy_, last_;
  std::deque<const Batch*> staged_;
  double local_loss_ = 0;
};

}  // namespace elm
