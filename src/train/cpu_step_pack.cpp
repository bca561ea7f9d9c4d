#include "train/cpu_step_pack.hpp"

#include "core/error.hpp"

namespace elm {

CpuStepBackend& CpuStepPack::add_member(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss,
                                        const OptimizerConfig& optim) {
  ELM_CHECK(!kernels_, "CpuStepPack: members are added before the first step");
  ELM_CHECK(loss != TaskLoss::PairedCrossEntropy, "CpuStepPack: two-tower runs do not pack");
  ELM_CHECK(size() < CpuElmPack::max_models(), "CpuStepPack: at most ", CpuElmPack::max_models(), " runs per pack");
  members_.push_back(std::make_unique<CpuStepBackend>(config, routing, loss, optim, threads_));
  configs_.push_back(config);
  routings_.push_back(routing);
  return *members_.back();
}

std::string CpuStepPack::description() const {
  return members_.empty() ? "empty pack"
                          : members_.front()->description() + ", " + std::to_string(size()) + " runs packed";
}

void CpuStepPack::forward_backward(std::span<const int> members) {
  if (!kernels_) kernels_ = std::make_unique<CpuElmPack>(configs_, routings_, threads_, members_.front()->isa());
  const size_t n = members.size();
  std::vector<const Batch*> batches(n);
  std::vector<const float*> params(n), dy(n);
  std::vector<const InputBatch*> x(n);
  std::vector<float*> y(n), grad(n);
  for (size_t i = 0; i < n; ++i) {
    CpuStepBackend& m = member(members[i]);
    const Batch& b = m.take_staged();
    ELM_CHECK(i == 0 || (b.x.batch == batches[0]->x.batch && b.x.steps == batches[0]->x.steps),
              "CpuStepPack: the runs of a pack need batches of one shape");
    batches[i] = &b;
    m.y_.resize(size_t(b.x.batch) * b.x.steps * m.elm_.config().num_output);
    m.dy_.resize(m.y_.size());
    params[i] = m.params_.data();
    x[i] = &b.x;
    y[i] = m.y_.data();
    dy[i] = m.dy_.data();
    grad[i] = m.reduce_buffer_.data();
  }
  kernels_->forward_loss_backward(members, params, x, y, dy, grad, [&](size_t i) {
    CpuStepBackend& m = member(members[i]);
    m.local_loss_ = m.output_loss(*batches[i]);
  });
}

}  // namespace elm
