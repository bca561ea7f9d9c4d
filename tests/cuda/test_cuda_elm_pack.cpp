// CudaElmPack (recurrences with a model index, batched weight-gradient GEMMs)
// against each member run alone as a CudaElm: every member has its own
// parameters, lambda and input. The alone runs are checked against the CPU
// reference by CudaVsCpu; here a packed member must give the alone outputs
// and gradients up to the summation order of the batched GEMMs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/elm_cuda_pack.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "cuda_test_support.hpp"

namespace elm::test {
namespace {

struct PackCase : SmallElm {
  std::string name;
  Kind kind = Kind::Dense;
  int B = 5, T = 40, members = 3, segment_len = 0, group = 0;
  double density = 0.3;
};

std::ostream& operator<<(std::ostream& os, const PackCase& c) { return os << c.name; }

ElmConfig config_of(const PackCase& c, int member) {
  ElmConfig e = config_of(static_cast<const SmallElm&>(c));
  e.lambda_value = 2.0 + 1.5 * member;  // shape-free: packed runs may differ in it
  return e;
}

struct Member {
  ElmConfig config;
  ElmModel model;
  InputBatch x;
  std::vector<float> dy;
  std::unique_ptr<CudaElm> elm;
  DeviceFloats params, y, d_dy, grad;
  std::vector<float> y_alone, grad_alone;
};

std::vector<std::unique_ptr<Member>> make_members(const PackCase& c) {
  std::vector<std::unique_ptr<Member>> v;
  for (int k = 0; k < c.members; ++k) {
    const ElmConfig cfg = config_of(c, k);
    auto m = std::make_unique<Member>(Member{cfg, random_model(cfg, 17 + k), random_input(c.kind, c.B, c.T, c.n_in,
                                                                                          c.density, 23 + k)});
    const size_t ny = size_t(c.B) * c.T * c.d_o, ng = size_t(m->model.layout.num_trainable());
    m->dy.resize(ny);
    RngStream rng(8, uint64_t(8 + k));
    for (auto& e : m->dy) e = float(rng.normal());
    CudaElmOptions opt;
    opt.segment_len = c.segment_len;
    opt.group = c.group;
    m->elm = std::make_unique<CudaElm>(cfg, m->model.routing, opt);
    m->y_alone.resize(ny);
    m->grad_alone.resize(ng);
    m->elm->forward_host(m->model.params.data(), m->x, m->y_alone.data());
    m->elm->backward_host(m->dy.data(), m->grad_alone.data());
    m->params = DeviceFloats(m->model.params.size(), 0);
    m->params.upload(m->model.params.data(), m->model.params.size());
    m->y = DeviceFloats(ny, 0);
    m->d_dy = DeviceFloats(ny, 0);
    m->d_dy.upload(m->dy.data(), ny);
    m->grad = DeviceFloats(ng, 0);
    v.push_back(std::move(m));
  }
  return v;
}

// Two packed steps (buffers and pointer tables reused), each against the alone run.
void check_pack_equals_alone(const PackCase& c, std::vector<std::unique_ptr<Member>>& members) {
  std::vector<CudaElm*> elms;
  std::vector<const float*> params, dys;
  std::vector<float*> ys, grads;
  for (auto& m : members) {
    elms.push_back(m->elm.get());
    params.push_back(m->params.data());
    ys.push_back(m->y.data());
    dys.push_back(m->d_dy.data());
    grads.push_back(m->grad.data());
  }
  CudaElmPack pack(elms);
  ASSERT_EQ(pack.size(), c.members);
  for (int step = 0; step < 2; ++step) {
    for (auto& m : members) m->elm->upload_input(m->x);
    pack.forward(params, ys);
    pack.backward(dys, grads);
    pack.synchronize();
    for (size_t k = 0; k < members.size(); ++k) {
      Member& m = *members[k];
      std::vector<float> y(m.y_alone.size()), g(m.grad_alone.size());
      m.y.download(y.data(), y.size());
      m.grad.download(g.data(), g.size());
      const std::string who = c.name + " step " + std::to_string(step) + " member " + std::to_string(k);
      // The recurrence of a packed member is the alone kernel's body on the same values.
      expect_close_to_max(y, m.y_alone, 1e-6, who + " output");
      for (const auto& e : m.model.layout.entries()) {
        if (!e.trainable) continue;
        const std::vector<float> gp(g.begin() + e.offset, g.begin() + e.offset + e.size);
        const std::vector<float> ga(m.grad_alone.begin() + e.offset, m.grad_alone.begin() + e.offset + e.size);
        expect_close_to_max(gp, ga, 1e-5, who + " grad " + e.name);
      }
    }
  }
}

class CudaElmPackVsAlone : public testing::TestWithParam<PackCase> {};

TEST_P(CudaElmPackVsAlone, EveryMemberEqualsItsRunAlone) {
  ELM_REQUIRE_GPU();
  auto members = make_members(GetParam());
  check_pack_equals_alone(GetParam(), members);
}

std::vector<PackCase> pack_cases() {
  std::vector<PackCase> v;
  PackCase c;
  c.name = "v1_neuronio_routing_spikes_segments_group4";
  c.routing = SynapseRouting::NeuronIO;
  c.n_in = 20;
  c.branches = 4;
  c.per_branch = 6;
  c.kind = Kind::Spikes;
  c.density = 0.1;
  c.learn_tau = true;
  c.segment_len = 16;  // three segments: two recomputed from checkpoints
  c.group = 4;         // B = 5: the second group of each model is partial
  v.push_back(c);
  c = PackCase{};
  c.name = "v2_tokens_silu_two_layers";
  c.variant = ElmVariant::V2;
  c.kind = Kind::Tokens;
  c.silu = true;
  c.layers = 2;
  c.members = 4;
  v.push_back(c);
  c = PackCase{};
  c.name = "v1_dense_more_members_than_one_launch";
  c.dm = 4;
  c.T = 12;
  c.B = 2;
  c.members = 66;  // two launches of the recurrence kernels (kMaxPackLaunch = 64)
  v.push_back(c);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaElmPackVsAlone, testing::ValuesIn(pack_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(CudaElmPack, MembersOfDifferentShapesAreRefused) {
  ELM_REQUIRE_GPU();
  PackCase c;
  const ElmConfig a = config_of(c, 0);
  ElmConfig b = a;
  b.num_memory = a.num_memory + 1;
  const ElmModel ma = random_model(a, 1), mb = random_model(b, 2);
  CudaElm ea(a, ma.routing), eb(b, mb.routing);
  try {
    CudaElmPack pack({&ea, &eb});
    FAIL() << "a pack of two shapes was accepted";
  } catch (const ElmError& e) {
    EXPECT_NE(std::string(e.what()).find("member 1 differs from member 0"), std::string::npos) << e.what();
  }
}

TEST(CudaElmPack, MembersWithDifferentBatchesAreRefusedAtForward) {
  ELM_REQUIRE_GPU();
  PackCase c;
  const ElmConfig cfg = config_of(c, 0);
  const ElmModel m = random_model(cfg, 1);
  CudaElm ea(cfg, m.routing), eb(cfg, m.routing);
  ea.upload_input(random_input(c.kind, 4, c.T, c.n_in, c.density, 1));
  eb.upload_input(random_input(c.kind, 3, c.T, c.n_in, c.density, 2));
  DeviceFloats p(m.params.size(), 0), ya(size_t(4) * c.T * c.d_o, 0), yb(size_t(3) * c.T * c.d_o, 0);
  p.upload(m.params.data(), m.params.size());
  CudaElmPack pack({&ea, &eb});
  const float* params[] = {p.data(), p.data()};
  float* ys[] = {ya.data(), yb.data()};
  try {
    pack.forward(params, ys);
    FAIL() << "members of two batch sizes were packed";
  } catch (const ElmError& e) {
    EXPECT_NE(std::string(e.what()).find("member 1's batch or plan differs"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace elm::test
