// Registers one GPU test per golden model case (*.h5 in ELM_GOLDEN_DIR, default
// ../shared/golden), like the CPU golden tests, then runs every test of the binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "check_model_case.hpp"
#include "core/error.hpp"
#include "cuda_test_support.hpp"
#include "golden_paths.hpp"
#include "io/hdf5_io.hpp"
#include "train/loss.hpp"

namespace fs = std::filesystem;

namespace elm::test {
namespace {

// Outputs, loss, gradients and (NeuronIO) eval output of one case on the GPU,
// for every input kind the case's input can be expressed in, with the whole
// sequence as one segment and with short segments (recomputation).
void check_model_case_gpu(const std::string& path) {
  const ElmModel model = read_checkpoint(path);
  H5Reader r(path);
  const std::string loss_kind = r.read_attr_string("loss_kind");
  auto input = r.read_float("input");
  ASSERT_EQ(input.shape.size(), 3u);
  const int B = int(input.shape[0]), T = int(input.shape[1]), d_o = model.config.num_output;
  InputBatch dense{B, T, int(input.shape[2]), DenseInput{input.data}};
  std::vector<std::pair<std::string, InputBatch>> kinds;
  kinds.emplace_back("dense", dense);
  if (std::count(input.data.begin(), input.data.end(), 0.0f) > int64_t(input.data.size() / 2))
    kinds.emplace_back("spikes", spikes_from_dense(dense));
  const auto ref_y = r.read_float("output");
  const float ref_loss = r.read_float("loss").data.at(0);
  for (const auto& [kind, x] : kinds)
    for (int seg : {0, 3}) {
      SCOPED_TRACE(kind + " input, segment_len " + std::to_string(seg));
      CudaElmOptions opt;
      opt.segment_len = seg;
      CudaElm gpu(model.config, model.routing, opt);
      std::vector<float> y(size_t(B) * T * d_o), dy(y.size()), grad(model.layout.num_trainable());
      gpu.forward_host(model.params.data(), x, y.data());
      float loss = 0;
      if (loss_kind == "projection") {
        const auto G = r.read_float("targets/G");
        double l = 0;
        for (size_t i = 0; i < G.data.size(); ++i) l += double(y[i]) * G.data[i];
        loss = float(l);
        dy = G.data;
      } else if (loss_kind == "last_step_ce") {
        const auto labels = r.read_int("targets/labels");
        loss = last_step_cross_entropy(y.data(), B, T, d_o, labels.data.data(), dy.data());
      } else if (loss_kind == "neuronio") {
        const auto spike = r.read_float("targets/target_spike"), soma = r.read_float("targets/target_soma");
        loss = neuronio_loss(y.data(), B, T, d_o, spike.data.data(), soma.data.data(), dy.data());
      } else {
        FAIL() << path << ": unknown loss_kind '" << loss_kind << "'";
      }
      gpu.backward_host(dy.data(), grad.data());
      expect_close_values(y, ref_y.data, "output");
      expect_close_values({loss}, {ref_loss}, "loss");
      int checked = 0;
      for (const std::string& name : r.list("grads")) {
        const ParamEntry* e = model.layout.find(name);
        ASSERT_TRUE(e != nullptr && e->trainable) << "gradient of unknown or frozen parameter '" << name << "'";
        const auto g = r.read_float("grads/" + name);
        expect_close_gradient(grad.data() + e->offset, g.data, "grad " + name);
        ++checked;
      }
      int trainable = 0;
      for (const auto& e : model.layout.entries()) trainable += e.trainable;
      EXPECT_EQ(checked, trainable);
      if (r.has("neuronio_eval_output")) {
        const auto ref = r.read_float("neuronio_eval_output");
        std::vector<float> ev(y.size());
        for (size_t q = 0; q < y.size() / d_o; ++q) {
          ev[q * 2] = 1.0f / (1.0f + std::exp(-y[q * d_o]));
          ev[q * 2 + 1] = y[q * d_o + 1] / 0.1f;
        }
        expect_close_values(ev, ref.data, "neuronio_eval_output");
      }
    }
}

class GoldenGpuCase : public testing::Test {
 public:
  explicit GoldenGpuCase(std::string path) : path_(std::move(path)) {}
  void TestBody() override {
    ELM_REQUIRE_GPU();
    try {
      check_model_case_gpu(path_);
    } catch (const ElmError& e) {
      FAIL() << e.what();
    } catch (const H5::Exception& e) {
      FAIL() << path_ << ": " << e.getDetailMsg();
    }
  }

 private:
  std::string path_;
};

}  // namespace
}  // namespace elm::test

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const std::string dir = elm::test::golden_dir();
  const std::vector<fs::path> files = elm::test::golden_files();
  int registered = 0;
  for (const auto& f : files) {
    const std::string path = f.string();
    bool model_case = false;
    try {
      model_case = elm::test::is_model_case(path);
    } catch (...) {
      model_case = false;  // unreadable files are the CPU golden tests' business
    }
    if (!model_case) continue;
    std::string name = f.stem().string();
    std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
    testing::RegisterTest("GoldenGpu", name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [path]() -> testing::Test* { return new elm::test::GoldenGpuCase(path); });
    ++registered;
  }
  if (registered == 0)
    testing::RegisterTest("GoldenGpu", "NoModelCasesFound", nullptr, nullptr, __FILE__, __LINE__,
                          [dir]() -> testing::Test* {
                            struct Missing : testing::Test {
                              std::string d;
                              explicit Missing(std::string s) : d(std::move(s)) {}
                              void TestBody() override { FAIL() << "no golden model cases in " << d; }
                            };
                            return new Missing(dir);
                          });
  return RUN_ALL_TESTS();
}
