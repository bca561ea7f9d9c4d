// The runs of a GPU pack (QueuedStepPack: each member on its own stream, every
// member's forward and backward queued before the first member's step is
// waited for; and the sweep's pack, whose members' recurrences run in one
// launch) train as each run alone: members that differ in parameters,
// learning rate and batches each agree with a CPU backend trained alone on
// their batches after one step and after three (step_backend_compare.hpp's
// tolerances). A stream shared by mistake, a member's buffer read by another
// or a step taken on the wrong member shows as a member that no longer does.
// The same pack of CPU members runs everywhere and must equal the CPU runs
// alone bit for bit.
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "step_backend_compare.hpp"
#include "test_support.hpp"
#include "core/error.hpp"
#include "train/step_pack.hpp"

namespace elm::test {
namespace {

constexpr int kMembers = 3, kBatch = 4, kSteps = 12;
constexpr std::array<double, 3> kLr = {1e-3, 8e-4, 6e-4};

enum class PackKind { Queued, Trainers };  // QueuedStepPack, or the pack make_step_pack gives a sweep

void expect_members_train_alone(BackendKind kind, const std::string& task, PackKind pack_kind = PackKind::Queued) {
  const TaskCase& c = task_case(task);
  const ElmConfig model = task_model(c);
  OptimizerConfig oc;
  oc.kind = "adamw";
  oc.weight_decay = 0.01;
  StepBackendOptions where;
  where.kind = kind;
  const std::unique_ptr<StepPack> made =
      pack_kind == PackKind::Queued ? std::make_unique<QueuedStepPack>(where) : make_step_pack(where);
  StepPack& pack = *made;
  std::vector<ElmModel> models;
  std::vector<std::unique_ptr<StepBackend>> alone;
  for (int k = 0; k < kMembers; ++k) {
    models.push_back(random_model(model, 7 + uint64_t(k)));
    pack.add_member(model, models[size_t(k)].routing, c.loss, oc).set_params(models[size_t(k)].params);
    alone.push_back(make_case_backend(BackendKind::Cpu, c, model, models[size_t(k)], oc));
  }
  ASSERT_EQ(pack.size(), kMembers);
  const size_t n_grad = size_t(alone[0]->layout().num_trainable());
  SerialComm serial;
  std::array<double, kMembers> lr_sum{};
  for (size_t s = 0; s < kLr.size(); ++s) {
    // Member 1 sits out the second step, as a run that left the pack would,
    // and comes back for the third: the others' steps must not notice.
    const std::vector<int> training = s == 1 ? std::vector<int>{0, 2} : std::vector<int>{0, 1, 2};
    std::vector<Batch> batches;
    for (int k = 0; k < kMembers; ++k) batches.push_back(task_batch(c, model, kBatch, kSteps, 100 * (k + 1) + s));
    for (int k : training) pack.member(k).stage(batches[size_t(k)]);
    pack.forward_backward(training);
    for (int k : training) {
      const double lr = kLr[s] * (1 + 0.5 * k);  // each run its own learning rate
      const std::string what = task + " member " + std::to_string(k) + " step " + std::to_string(s + 1);
      const StepResult got = reduce_and_update(pack.member(k), serial, {lr, 0.5, nullptr});
      const StepResult ref = train_step(*alone[size_t(k)], batches[size_t(k)], serial, {lr, 0.5, nullptr});
      ASSERT_TRUE(ref.updated) << what;
      lr_sum[size_t(k)] += lr;
      if (kind == BackendKind::Cpu) {
        EXPECT_EQ(got.loss, ref.loss) << what;
        EXPECT_EQ(got.grad_norm, ref.grad_norm) << what;
      } else {
        expect_same_step_result(got, ref, what);
      }
      if (s != 0 && s + 1 != kLr.size()) continue;
      const BackendSnapshot g = snapshot(pack.member(k), oc), r = snapshot(*alone[size_t(k)], oc);
      if (kind == BackendKind::Cpu) {
        ASSERT_EQ(g.params.size(), r.params.size());
        EXPECT_EQ(std::memcmp(g.params.data(), r.params.data(), g.params.size() * sizeof(float)), 0) << what;
      } else {
        StateTolerance tol;
        if (s > 0) tol.moment = 1e-3;  // as test_cuda_step_backend: the parameters differ after a step
        expect_same_state(models[size_t(k)].params, g, r, n_grad, lr_sum[size_t(k)], tol, what);
      }
    }
  }
}

TEST(StepPackMembers, CpuMembersQueuedOneByOneEqualTheRunsAlone) {
  expect_members_train_alone(BackendKind::Cpu, "ce_spikes");
  expect_members_train_alone(BackendKind::Cpu, "neuronio");
}

TEST(StepPackMembers, PacksAskForAllHardwareQueuesUnlessTheUserSetACount) {
  unsetenv("CUDA_DEVICE_MAX_CONNECTIONS");
  request_queues_for_gpu_packs();
  ASSERT_NE(std::getenv("CUDA_DEVICE_MAX_CONNECTIONS"), nullptr);
  EXPECT_STREQ(std::getenv("CUDA_DEVICE_MAX_CONNECTIONS"), "32");
  setenv("CUDA_DEVICE_MAX_CONNECTIONS", "4", 1);
  request_queues_for_gpu_packs();
  EXPECT_STREQ(std::getenv("CUDA_DEVICE_MAX_CONNECTIONS"), "4");
  unsetenv("CUDA_DEVICE_MAX_CONNECTIONS");
}

TEST(CudaStepPack, EveryMemberOnItsStreamTrainsAsTheRunAlone) {
  ELM_REQUIRE_GPU();
  expect_members_train_alone(BackendKind::Cuda, "ce_spikes");
  expect_members_train_alone(BackendKind::Cuda, "neuronio");
}

// The sweep's GPU pack: the members' recurrences in one launch with a model
// index, their weight gradients as batched GEMMs (CudaElmPack).
TEST(CudaStepPack, EveryMemberOfTheModelIndexPackTrainsAsTheRunAlone) {
  ELM_REQUIRE_GPU();
  StepBackendOptions where;
  where.kind = BackendKind::Cuda;
  EXPECT_NE(make_step_pack(where)->description().find("empty pack"), std::string::npos);
  expect_members_train_alone(BackendKind::Cuda, "ce_spikes", PackKind::Trainers);
  expect_members_train_alone(BackendKind::Cuda, "neuronio", PackKind::Trainers);
}

// Members allocate at their first step, after all have checked they fit: a
// pack asks room for all of its runs. At the shortest sequence (doubling) for
// which a pack of 64 has no room, one run alone still fits, and the pack's
// refusal is one line that names the pack size and sweep.pack.
TEST(CudaStepPack, APackWithoutRoomForAllItsRunsIsRefusedInOneLine) {
  ELM_REQUIRE_GPU();
  const TaskCase& c = task_case("ce_tokens");
  const ElmConfig model = task_model(c);
  const ElmModel m = random_model(model, 7);
  const OptimizerConfig oc;
  StepBackendOptions where;
  where.kind = BackendKind::Cuda;
  QueuedStepPack pack(where);
  for (int k = 0; k < kMaxGpuPackMembers; ++k) pack.add_member(model, m.routing, c.loss, oc);
  const auto alone = make_case_backend(BackendKind::Cuda, c, model, m, oc);
  Batch batch;  // require_fits reads only the shape and the kind of input
  batch.x.batch = 64;
  batch.x.channels = model.num_input;
  batch.x.data = TokenInput{};
  auto fits = [&](StepBackend& b) {
    try {
      b.require_fits(batch);
      return true;
    } catch (const ElmError&) {
      return false;
    }
  };
  for (batch.x.steps = 1024; fits(pack.member(0)); batch.x.steps *= 2)
    ASSERT_LT(batch.x.steps, 1 << 24) << "a pack of 64 fits sequences of any length?";
  EXPECT_TRUE(fits(*alone)) << batch.x.steps << " steps";
  const std::string msg = expect_one_line_elm_error([&] { pack.member(0).require_fits(batch); });
  EXPECT_NE(msg.find("a pack of 64 runs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sweep.pack"), std::string::npos) << msg;
}

}  // namespace
}  // namespace elm::test
