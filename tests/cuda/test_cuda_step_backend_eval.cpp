// The CUDA StepBackend's evaluation and input checks against the CPU one:
//  - evaluate_batch (loss sum within 1e-4 relative, correct count exact: the
//    batches' logits are checked to be well separated, on the CPU) and
//    forward_outputs (within 1e-4 of the largest output, as test_cuda_vs_cpu);
//  - a label outside the classes, or NeuronIO targets of the wrong size, is
//    one ElmError from stage(), and the backend trains on afterwards;
//  - without a usable GPU, make_step_backend(cuda) is one line naming the key.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "backend/cpu/elm_cpu.hpp"
#include "core/error.hpp"
#include "step_backend_compare.hpp"
#include "test_support.hpp"
#include "train/two_tower.hpp"

namespace elm::test {
namespace {

// The smallest gap between the largest and second largest logit of any row,
// relative to the largest |logit|; the predictions of two fp32 backends agree
// when it is far above their difference.
double min_relative_margin(const std::vector<float>& logits, int rows, int classes) {
  double scale = 0, margin = INFINITY;
  for (float v : logits) scale = std::max(scale, double(std::abs(v)));
  for (int r = 0; r < rows; ++r) {
    std::vector<float> row(logits.begin() + size_t(r) * classes, logits.begin() + size_t(r + 1) * classes);
    std::partial_sort(row.begin(), row.begin() + 2, row.end(), std::greater<float>());
    margin = std::min(margin, double(row[0]) - row[1]);
  }
  return scale > 0 ? margin / scale : 0;
}

// What the correct counts are computed from, on the CPU.
std::vector<float> cpu_logits(const TaskCase& c, const ElmConfig& model, const ElmModel& m, const Batch& b, int& rows,
                              int& classes) {
  CpuElm<float> elm(model, m.routing, 1);
  if (c.loss == TaskLoss::PairedCrossEntropy) {
    TwoTowerElm<float> two(elm);
    two.forward(m.params.data(), b.x, b.labels);
    rows = int(b.labels.size());
    classes = two.classes();
    return two.logits();
  }
  const int B = b.x.batch, T = b.x.steps, C = model.num_output;
  std::vector<float> y(size_t(B) * T * C), last;
  elm.forward(m.params.data(), b.x, y.data());
  for (int r = 0; r < B; ++r)
    last.insert(last.end(), y.begin() + (size_t(r) * T + T - 1) * C, y.begin() + (size_t(r) * T + T) * C);
  rows = B;
  classes = C;
  return last;
}

constexpr double kMinMargin = 1e-2;  // 100x the bound on the outputs' difference

// Two batches of different sizes (the device buffers are resized in between).
std::vector<Batch> eval_batches(const TaskCase& c, const ElmConfig& model) {
  std::vector<Batch> v;
  v.push_back(task_batch(c, model, 8, 12, 400));
  v.push_back(task_batch(c, model, 5, 9, 401));
  return v;
}

const char* const kClassificationCases[] = {"ce_spikes", "ce_tokens", "ce_dense", "paired"};

TEST(StepBackendComparison, EvaluationBatchesAreWellSeparatedOnTheCpu) {
  for (const char* name : kClassificationCases) {
    const TaskCase& c = task_case(name);
    const ElmConfig model = task_model(c);
    const ElmModel m = random_model(model, 13);
    for (const Batch& b : eval_batches(c, model)) {
      int rows = 0, classes = 0;
      const std::vector<float> logits = cpu_logits(c, model, m, b, rows, classes);
      EXPECT_GE(min_relative_margin(logits, rows, classes), kMinMargin) << name << ", batch of " << rows;
    }
  }
}

TEST(CudaStepBackend, EvaluateBatchEqualsTheCpuBackend) {
  ELM_REQUIRE_GPU();
  for (const char* name : kClassificationCases) {
    const TaskCase& c = task_case(name);
    const ElmConfig model = task_model(c);
    const ElmModel m = random_model(model, 13);
    auto cpu = make_case_backend(BackendKind::Cpu, c, model, m, OptimizerConfig{});
    auto gpu = make_case_backend(BackendKind::Cuda, c, model, m, OptimizerConfig{});
    double loss_cpu = 0, correct_cpu = 0, loss_gpu = 0, correct_gpu = 0;
    for (const Batch& b : eval_batches(c, model)) {
      cpu->evaluate_batch(b, loss_cpu, correct_cpu);
      gpu->evaluate_batch(b, loss_gpu, correct_gpu);
      EXPECT_NEAR(loss_gpu, loss_cpu, 1e-4 * loss_cpu) << name;
      EXPECT_EQ(correct_gpu, correct_cpu) << name;
    }
    EXPECT_GT(correct_cpu, 0) << name;  // a count that is always 0 would say nothing
  }
}

TEST(CudaStepBackend, ForwardOutputsEqualTheCpuBackend) {
  ELM_REQUIRE_GPU();
  for (const TaskCase& c : task_cases()) {
    const ElmConfig model = task_model(c);
    const ElmModel m = random_model(model, 13);
    auto cpu = make_case_backend(BackendKind::Cpu, c, model, m, OptimizerConfig{});
    auto gpu = make_case_backend(BackendKind::Cuda, c, model, m, OptimizerConfig{});
    for (const Batch& b : eval_batches(c, model)) {
      std::vector<float> y_cpu, y_gpu;
      cpu->forward_outputs(b.x, y_cpu);
      gpu->forward_outputs(b.x, y_gpu);
      ASSERT_EQ(y_gpu.size(), y_cpu.size()) << c.name;
      double scale = 0, worst = 0;
      for (size_t i = 0; i < y_cpu.size(); ++i) {
        scale = std::max(scale, double(std::abs(y_cpu[i])));
        const double e = std::abs(double(y_gpu[i]) - y_cpu[i]);
        worst = std::isnan(e) ? INFINITY : std::max(worst, e);
      }
      EXPECT_GT(scale, 0) << c.name;
      EXPECT_LE(worst, 1e-4 * scale) << c.name << ": largest output difference";
    }
  }
}

TEST(CudaStepBackend, BadTargetsAreOneErrorAndTrainingGoesOn) {
  ELM_REQUIRE_GPU();
  for (const TaskCase& c : task_cases()) {
    const ElmConfig model = task_model(c);
    const ElmModel m = random_model(model, 3);
    auto gpu = make_case_backend(BackendKind::Cuda, c, model, m, OptimizerConfig{});
    auto cpu = make_case_backend(BackendKind::Cpu, c, model, m, OptimizerConfig{});
    const Batch good = task_batch(c, model, 4, 10, 500);
    std::vector<Batch> bad;
    if (c.loss == TaskLoss::Neuronio) {
      bad.push_back(good);
      bad.back().target_soma.pop_back();
    } else {
      const int classes = c.loss == TaskLoss::PairedCrossEntropy ? model.head_classes : model.num_output;
      for (int64_t label : {int64_t(classes), int64_t(-1)}) {
        bad.push_back(good);
        bad.back().labels[1] = label;
      }
    }
    for (const Batch& b : bad) {
      const std::string msg = expect_one_line_elm_error([&] { gpu->stage(b); });
      EXPECT_NE(msg.find(c.loss == TaskLoss::Neuronio ? "targets" : "label"), std::string::npos)
          << c.name << ": " << msg;
      EXPECT_THROW(gpu->forward_backward(), ElmError) << c.name << ": a refused batch must not stay staged";
    }
    SerialComm serial;
    const StepResult rc = train_step(*cpu, good, serial, {1e-3, 0, nullptr});
    const StepResult rg = train_step(*gpu, good, serial, {1e-3, 0, nullptr});
    expect_same_step_result(rg, rc, c.name + ", the step after the refused batches");
  }
}

TEST(CudaNoDevice, StepBackendFailsWithOneLineNamingTheKey) {
  std::string why;
  if (cuda_device_usable(&why)) GTEST_SKIP() << "a GPU is present: the no-device path is not reachable";
  const TaskCase& c = task_case("ce_spikes");
  const ElmConfig model = task_model(c);
  const ElmModel m = ElmModel::initialized(model, 1);
  StepBackendOptions o;
  o.kind = BackendKind::Cuda;
  const std::string msg =
      expect_one_line_elm_error([&] { make_step_backend(model, m.routing, c.loss, OptimizerConfig{}, o); });
  EXPECT_NE(msg.find("train.backend = cuda"), std::string::npos) << msg;
  const std::string usable = expect_one_line_elm_error([&] { require_backend_usable(o); });
  EXPECT_EQ(usable, msg);
}

}  // namespace
}  // namespace elm::test
