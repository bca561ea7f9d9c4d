#pragma once
// The runs of a pack (train/pack_trainer.hpp) as the trainer drives them: one
// StepBackend per run, each with its own parameters, gradient, optimizer and
// loss, and one call that runs the forward, loss and backward of the listed
// members together. Everything else of a step (all-reduce, clipping,
// optimizer, evaluation) goes through each member as for a run alone.
//
// Three kinds: CpuStepPack (one packed pass of the CPU kernels,
// cpu_step_pack.hpp); on the GPU, the pack of make_cuda_step_pack
// (cuda_step_backend.hpp), whose members' recurrences run as one launch with
// a model index; and QueuedStepPack, which queues each member's step in turn,
// every GPU member on its own stream, so that the members' kernels fill the
// device together (kept to compare against: bench --backend cuda --pack-mode).
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"

#include "train/step_backend.hpp"

namespace elm {

// 64 small models' kernels fill an H100's SMs; more would only queue.
inline constexpr int kMaxGpuPackMembers = 64;

// A GPU pack (QueuedStepPack, make_cuda_step_pack) takes a new member:
// refuses two-tower runs and more than kMaxGpuPackMembers, appends make(),
// and has every member ask room for the whole pack (they allocate at their
// first step, after every run has checked that it fits).
template <class Backend, class Make>
Backend& add_gpu_pack_member(std::vector<std::unique_ptr<Backend>>& members, TaskLoss loss, Make make) {
  ELM_CHECK(loss != TaskLoss::PairedCrossEntropy, "a GPU pack: two-tower runs do not pack");
  ELM_CHECK(members.size() < size_t(kMaxGpuPackMembers), "a GPU pack holds at most ", kMaxGpuPackMembers, " runs");
  members.push_back(make());
  for (auto& m : members) m->share_device_with(int(members.size()));
  return *members.back();
}

class StepPack {
 public:
  virtual ~StepPack() = default;
  // A member for a model of the first member's shape; members are added
  // before the first forward_backward.
  virtual StepBackend& add_member(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss,
                                  const OptimizerConfig& optim) = 0;
  virtual int size() const = 0;
  virtual StepBackend& member(int i) = 0;
  virtual std::string description() const = 0;
  // For each listed member (ascending): forward, its loss and backward on its
  // oldest staged batch, as its forward_backward() would.
  virtual void forward_backward(std::span<const int> members) = 0;
};

class QueuedStepPack final : public StepPack {
 public:
  explicit QueuedStepPack(const StepBackendOptions& options) : options_(options) {}
  StepBackend& add_member(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss,
                          const OptimizerConfig& optim) override;
  int size() const override { return int(members_.size()); }
  StepBackend& member(int i) override { return *members_.at(size_t(i)); }
  std::string description() const override;
  void forward_backward(std::span<const int> members) override;

 private:
  StepBackendOptions options_;
  std::vector<std::unique_ptr<StepBackend>> members_;
};

// Asks the CUDA driver for 32 hardware work queues (CUDA_DEVICE_MAX_CONNECTIONS,
// unless set); call before the first CUDA call of the process. The members of
// a GPU pack each queue on their own stream, and with the driver's default of
// 8 queues streams 8 apart would wait on each other's kernels. Only packs ask:
// under MPS each queue takes a share of the GPU's pool of connections.
void request_queues_for_gpu_packs();

// The pack for runs that train on `options` (CPU: CpuStepPack, GPU: the
// model-index pack of make_cuda_step_pack; in a build without CUDA, a
// QueuedStepPack whose first member says that CUDA is missing).
std::unique_ptr<StepPack> make_step_pack(const StepBackendOptions& options);

}  // namespace elm
