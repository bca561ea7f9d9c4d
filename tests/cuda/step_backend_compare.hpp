#pragma once
// Shared by the tests of the CUDA StepBackend against the CPU one: a small
// model and batch of every task kind, host snapshots of a backend, and the
// comparison of two backends' state after the same training steps.
//
// Why parameters are compared the way they are: an Adam-family step moves a
// parameter by about lr * m / sqrt(v), which for a gradient far above eps is
// nearly lr * sign(g) whatever its size. Where |g| is tiny next to the largest
// entry, two correct fp32 gradients (CPU and GPU sum in different orders) may
// differ in sign, and so the steps by up to a few lr: there only that bound
// holds. Where the second moment is not small next to its largest entry the
// step is insensitive to rounding, and two correct backends agree to a small
// fraction of lr: there a wrong sign, a lost weight decay or a stale gradient
// shows. The gradients themselves are compared through the optimizer's first
// and second moments, relative to their largest entry, as the golden tests do.
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "data/task.hpp"
#include "train/step_backend.hpp"
#include "train/train_step.hpp"

namespace elm::test {

struct TaskCase {
  std::string name;
  TaskLoss loss = TaskLoss::LastStepCrossEntropy;
  Kind input = Kind::Spikes;
};
std::ostream& operator<<(std::ostream& os, const TaskCase& c);

// Last-step cross-entropy on spikes, tokens and dense input; NeuronIO (its
// routing, learned memory tau); paired two-tower with a head.
const std::vector<TaskCase>& task_cases();
const TaskCase& task_case(const std::string& name);
ElmConfig task_model(const TaskCase& c);
// B samples of T steps (paired: B pairs, 2B tower rows), with the targets of the case's loss.
Batch task_batch(const TaskCase& c, const ElmConfig& model, int B, int T, uint64_t seed);

// A backend of `kind` for the case, its parameters set from `params`.
std::unique_ptr<StepBackend> make_case_backend(BackendKind kind, const TaskCase& c, const ElmConfig& model,
                                               const ElmModel& m, const OptimizerConfig& oc,
                                               DeviceComm* device_comm = nullptr);

// The host copies a checkpoint keeps.
struct BackendSnapshot {
  std::vector<float> params;
  std::unique_ptr<Optimizer> opt;
};
BackendSnapshot snapshot(StepBackend& b, const OptimizerConfig& oc);
void restore(StepBackend& b, const BackendSnapshot& s);

// How far `got` is from `ref` after the same steps from parameters `before`
// (`got_before`, where given, for got: runs that started apart).
struct StateDifference {
  double moment[2] = {0, 0};    // max |got - ref| / max |ref| of each optimizer buffer
  double tight = 0;             // max |step got - step ref| / lr_sum where the step is well determined
  double loose = 0;             // the same over every trainable parameter
  double tight_fraction = 0;    // share of the trainable parameters that are well determined
  bool fixed_unchanged = true;  // the non-trainable parameters are as they were, in both
};
StateDifference state_difference(const std::vector<float>& before, const BackendSnapshot& got,
                                 const BackendSnapshot& ref, size_t n_grad, double lr_sum,
                                 const std::vector<float>* got_before = nullptr);

struct StateTolerance {
  double moment = 2e-4;             // of the largest entry (gradients: 1e-4 in test_cuda_vs_cpu, squared for v)
  double tight = 1e-2;              // of the summed learning rates
  double loose = 4.0;               // an Adam step is at most a few lr
  double min_tight_fraction = 0.2;  // else the tight check would say little
};
void expect_same_state(const std::vector<float>& before, const BackendSnapshot& got, const BackendSnapshot& ref,
                       size_t n_grad, double lr_sum, const StateTolerance& tol, const std::string& what,
                       const std::vector<float>* got_before = nullptr);

// Loss and gradient norm of one step: relative 1e-4 (fp32 forwards differ by
// ~1e-4 of the largest output at most), same update decision and stop flag.
void expect_same_step_result(const StepResult& got, const StepResult& ref, const std::string& what);

}  // namespace elm::test
