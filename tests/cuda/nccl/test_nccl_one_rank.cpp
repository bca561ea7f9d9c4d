// NCCL on one GPU without mpirun (elm_nccl_tests): make_nccl_comm takes a
// SerialComm; on one rank the collectives leave device buffers as they were,
// the step's all-reduce scales nothing, and a CUDA StepBackend given the
// DeviceComm trains as one without it. Several ranks still need MPI, which is
// checked on the host before any CUDA call.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "dist/nccl_comm.hpp"
#include "step_backend_compare.hpp"
#include "test_support.hpp"

namespace elm::test {
namespace {

std::vector<float> random_floats(size_t n, uint64_t seed) {
  RngStream rng(seed, 3);
  std::vector<float> v(n);
  for (auto& x : v) x = float(rng.normal());
  return v;
}

std::vector<float> download(const DeviceFloats& d) {
  std::vector<float> h(d.size());
  d.download(h.data(), h.size());
  return h;
}

TEST(NcclOneRank, CollectivesLeaveTheBufferAsItWas) {
  ELM_REQUIRE_GPU();
  SerialComm serial;
  const std::unique_ptr<DeviceComm> comm = make_nccl_comm(serial, 0);
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->device(), 0);
  const std::vector<float> host = random_floats(1000, 1);
  DeviceFloats d(host.size(), 0);
  d.upload(host.data(), host.size());

  comm->allreduce_sum(d.data(), d.size(), nullptr);
  std::vector<float> got = download(d);
  EXPECT_EQ(std::memcmp(got.data(), host.data(), host.size() * sizeof(float)), 0) << "allreduce_sum";

  // n_grad = 900: a gradient scaled by 1/W would show in the first 900 values, a sum in the rest.
  allreduce_step_device(*comm, d.data(), d.size(), 900, nullptr);
  got = download(d);
  EXPECT_EQ(std::memcmp(got.data(), host.data(), host.size() * sizeof(float)), 0) << "allreduce_step_device";

  comm->broadcast(d.data(), d.size() * sizeof(float), 0, nullptr);
  got = download(d);
  EXPECT_EQ(std::memcmp(got.data(), host.data(), host.size() * sizeof(float)), 0) << "broadcast";

  // A split of one rank is one rank again, on the same device.
  const std::unique_ptr<DeviceComm> sub = comm->split(0, 0);
  EXPECT_EQ(sub->size(), 1);
  EXPECT_EQ(sub->device(), 0);
  sub->allreduce_sum(d.data(), d.size(), nullptr);
  got = download(d);
  EXPECT_EQ(std::memcmp(got.data(), host.data(), host.size() * sizeof(float)), 0) << "allreduce_sum of the split";
}

TEST(NcclOneRank, StepBackendWithTheDeviceCommTrainsAsWithout) {
  ELM_REQUIRE_GPU();
  SerialComm serial;
  const std::unique_ptr<DeviceComm> comm = make_nccl_comm(serial, 0);
  const TaskCase& c = task_case("ce_spikes");
  const ElmConfig model = task_model(c);
  const ElmModel m = random_model(model, 7);
  const OptimizerConfig oc;
  auto with = make_case_backend(BackendKind::Cuda, c, model, m, oc, comm.get());
  auto without = make_case_backend(BackendKind::Cuda, c, model, m, oc);
  const Batch batch = task_batch(c, model, 4, 12, 100);
  const StepResult rw = train_step(*with, batch, serial, {1e-3, 0, nullptr});
  const StepResult ro = train_step(*without, batch, serial, {1e-3, 0, nullptr});
  ASSERT_TRUE(ro.updated);
  expect_same_step_result(rw, ro, "with the NCCL DeviceComm");
  expect_same_state(m.params, snapshot(*with, oc), snapshot(*without, oc), size_t(with->layout().num_trainable()), 1e-3,
                    StateTolerance{}, "with the NCCL DeviceComm");
}

// Two ranks that are not MPI ranks: nothing could carry the unique id.
class TwoRankFake final : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string kind() const override { return "fake"; }
  void allreduce_sum(std::span<float>) override {}
  void allreduce_sum(std::span<double>) override {}
  void broadcast(std::span<std::byte>, int) override {}
  void barrier() override {}
  std::unique_ptr<Comm> split(int, int) override { return std::make_unique<TwoRankFake>(); }
  [[noreturn]] void abort_job(int exit_code) override { std::exit(exit_code); }
};

TEST(NcclHost, SeveralRanksWithoutMpiAreOneLine) {
  TwoRankFake fake;
  const std::string msg = expect_one_line_elm_error([&] { make_nccl_comm(fake, 0); });
  EXPECT_NE(msg.find("MPI"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fake"), std::string::npos) << msg;
}

}  // namespace
}  // namespace elm::test
