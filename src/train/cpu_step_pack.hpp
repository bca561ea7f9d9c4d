#pragma once
// Many runs' CpuStepBackends whose forward and backward run as one packed
// pass (CpuElmPack): each member keeps its own parameters, gradient, optimizer
// and loss, and the rest of its step (all-reduce, clipping, optimizer,
// evaluation) goes through the member as for a run trained alone. Per member
// the arithmetic is bitwise that of a CpuStepBackend on its own.
#include <memory>
#include <span>
#include <vector>

#include "backend/cpu/elm_cpu_pack.hpp"
#include "train/cpu_step_backend.hpp"
#include "train/step_pack.hpp"

namespace elm {

class CpuStepPack final : public StepPack {
 public:
  explicit CpuStepPack(int threads) : threads_(threads) {}
  CpuStepBackend& add_member(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss,
                             const OptimizerConfig& optim) override;
  int size() const override { return int(members_.size()); }
  CpuStepBackend& member(int i) override { return *members_.at(size_t(i)); }
  std::string description() const override;
  void forward_backward(std::span<const int> members) override;

 private:
  int threads_;
  std::vector<std::unique_ptr<CpuStepBackend>> members_;
  std::vector<ElmConfig> configs_;
  std::vector<RoutingTable> routings_;
  std::unique_ptr<CpuElmPack> kernels_;
};

}  // namespace elm
