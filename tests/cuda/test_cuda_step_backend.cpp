// The CUDA StepBackend against the CPU one, both through train_step with a
// SerialComm, from the same parameters on the same batches:
//  - every task kind (last-step cross-entropy on spikes, tokens and dense
//    input; NeuronIO; paired two-tower): loss, gradient norm, the gradient
//    (through the optimizer's moments) and the parameters after one step and
//    after three (step_backend_compare.hpp says how parameters are compared);
//  - Adam, AdamW and Adamax with weight decay and active clipping;
//  - a checkpoint taken on one backend (get_params, get_optimizer_state)
//    resumes on the other: the next step agrees with the same step taken on
//    a fresh backend of the first kind and with the uninterrupted run.
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "core/rng.hpp"
#include "step_backend_compare.hpp"

namespace elm::test {
namespace {

constexpr int kBatch = 4, kSteps = 12;
constexpr std::array<double, 3> kLr = {1e-3, 8e-4, 6e-4};

StepResult one_step(StepBackend& b, const Batch& batch, double lr, double clip) {
  SerialComm serial;
  return train_step(b, batch, serial, {lr, clip, nullptr});
}

// Three steps on the CPU backend and on one of `kind`; compares after the
// first and after the third. With kind Cpu it checks the comparison's own
// premises (clipping active, enough well-determined parameters) on any
// machine; `perturb` then multiplies the second backend's trainable
// parameters by 1 + perturb * N(0, 1), a difference of rounding size.
void expect_three_steps_agree(const TaskCase& c, const OptimizerConfig& oc, double clip,
                              BackendKind kind = BackendKind::Cuda, double perturb = 0) {
  const ElmConfig model = task_model(c);
  const ElmModel m = random_model(model, 7);
  ElmModel m2 = m;
  RngStream rng(1, 2);
  for (int64_t i = 0; i < m.layout.num_trainable() && perturb > 0; ++i)
    m2.params[i] *= float(1 + perturb * rng.normal());
  auto cpu = make_case_backend(BackendKind::Cpu, c, model, m, oc);
  auto gpu = make_case_backend(kind, c, model, m2, oc);
  const size_t n_grad = size_t(cpu->layout().num_trainable());
  ASSERT_EQ(gpu->layout().num_params(), cpu->layout().num_params());
  double lr_sum = 0;
  for (size_t s = 0; s < kLr.size(); ++s) {
    const std::string what = c.name + " " + oc.kind + " step " + std::to_string(s + 1);
    const Batch batch = task_batch(c, model, kBatch, kSteps, 100 + s);
    const StepResult rc = one_step(*cpu, batch, kLr[s], clip);
    const StepResult rg = one_step(*gpu, batch, kLr[s], clip);
    ASSERT_TRUE(rc.updated) << what;
    if (clip > 0) ASSERT_GT(rc.grad_norm, clip) << what << ": the clipping path is not exercised";
    expect_same_step_result(rg, rc, what);
    lr_sum += kLr[s];
    if (s == 0 || s + 1 == kLr.size()) {
      // After three steps the parameters differ already, so the gradients do more.
      StateTolerance tol;
      if (s > 0) tol.moment = 1e-3;
      expect_same_state(m.params, snapshot(*gpu, oc), snapshot(*cpu, oc), n_grad, lr_sum, tol, what, &m2.params);
    }
  }
}

class CudaStepBackendTask : public testing::TestWithParam<TaskCase> {};

TEST_P(CudaStepBackendTask, TrainStepsEqualTheCpuBackend) {
  ELM_REQUIRE_GPU();
  expect_three_steps_agree(GetParam(), OptimizerConfig{}, 0);
}

INSTANTIATE_TEST_SUITE_P(Tasks, CudaStepBackendTask, testing::ValuesIn(task_cases()),
                         [](const auto& info) { return info.param.name; });

class CudaStepBackendOptimizer : public testing::TestWithParam<const char*> {};

TEST_P(CudaStepBackendOptimizer, WeightDecayAndClippingEqualTheCpuBackend) {
  ELM_REQUIRE_GPU();
  OptimizerConfig oc;
  oc.kind = GetParam();
  oc.weight_decay = 0.1;  // AdamW's decay moves a parameter by lr * 0.1 * p: a visible part of a step
  expect_three_steps_agree(task_case("ce_spikes"), oc, 1e-2);
  expect_three_steps_agree(task_case("paired"), oc, 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, CudaStepBackendOptimizer, testing::Values("adam", "adamw", "adamax"),
                         [](const auto& info) { return std::string(info.param); });

// Host: the comparisons above pass between two CPU backends (their premises
// hold for these models and batches), and fail for a step that lost AdamW's
// weight decay, which moves each parameter by only lr * 0.1 * |p|.
TEST(StepBackendComparison, PremisesHoldAndALostWeightDecayIsSeenOnTheCpu) {
  for (const TaskCase& c : task_cases()) expect_three_steps_agree(c, OptimizerConfig{}, 0, BackendKind::Cpu);
  OptimizerConfig oc;
  oc.kind = "adamw";
  oc.weight_decay = 0.1;
  for (const char* name : {"ce_spikes", "paired"}) {
    const TaskCase& c = task_case(name);
    expect_three_steps_agree(c, oc, 1e-2, BackendKind::Cpu);
    const ElmConfig model = task_model(c);
    const ElmModel m = random_model(model, 7);
    OptimizerConfig no_decay = oc;
    no_decay.weight_decay = 0;
    auto ref = make_case_backend(BackendKind::Cpu, c, model, m, oc);
    auto lost = make_case_backend(BackendKind::Cpu, c, model, m, no_decay);
    const Batch batch = task_batch(c, model, kBatch, kSteps, 100);
    one_step(*ref, batch, kLr[0], 1e-2);
    one_step(*lost, batch, kLr[0], 1e-2);
    const StateDifference d = state_difference(m.params, snapshot(*lost, oc), snapshot(*ref, oc),
                                               size_t(ref->layout().num_trainable()), kLr[0]);
    EXPECT_GT(d.tight, StateTolerance{}.tight) << name;
  }
}

// Host: two CPU runs from parameters that differ by rounding (about 8 ulp)
// pass the comparisons: the tolerances leave room for the GPU's other
// summation orders, which differ by as little.
TEST(StepBackendComparison, RoundingSizedDifferencesPassOnTheCpu) {
  for (const TaskCase& c : task_cases()) expect_three_steps_agree(c, OptimizerConfig{}, 0, BackendKind::Cpu, 1e-6);
  OptimizerConfig oc;
  oc.kind = "adamax";
  oc.weight_decay = 0.1;
  expect_three_steps_agree(task_case("paired"), oc, 1e-2, BackendKind::Cpu, 1e-6);
}

// Three steps on `from`, a checkpoint, then the fourth step on a fresh backend
// of each kind resumed from it and on the uninterrupted one.
void expect_checkpoint_resumes(BackendKind from, const TaskCase& c) {
  const BackendKind to = from == BackendKind::Cuda ? BackendKind::Cpu : BackendKind::Cuda;
  const std::string what = c.name + " checkpoint " + to_string(from) + " -> " + to_string(to);
  OptimizerConfig oc;
  oc.kind = "adamw";
  oc.weight_decay = 0.1;
  const double clip = 1e-2;
  const ElmConfig model = task_model(c);
  const ElmModel m = random_model(model, 11);
  auto first = make_case_backend(from, c, model, m, oc);
  for (size_t s = 0; s < kLr.size(); ++s)
    ASSERT_TRUE(one_step(*first, task_batch(c, model, kBatch, kSteps, 200 + s), kLr[s], clip).updated);
  const BackendSnapshot checkpoint = snapshot(*first, oc);
  ASSERT_EQ(checkpoint.opt->step_count(), 3);

  auto same_kind = make_case_backend(from, c, model, m, oc);
  auto other_kind = make_case_backend(to, c, model, m, oc);
  restore(*same_kind, checkpoint);
  restore(*other_kind, checkpoint);
  // The checkpoint reads back as it was written, on either kind.
  const BackendSnapshot back = snapshot(*other_kind, oc);
  EXPECT_EQ(back.params, checkpoint.params) << what;
  EXPECT_EQ(back.opt->step_count(), 3) << what;
  for (size_t k = 0; k < 2; ++k) EXPECT_EQ(back.opt->state_buffer(k), checkpoint.opt->state_buffer(k)) << what;

  const Batch next = task_batch(c, model, kBatch, kSteps, 300);
  const double lr = 5e-4;
  const StepResult r_first = one_step(*first, next, lr, clip);
  const StepResult r_same = one_step(*same_kind, next, lr, clip);
  const StepResult r_other = one_step(*other_kind, next, lr, clip);
  ASSERT_TRUE(r_first.updated) << what;
  ASSERT_GT(r_first.grad_norm, clip) << what << ": the clipping path is not exercised";
  const size_t n_grad = size_t(first->layout().num_trainable());
  const BackendSnapshot s_first = snapshot(*first, oc), s_same = snapshot(*same_kind, oc),
                        s_other = snapshot(*other_kind, oc);
  // The CPU side is the reference of each comparison.
  const bool other_is_gpu = to == BackendKind::Cuda;
  expect_same_step_result(other_is_gpu ? r_other : r_same, other_is_gpu ? r_same : r_other, what);
  expect_same_state(checkpoint.params, other_is_gpu ? s_other : s_same, other_is_gpu ? s_same : s_other, n_grad, lr,
                    StateTolerance{}, what + ", resumed on both kinds");
  // Resuming changes nothing against the uninterrupted run on the same kind.
  expect_same_step_result(r_same, r_first, what + ", resumed vs uninterrupted");
  expect_same_state(checkpoint.params, s_same, s_first, n_grad, lr, StateTolerance{},
                    what + ", resumed vs uninterrupted");
}

TEST(CudaStepBackend, GpuCheckpointResumesOnTheCpu) {
  ELM_REQUIRE_GPU();
  expect_checkpoint_resumes(BackendKind::Cuda, task_case("ce_tokens"));
  expect_checkpoint_resumes(BackendKind::Cuda, task_case("paired"));
}

TEST(CudaStepBackend, CpuCheckpointResumesOnTheGpu) {
  ELM_REQUIRE_GPU();
  expect_checkpoint_resumes(BackendKind::Cpu, task_case("ce_tokens"));
  expect_checkpoint_resumes(BackendKind::Cpu, task_case("neuronio"));
}

}  // namespace
}  // namespace elm::test
