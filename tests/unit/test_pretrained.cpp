// The 15 released NeuronIO models, end to end: the PyTorch state dict is
// converted by analysis/convert_torch_checkpoint.py, read back with
// read_checkpoint(), and run forward and backward on the CPU backend against
// shared/pretrained/pretrained_<name>.h5 (computed by the reference).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "backend/cpu/elm_cpu.hpp"
#include "io/hdf5_io.hpp"
#include "model/elm_model.hpp"
#include "test_support.hpp"
#include "train/loss.hpp"

namespace elm::test {
namespace {

const std::vector<std::string> kReleased = {
    "best_elm_neuron", "num_memory_1",  "num_memory_2",  "num_memory_3",  "num_memory_5",
    "num_memory_7",    "num_memory_10", "num_memory_15", "num_memory_20", "num_memory_25",
    "num_memory_30",   "num_memory_40", "num_memory_50", "num_memory_75", "num_memory_100"};

std::string torch_dir() { return shared_dir() + "/pretrained/torch"; }

class PretrainedModel : public ::testing::TestWithParam<std::string> {
 protected:
  // Converts, in one Python run, the models whose tests this process will run
  // (under ctest that is one; run directly, all 15 share the interpreter start-up).
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>("elm-pretrained");
    std::string pairs;
    const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
    for (int i = 0; i < suite->total_test_count(); ++i) {
      const ::testing::TestInfo* t = suite->GetTestInfo(i);
      if (!t->should_run()) continue;
      const std::string name = std::string(t->name()).substr(std::string(t->name()).rfind('/') + 1);
      pairs += " " + shell_quote(torch_dir() + "/" + name) + " " + shell_quote(dir_->file(name + ".h5"));
    }
    if (pairs.empty()) return;
    const auto r = run_command(shell_quote(torch_python()) + " " + shell_quote(converter_script()) + " --batch" + pairs);
    if (r.status != 0)
      problem_ = "converter exited with " + std::to_string(r.status) + " " + torch_python_hint() + ":\n" + r.stderr_text;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::unique_ptr<TempDir> dir_;
  static std::string problem_;
};
std::unique_ptr<TempDir> PretrainedModel::dir_;
std::string PretrainedModel::problem_;

struct RunResult {
  std::vector<float> y, grad;
  float loss = 0;
};

RunResult run(const ElmModel& model, const InputBatch& x, const std::vector<float>& spike,
              const std::vector<float>& soma, int threads) {
  CpuElm<float> elm(model.config, model.routing, threads);
  RunResult res;
  const int d_o = model.config.num_output;
  res.y.resize(size_t(x.batch) * x.steps * d_o);
  elm.forward(model.params.data(), x, res.y.data());
  std::vector<float> dy(res.y.size());
  res.loss = neuronio_loss(res.y.data(), x.batch, x.steps, d_o, spike.data(), soma.data(), dy.data());
  res.grad.resize(model.layout.num_trainable());
  elm.backward(dy.data(), res.grad.data());
  return res;
}

TEST_P(PretrainedModel, ConvertedCheckpointMatchesTheReference) {
  const std::string name = GetParam();
  const std::string converted = dir_->file(name + ".h5");
  const std::string ref_path = shared_dir() + "/pretrained/pretrained_" + name + ".h5";
  // A failed conversion of another model does not fail this one.
  ASSERT_TRUE(std::filesystem::exists(converted)) << converted << " was not written; " << problem_;

  const ElmModel model = read_checkpoint(converted);
  H5Reader r(ref_path);
  EXPECT_EQ(r.read_attr_string("variant"), to_string(model.config.variant));
  EXPECT_EQ(read_checkpoint(ref_path).config.to_json(), model.config.to_json());

  // Parameters: bit for bit those of the reference file (+inf included).
  std::set<std::string> ref_names;
  for (const auto& n : r.list("params")) ref_names.insert(n);
  std::set<std::string> ours = {"input_to_synapse_indices", "valid_indices_mask"};
  for (const auto& e : model.layout.entries()) {
    ours.insert(e.name);
    const auto a = r.read_float("params/" + e.name);
    ASSERT_EQ(a.shape, e.shape) << e.name;
    EXPECT_EQ(std::memcmp(a.data.data(), model.params.data() + e.offset, a.data.size() * sizeof(float)), 0)
        << "params/" << e.name << " differs from " << ref_path;
  }
  EXPECT_EQ(ours, ref_names);
  EXPECT_EQ(model.routing.input_index, r.read_int("params/input_to_synapse_indices").data);
  const auto valid = r.read_int("params/valid_indices_mask").data;
  ASSERT_EQ(model.routing.valid.size(), valid.size());
  for (size_t i = 0; i < valid.size(); ++i) EXPECT_EQ(bool(model.routing.valid[i]), valid[i] != 0) << i;

  // Trainable parameter count, as the reference (and the paper) count it.
  EXPECT_EQ(model.layout.num_trainable(), trainable_parameter_count(model.config));
  if (name == "num_memory_15") EXPECT_EQ(model.layout.num_trainable(), 6827);
  if (name == "num_memory_100") EXPECT_EQ(model.layout.num_trainable(), 54002);

  // Forward, NeuronIO loss, gradients and eval output, for dense and spike input.
  const auto input = r.read_float("input");
  ASSERT_EQ(input.shape.size(), 3u);
  const InputBatch dense{int(input.shape[0]), int(input.shape[1]), int(input.shape[2]), DenseInput{input.data}};
  const auto spike = r.read_float("targets/target_spike").data;
  const auto soma = r.read_float("targets/target_soma").data;
  const auto ref_y = r.read_float("output").data;
  const auto ref_eval = r.read_float("neuronio_eval_output").data;
  const float ref_loss = r.read_float("loss").data.at(0);
  const std::vector<std::string> grad_names = r.list("grads");
  int trainable = 0;
  for (const auto& e : model.layout.entries()) trainable += e.trainable;
  EXPECT_EQ(int(grad_names.size()), trainable);

  const std::pair<std::string, InputBatch> kinds[] = {{"dense", dense}, {"spikes", spikes_from_dense(dense)}};
  for (const auto& [kind, x] : kinds) {
    SCOPED_TRACE(name + ", " + kind + " input");
    const RunResult res = run(model, x, spike, soma, kind == "dense" ? 1 : 2);
    expect_close_values(res.y, ref_y, "output");
    expect_close_values({res.loss}, {ref_loss}, "loss");
    for (const auto& g : grad_names) {
      const ParamEntry* e = model.layout.find(g);
      ASSERT_TRUE(e != nullptr && e->trainable) << "gradient of unknown or frozen parameter '" << g << "'";
      expect_close_gradient(res.grad.data() + e->offset, r.read_float("grads/" + g).data, "grad " + g);
    }
    const int d_o = model.config.num_output;
    std::vector<float> ev(res.y.size() / d_o * 2);
    for (size_t q = 0; q < res.y.size() / d_o; ++q) {
      ev[q * 2] = 1.0f / (1.0f + std::exp(-res.y[q * d_o]));
      ev[q * 2 + 1] = res.y[q * d_o + 1] / 0.1f;
    }
    expect_close_values(ev, ref_eval, "neuronio_eval_output");
  }
}

INSTANTIATE_TEST_SUITE_P(Released, PretrainedModel, ::testing::ValuesIn(kReleased),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(PretrainedModels, ListCoversEveryReleasedModel) {
  std::set<std::string> found;
  for (const auto& d : std::filesystem::directory_iterator(torch_dir()))
    if (d.is_directory()) found.insert(d.path().filename().string());
  EXPECT_EQ(found, std::set<std::string>(kReleased.begin(), kReleased.end())) << "in " << torch_dir();
}

}  // namespace
}  // namespace elm::test
