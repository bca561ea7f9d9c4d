// The training seam on the CPU: train_step through CpuStepBackend computes
// bit for bit what the CPU reference's step computes when written out by hand
// (CpuElm forward, the task's loss, backward, clipping, Optimizer), for every
// loss kind; the optimizer state and parameters go in and out unchanged; the
// backend key parses and does not change a run's identity.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backend/cpu/elm_cpu.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "model/elm_model.hpp"
#include "test_support.hpp"
#include "train/cpu_step_backend.hpp"
#include "train/grad_clip.hpp"
#include "train/loss.hpp"
#include "train/run_config.hpp"
#include "train/train_step.hpp"
#include "train/two_tower.hpp"

namespace elm {
namespace {

ElmConfig small_model(TaskLoss loss) {
  ElmConfig c;
  c.num_input = 12;
  c.num_memory = 6;
  c.num_output = loss == TaskLoss::Neuronio ? 2 : 4;
  if (loss == TaskLoss::PairedCrossEntropy) c.head_hidden = 5;
  return c;
}

Batch random_batch(TaskLoss loss, const ElmConfig& c, int B, int T, uint64_t seed) {
  RngStream rng(seed, 17);
  const int rows = loss == TaskLoss::PairedCrossEntropy ? 2 * B : B;
  Batch b;
  b.x = InputBatch{rows, T, c.num_input, {}};
  SpikeInput s;
  s.offsets.push_back(0);
  for (int r = 0; r < rows * T; ++r) {
    for (int i = 0; i < c.num_input; ++i)
      if (rng.uniform() < 0.2) {
        s.channel.push_back(i);
        s.value.push_back(1.0f);
      }
    s.offsets.push_back(int64_t(s.channel.size()));
  }
  b.x.data = std::move(s);
  const int classes = loss == TaskLoss::PairedCrossEntropy ? c.head_classes : c.num_output;
  for (int i = 0; i < B; ++i) b.labels.push_back(int64_t(rng.below(uint64_t(classes))));
  for (int i = 0; i < B * T; ++i) {
    b.target_spike.push_back(rng.uniform() < 0.1 ? 1.0f : 0.0f);
    b.target_soma.push_back(float(rng.normal()));
  }
  return b;
}

// The step as the trainer wrote it before the seam existed.
struct ReferenceStep {
  ReferenceStep(const ElmConfig& c, const ElmModel& m, TaskLoss loss, const OptimizerConfig& oc)
      : elm(c, m.routing, 1), loss(loss), params(m.params), opt(make_optimizer(oc)) {
    if (loss == TaskLoss::PairedCrossEntropy) two_tower = std::make_unique<TwoTowerElm<float>>(elm);
  }
  double run(const Batch& b, double lr, double clip) {
    const size_t n = size_t(elm.layout().num_trainable());
    std::vector<float> grad(n);
    double l = 0;
    if (two_tower) {
      l = two_tower->forward(params.data(), b.x, b.labels);
      two_tower->backward(grad.data());
    } else {
      const int B = b.x.batch, T = b.x.steps, C = elm.config().num_output;
      std::vector<float> y(size_t(B) * T * C), dy(y.size());
      elm.forward(params.data(), b.x, y.data());
      l = loss == TaskLoss::Neuronio
              ? neuronio_loss(y.data(), B, T, C, b.target_spike.data(), b.target_soma.data(), dy.data())
              : last_step_cross_entropy(y.data(), B, T, C, b.labels.data(), dy.data());
      elm.backward(dy.data(), grad.data());
    }
    const double norm = clip > 0 ? clip_grad_norm(grad, clip) : grad_norm(grad);
    opt->step(std::span<float>(params.data(), n), grad, lr);
    last_norm = norm;
    return double(float(l));
  }
  CpuElm<float> elm;
  TaskLoss loss;
  std::vector<float> params;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<TwoTowerElm<float>> two_tower;
  double last_norm = 0;
};

void expect_bitwise(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << what << " differ";
}

void check_seam_equals_reference(TaskLoss loss, const char* optimizer, double clip) {
  SCOPED_TRACE(std::string(to_string(loss)) + ", " + optimizer);
  const ElmConfig c = small_model(loss);
  const ElmModel m = ElmModel::initialized(c, 5);
  OptimizerConfig oc;
  oc.kind = optimizer;
  oc.weight_decay = 0.01;
  ReferenceStep ref(c, m, loss, oc);
  CpuStepBackend seam(c, m.routing, loss, oc, 1);
  seam.set_params(m.params);
  SerialComm serial;
  for (int step = 0; step < 3; ++step) {
    const Batch b = random_batch(loss, c, 3, 7, uint64_t(step));
    const double lr = 0.01 / (step + 1);
    const double ref_loss = ref.run(b, lr, clip);
    const StepResult r = train_step(seam, b, serial, {lr, clip, nullptr});
    ASSERT_TRUE(r.updated);
    EXPECT_EQ(r.loss, ref_loss) << "step " << step;
    EXPECT_EQ(r.grad_norm, ref.last_norm) << "step " << step;
    if (clip > 0) EXPECT_GT(r.grad_norm, clip) << "the clipping path is not exercised";
    EXPECT_FALSE(r.stop);
  }
  std::vector<float> got(m.params.size());
  seam.get_params(got);
  expect_bitwise(got, ref.params, "parameters after 3 steps");
  auto state = make_optimizer(oc);
  seam.get_optimizer_state(*state);
  EXPECT_EQ(state->step_count(), 3);
  for (size_t i = 0; i < Optimizer::num_state_buffers(); ++i)
    expect_bitwise(state->state_buffer(i), ref.opt->state_buffer(i), "optimizer state");
}

TEST(StepBackend, CpuTrainStepEqualsTheReferenceStepBitForBit) {
  check_seam_equals_reference(TaskLoss::LastStepCrossEntropy, "adam", 0);
  check_seam_equals_reference(TaskLoss::Neuronio, "adamw", 0.05);  // small enough to clip
  check_seam_equals_reference(TaskLoss::PairedCrossEntropy, "adamax", 0.1);
}

TEST(StepBackend, OptimizerStateAndParametersRoundTrip) {
  const ElmConfig c = small_model(TaskLoss::LastStepCrossEntropy);
  const ElmModel m = ElmModel::initialized(c, 2);
  OptimizerConfig oc;
  CpuStepBackend a(c, m.routing, TaskLoss::LastStepCrossEntropy, oc, 1);
  a.set_params(m.params);
  SerialComm serial;
  const Batch b = random_batch(TaskLoss::LastStepCrossEntropy, c, 2, 5, 9);
  train_step(a, b, serial, {0.01, 0, nullptr});
  // A second backend resumed from the first one's state takes the same next step.
  std::vector<float> p(m.params.size());
  a.get_params(p);
  auto state = make_optimizer(oc);
  a.get_optimizer_state(*state);
  CpuStepBackend resumed(c, m.routing, TaskLoss::LastStepCrossEntropy, oc, 1);
  resumed.set_params(p);
  resumed.set_optimizer_state(*state);
  const Batch b2 = random_batch(TaskLoss::LastStepCrossEntropy, c, 2, 5, 10);
  const StepResult ra = train_step(a, b2, serial, {0.01, 0, nullptr});
  const StepResult rb = train_step(resumed, b2, serial, {0.01, 0, nullptr});
  EXPECT_EQ(ra.loss, rb.loss);
  std::vector<float> pa(p.size()), pb(p.size());
  a.get_params(pa);
  resumed.get_params(pb);
  expect_bitwise(pa, pb, "parameters after the resumed step");
  EXPECT_THROW(a.set_params(std::vector<float>(3)), ElmError);
}

TEST(StepBackend, StagingTheNextBatchEarlyChangesNothing) {
  const ElmConfig c = small_model(TaskLoss::LastStepCrossEntropy);
  const ElmModel m = ElmModel::initialized(c, 4);
  CpuStepBackend plain(c, m.routing, TaskLoss::LastStepCrossEntropy, OptimizerConfig{}, 1);
  CpuStepBackend ahead(c, m.routing, TaskLoss::LastStepCrossEntropy, OptimizerConfig{}, 1);
  plain.set_params(m.params);
  ahead.set_params(m.params);
  std::vector<Batch> batches;
  for (int k = 0; k < 4; ++k) batches.push_back(random_batch(TaskLoss::LastStepCrossEntropy, c, 2, 5, 20 + k));
  SerialComm serial;
  for (size_t k = 0; k < batches.size(); ++k) {
    const StepResult a = train_step(plain, batches[k], serial, {0.01, 0, nullptr});
    const StepResult b = train_step(ahead, batches[k], serial, {0.01, 0, nullptr},
                                    k + 1 < batches.size() ? &batches[k + 1] : nullptr);
    EXPECT_EQ(a.loss, b.loss) << k;
    EXPECT_EQ(ahead.has_staged(), k + 1 < batches.size());
  }
  std::vector<float> pa(m.params.size()), pb(m.params.size());
  plain.get_params(pa);
  ahead.get_params(pb);
  expect_bitwise(pa, pb, "parameters with and without early staging");
}

TEST(StepBackend, NonFiniteLossLeavesTheParametersAsTheyWere) {
  const ElmConfig c = small_model(TaskLoss::Neuronio);
  ElmModel m = ElmModel::initialized(c, 2);
  CpuStepBackend be(c, m.routing, TaskLoss::Neuronio, OptimizerConfig{}, 1);
  be.set_params(m.params);
  Batch b = random_batch(TaskLoss::Neuronio, c, 2, 5, 3);
  b.target_soma[0] = std::numeric_limits<float>::infinity();
  SerialComm serial;
  const StepResult r = train_step(be, b, serial, {0.01, 0, nullptr});
  EXPECT_FALSE(std::isfinite(r.loss));
  EXPECT_FALSE(r.updated);
  std::vector<float> after(m.params.size());
  be.get_params(after);
  expect_bitwise(after, m.params, "parameters after a non-finite loss");
}

TEST(StepBackend, StopRequestIsAskedAfterTheBackwardAndReported) {
  const ElmConfig c = small_model(TaskLoss::LastStepCrossEntropy);
  const ElmModel m = ElmModel::initialized(c, 2);
  CpuStepBackend be(c, m.routing, TaskLoss::LastStepCrossEntropy, OptimizerConfig{}, 1);
  be.set_params(m.params);
  SerialComm serial;
  int asked = 0;
  const StepResult r = train_step(be, random_batch(TaskLoss::LastStepCrossEntropy, c, 2, 5, 4), serial,
                                  {0.01, 0, [&] { return ++asked > 0; }});
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(r.stop);
  EXPECT_TRUE(r.updated);  // a stop still completes the step: the checkpoint holds it
}

TEST(StepBackend, BackendKeyParsesAndLeavesTheRunIdentityAlone) {
  EXPECT_EQ(parse_backend_kind("cpu"), BackendKind::Cpu);
  EXPECT_EQ(parse_backend_kind("cuda"), BackendKind::Cuda);
  const std::string msg = test::expect_one_line_elm_error([] { parse_backend_kind("gpu"); });
  EXPECT_NE(msg.find("train.backend"), std::string::npos) << msg;
  const RunConfig cpu = RunConfig::load("", {"train.backend=cpu"});
  const RunConfig cuda = RunConfig::load("", {"train.backend=cuda"});
  EXPECT_EQ(cuda.train.backend, "cuda");
  EXPECT_EQ(run_id(cpu), run_id(cuda));  // a GPU checkpoint resumes on the CPU
  EXPECT_EQ(run_id(cpu), run_id(RunConfig::load("", {})));
  EXPECT_EQ(run_id(cpu), run_id(RunConfig::load("", {"train.loss=last_step_ce"})));
  const std::string bad = test::expect_one_line_elm_error([] { RunConfig::load("", {"train.backend=tpu"}); });
  EXPECT_NE(bad.find("train.backend"), std::string::npos) << bad;
}

#ifndef ELM_HAVE_CUDA
TEST(StepBackend, CudaInABuildWithoutCudaIsOneLine) {
  const ElmConfig c = small_model(TaskLoss::LastStepCrossEntropy);
  const ElmModel m = ElmModel::initialized(c, 2);
  StepBackendOptions o;
  o.kind = BackendKind::Cuda;
  const std::string msg = test::expect_one_line_elm_error(
      [&] { make_step_backend(c, m.routing, TaskLoss::LastStepCrossEntropy, OptimizerConfig{}, o); });
  EXPECT_NE(msg.find("without the CUDA backend"), std::string::npos) << msg;
}
#endif

}  // namespace
}  // namespace elm
