#pragma once
// Where a training step runs. The trainer, the evaluator and every bench drive
// the model through this one interface; each implementation owns where the
// parameters, the gradient (with the step's loss and stop flag in two extra
// slots: one all-reduce per step), the optimizer state and the activations
// live. CpuStepBackend keeps them in host memory (exactly the CPU reference's
// arithmetic); CudaStepBackend keeps them on one GPU, and the host sees the
// parameters and optimizer state only when it asks for them (checkpoints,
// cross-rank checksums), in the same flat layout, so a run checkpointed on one
// backend resumes on the other.
//
// The task decides the loss (Task::loss()); the backend computes it.
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/task.hpp"
#include "dist/comm.hpp"
#include "model/elm_config.hpp"
#include "model/param_layout.hpp"
#include "model/synapse_routing.hpp"
#include "train/optimizer.hpp"

namespace elm {

enum class BackendKind { Cpu, Cuda };
// "cpu" | "cuda"; anything else is one line naming config key 'train.backend'.
BackendKind parse_backend_kind(std::string_view name);
const char* to_string(BackendKind kind);

class DeviceComm;

struct StepBackendOptions {
  BackendKind kind = BackendKind::Cpu;
  int threads = 1;                    // cpu: OpenMP threads of the kernels
  int device = 0;                     // cuda: the GPU this process drives
  DeviceComm* device_comm = nullptr;  // cuda: the ranks' all-reduce on device buffers (NCCL); nullptr: through the host Comm
};

// The scalars of a step after the all-reduce.
struct ReducedStep {
  double loss_sum = 0;  // the ranks' losses summed
  bool stop = false;    // some rank wants to stop
};

class StepBackend {
 public:
  virtual ~StepBackend() = default;
  virtual BackendKind kind() const = 0;
  // For the run's first log line: "cpu kernels avx512, 2 thread(s)", "cuda NVIDIA H200 (sm_90, ...)".
  virtual std::string description() const = 0;
  // The device's plan of the last forward for benches (CUDA: "segments=...
  // group=... blocks=..."); empty where there is none.
  virtual std::string plan_description() const { return ""; }
  virtual const ParamLayout& layout() const = 0;

  // Host copies of the whole flat parameter buffer [layout().num_params()]
  // and of the optimizer (step count and state buffers, as checkpoints keep them).
  virtual void set_params(std::span<const float> params) = 0;
  virtual void get_params(std::span<float> params) = 0;
  virtual void set_optimizer_state(const Optimizer& state) = 0;
  virtual void get_optimizer_state(Optimizer& state) = 0;

  // The parts of one training step, in train_step's order.
  // Queues a batch for forward_backward; it must stay valid until the
  // forward_backward that consumes it returns (a device backend copies it).
  virtual void stage(const Batch& batch) = 0;
  virtual bool has_staged() const = 0;
  // Forward, the task's loss and backward on the oldest staged batch: this
  // rank's gradient, and its loss for reduce().
  virtual void forward_backward() = 0;
  // One all-reduce over `comm`'s ranks: the gradient becomes the mean, the
  // losses and stop flags are summed.
  virtual ReducedStep reduce(Comm& comm, bool want_stop) = 0;
  // The gradient's L2 norm before clipping; scales it as clip_grad_norm does
  // when max_norm > 0 and the norm is finite.
  virtual double clip_gradient(double max_norm) = 0;
  virtual void optimizer_step(double lr) = 0;

  // Evaluation with the current parameters. Classification (last-step or
  // paired): adds the batch's summed loss and number of correct predictions.
  virtual void evaluate_batch(const Batch& batch, double& loss_sum, double& correct) = 0;
  // The model's outputs y [B, T, d_o] on the host (the NeuronIO protocol).
  virtual void forward_outputs(const InputBatch& x, std::vector<float>& y) = 0;

  // One line (ElmError) when a training step on batches like `batch` cannot
  // fit where the backend computes (a GPU's free memory); nothing on the CPU.
  virtual void require_fits(const Batch& batch) { (void)batch; }
  // This backend will share its device with `runs` - 1 others of its size (a
  // pack, train/step_pack.hpp): require_fits asks room for all of them.
  virtual void share_device_with(int runs) { (void)runs; }
};

// Throws one line saying why `options` cannot run in this process (a build
// without CUDA, no driver, no device, a device this build has no code for);
// touches no file, so callers check before they write anything.
void require_backend_usable(const StepBackendOptions& options);

// A backend for a model of this config and routing, trained with `optim` on
// a task with this loss (num_classes: the paired head's classes). Parameters
// start as zeros: set_params() before the first step. A CUDA backend without
// a usable GPU, or in a build without CUDA, is one line saying why (ElmError).
std::unique_ptr<StepBackend> make_step_backend(const ElmConfig& config, const RoutingTable& routing, TaskLoss loss,
                                               const OptimizerConfig& optim, const StepBackendOptions& options);

}  // namespace elm
