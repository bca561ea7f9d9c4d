#include "check_model_case.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/elm_cpu.hpp"
#include "io/hdf5_io.hpp"
#include "model/elm_model.hpp"
#include "test_support.hpp"
#include "train/loss.hpp"

namespace elm::test {

namespace {

struct CaseResult {
  std::vector<float> y;
  float loss = 0;
  std::vector<float> grad;
};

CaseResult run_case(const ElmModel& model, const InputBatch& x, H5Reader& r, const std::string& loss_kind,
                    int threads) {
  CpuElm<float> elm(model.config, model.routing, threads);
  CaseResult res;
  const int B = x.batch, T = x.steps, d_o = model.config.num_output;
  res.y.resize(size_t(B) * T * d_o);
  elm.forward(model.params.data(), x, res.y.data());
  std::vector<float> dy(res.y.size());
  if (loss_kind == "projection") {
    auto G = r.read_float("targets/G");
    double l = 0;
    for (size_t i = 0; i < G.data.size(); ++i) l += double(res.y[i]) * G.data[i];
    res.loss = float(l);
    dy = G.data;
  } else if (loss_kind == "last_step_ce") {
    auto labels = r.read_int("targets/labels");
    res.loss = last_step_cross_entropy(res.y.data(), B, T, d_o, labels.data.data(), dy.data());
  } else if (loss_kind == "neuronio") {
    auto spike = r.read_float("targets/target_spike");
    auto soma = r.read_float("targets/target_soma");
    res.loss = neuronio_loss(res.y.data(), B, T, d_o, spike.data.data(), soma.data.data(), dy.data());
  } else {
    ADD_FAILURE() << r.path() << ": unknown loss_kind '" << loss_kind << "'";
  }
  res.grad.resize(model.layout.num_trainable());
  elm.backward(dy.data(), res.grad.data());
  return res;
}

}  // namespace

bool is_model_case(const std::string& path) {
  H5Reader r(path);
  return r.has_attr("variant") && r.has_attr("config_json") && r.has_attr("loss_kind") && r.has("params");
}

void check_model_case(const std::string& path) {
  const ElmModel model = read_checkpoint(path);  // golden files share the checkpoint layout
  H5Reader r(path);
  const std::string loss_kind = r.read_attr_string("loss_kind");
  auto input = r.read_float("input");
  ASSERT_EQ(input.shape.size(), 3u);
  const int B = int(input.shape[0]), T = int(input.shape[1]);
  InputBatch dense{B, T, int(input.shape[2]), DenseInput{input.data}};
  std::vector<std::pair<std::string, InputBatch>> kinds;
  kinds.emplace_back("dense", dense);
  const bool sparse = std::count(input.data.begin(), input.data.end(), 0.0f) > int64_t(input.data.size() / 2);
  if (sparse) kinds.emplace_back("spikes", spikes_from_dense(dense));

  auto ref_y = r.read_float("output");
  const float ref_loss = r.read_float("loss").data.at(0);
  for (const auto& [kind, x] : kinds)
    for (int threads : {1, 2}) {
      SCOPED_TRACE(kind + " input, " + std::to_string(threads) + " thread(s)");
      const CaseResult res = run_case(model, x, r, loss_kind, threads);
      expect_close_values(res.y, ref_y.data, "output");
      expect_close_values({res.loss}, {ref_loss}, "loss");
      int checked = 0;
      for (const std::string& name : r.list("grads")) {
        const ParamEntry* e = model.layout.find(name);
        ASSERT_TRUE(e != nullptr && e->trainable) << "gradient of unknown or frozen parameter '" << name << "'";
        auto g = r.read_float("grads/" + name);
        ASSERT_EQ(g.shape, e->shape) << name;
        expect_close_gradient(res.grad.data() + e->offset, g.data, "grad " + name);
        ++checked;
      }
      // Every trainable tensor must have a reference gradient, and no more.
      int trainable = 0;
      for (const auto& e : model.layout.entries()) trainable += e.trainable;
      EXPECT_EQ(checked, trainable);
      if (r.has("neuronio_eval_output")) {
        auto ref = r.read_float("neuronio_eval_output");
        std::vector<float> ev(res.y.size());
        const int d_o = model.config.num_output;
        for (size_t q = 0; q < res.y.size() / d_o; ++q) {
          ev[q * 2] = 1.0f / (1.0f + std::exp(-res.y[q * d_o]));
          ev[q * 2 + 1] = res.y[q * d_o + 1] / 0.1f;
        }
        expect_close_values(ev, ref.data, "neuronio_eval_output");
      }
    }
}

}  // namespace elm::test
