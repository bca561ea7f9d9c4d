// analysis/convert_torch_checkpoint.py on bad input: exit status 1, one line on
// stderr naming the offending file, and no output file (nor temporary) left.
// The bad .pt files are made from a released model with torch.save.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <memory>

#include "model/elm_model.hpp"
#include "test_support.hpp"

namespace elm::test {
namespace {

std::string model_dir() { return shared_dir() + "/pretrained/torch/num_memory_15"; }
std::string model_config() { return model_dir() + "/model_config.json"; }

class ConverterErrors : public ::testing::Test {
 protected:
  // The bad .pt files, variants of the num_memory_15 state dict, are written on
  // first use by one Python run per process (torch's start-up dominates).
  static std::string pt(const std::string& name) {
    if (!written_) {
      written_ = true;
      const std::string script =
          "import sys, torch\n"
          "d = sys.argv[2]\n"
          "sd = torch.load(sys.argv[1], map_location='cpu')\n"
          "def save(name, s): torch.save(s, d + '/' + name)\n"
          "bad = dict(sd); bad['w_y.weight'] = torch.zeros(2, 16); save('wrong_shape.pt', bad)\n"
          "bad = dict(sd); del bad['w_y.bias']; save('missing_key.pt', bad)\n"
          "bad = dict(sd); bad['mlp.network.4.weight'] = torch.zeros(15, 15); save('unknown_key.pt', bad)\n"
          "bad = dict(sd); bad['w_y.bias'] = torch.tensor([float('nan'), 0.0]); save('nan.pt', bad)\n"
          "save('wrapped.pt', {'epoch': 3, 'model_state_dict': sd})\n"
          "ok = dict(sd); ok['_proto_tau_m'] = ok['_proto_tau_m'].clone(); ok['_proto_tau_m'][-1] = float('inf')\n"
          "save('inf_tau.pt', ok)\n";
      const auto r = run_command(shell_quote(torch_python()) + " -c " + shell_quote(script) + " " +
                                 shell_quote(model_dir() + "/neuronio_best_model_state.pt") + " " +
                                 shell_quote(dir_->path().string()));
      if (r.status != 0) problem_ = "could not write the test .pt files " + torch_python_hint() + ":\n" + r.stderr_text;
    }
    return dir_->file(name);
  }
  static void SetUpTestSuite() { dir_ = std::make_unique<TempDir>("elm-converter"); }
  static void TearDownTestSuite() { dir_.reset(); }

  // Runs the converter on `input` (with extra arguments) into a fresh output dir.
  CommandResult convert(const std::string& input, const std::string& extra = "") {
    if (!problem_.empty()) ADD_FAILURE() << problem_;
    out_dir_ = std::make_unique<TempDir>("elm-converter-out");
    out_ = out_dir_->file("out.h5");
    return run_command(shell_quote(torch_python()) + " " + shell_quote(converter_script()) + " " +
                       shell_quote(input) + " " + shell_quote(out_) + " --config " + shell_quote(model_config()) +
                       extra);
  }

  // Status 1, exactly one stderr line naming `file` and saying `reason`, no output.
  void expect_rejected(const CommandResult& r, const std::string& file, const std::string& reason) {
    EXPECT_EQ(r.status, 1) << r.stderr_text;
    const std::string prefix = "convert_torch_checkpoint: " + file + ": ";
    EXPECT_EQ(r.stderr_text.rfind(prefix, 0), 0u) << "stderr does not start with '" << prefix << "': " << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(reason), std::string::npos) << "stderr lacks '" << reason << "': " << r.stderr_text;
    ASSERT_FALSE(r.stderr_text.empty());
    EXPECT_EQ(r.stderr_text.back(), '\n');
    EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
    EXPECT_TRUE(std::filesystem::is_empty(out_dir_->path())) << "left files behind in " << out_dir_->path();
  }

  static std::unique_ptr<TempDir> dir_;
  static std::string problem_;
  static bool written_;
  std::unique_ptr<TempDir> out_dir_;
  std::string out_;
};
std::unique_ptr<TempDir> ConverterErrors::dir_;
std::string ConverterErrors::problem_;
bool ConverterErrors::written_ = false;

TEST_F(ConverterErrors, WrongShapeForTheConfig) {
  expect_rejected(convert(pt("wrong_shape.pt")), pt("wrong_shape.pt"), "'w_y.weight' has shape [2, 16]");
}

TEST_F(ConverterErrors, MissingKey) {
  expect_rejected(convert(pt("missing_key.pt")), pt("missing_key.pt"), "missing key 'w_y.bias'");
}

TEST_F(ConverterErrors, UnknownKey) {
  expect_rejected(convert(pt("unknown_key.pt")), pt("unknown_key.pt"), "unknown key 'mlp.network.4.weight'");
}

TEST_F(ConverterErrors, WrongVariant) {
  // The released v1 state dict read as v2: tau_s is unknown there.
  expect_rejected(convert(model_dir(), " --variant v2"), model_dir() + "/neuronio_best_model_state.pt",
                  "unknown key 'tau_s'");
}

TEST_F(ConverterErrors, NotATorchFile) {
  const std::string file = dir_->file("not_torch.pt");
  std::ofstream(file) << "this is not a torch file\n";
  expect_rejected(convert(file), file, "not a readable torch file");
}

TEST_F(ConverterErrors, NanParameter) {
  expect_rejected(convert(pt("nan.pt")), pt("nan.pt"), "'w_y.bias'[0] is nan");
}

TEST_F(ConverterErrors, MissingConfig) {
  // No --config and no model_config.json next to the .pt (checked before loading it).
  const std::string file = dir_->file("lonely.pt");
  std::ofstream(file) << "x";
  out_dir_ = std::make_unique<TempDir>("elm-converter-out");
  out_ = out_dir_->file("out.h5");
  const auto r = run_command(shell_quote(torch_python()) + " " + shell_quote(converter_script()) + " " +
                             shell_quote(file) + " " + shell_quote(out_));
  expect_rejected(r, dir_->file("model_config.json"), "model config not found");
}

// The control: a state dict wrapped under 'model_state_dict' converts, and reads back.
TEST_F(ConverterErrors, WrappedStateDictConverts) {
  const auto r = convert(pt("wrapped.pt"));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  EXPECT_EQ(r.stderr_text, "");
  const ElmModel m = read_checkpoint(out_);
  EXPECT_EQ(m.config.num_memory, 15);
  EXPECT_EQ(m.layout.num_trainable(), 6827);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(out_dir_->path()), {}), 1) << "temporary left behind";
}

// +inf in _proto_tau_m (tau_m saturated at tau_max, as the reference's init gives) is kept.
TEST_F(ConverterErrors, InfiniteProtoTauMIsKept) {
  const auto r = convert(pt("inf_tau.pt"));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  const ElmModel m = read_checkpoint(out_);
  const float last = m.params[m.layout.proto_tau_m() + m.config.num_memory - 1];
  EXPECT_TRUE(std::isinf(last) && last > 0) << last;
}

}  // namespace
}  // namespace elm::test
