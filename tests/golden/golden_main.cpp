// Registers one test per *.h5 file of the golden directory, by content:
// a file of no known kind becomes a failing test, never a silent pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "check_model_case.hpp"
#include "core/error.hpp"
#include "golden_paths.hpp"

#if __has_include("check_optimizer_case.hpp")
#include "check_metrics_case.hpp"
#include "check_optimizer_case.hpp"
#define ELM_HAVE_OPTIM_CHECKS 1
#endif

namespace fs = std::filesystem;

namespace {

class GoldenCase : public testing::Test {
 public:
  explicit GoldenCase(std::string path) : path_(std::move(path)) {}
  void TestBody() override {
    try {
      if (elm::test::is_model_case(path_)) return elm::test::check_model_case(path_);
#ifdef ELM_HAVE_OPTIM_CHECKS
      {
        H5::H5File f(path_, H5F_ACC_RDONLY);
        if (elm::is_optimizer_case(f)) return elm::check_optimizer_case(path_);
        if (elm::is_metrics_case(f)) return elm::check_metrics_case(path_);
      }
#endif
      FAIL() << path_ << ": golden file of unknown kind (neither model, optimizer nor metrics case)";
    } catch (const elm::ElmError& e) {
      FAIL() << e.what();
    } catch (const H5::Exception& e) {
      FAIL() << path_ << ": " << e.getDetailMsg();
    }
  }

 private:
  std::string path_;
};

std::string test_name(const fs::path& p) {
  std::string s = p.stem().string();
  std::replace_if(s.begin(), s.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const std::string dir = elm::test::golden_dir();
  const std::vector<fs::path> files = elm::test::golden_files();
  if (files.empty()) {
    testing::RegisterTest("GoldenCase", "NoCasesFound", nullptr, nullptr, __FILE__, __LINE__,
                          [dir]() -> testing::Test* { return new GoldenCase(dir + "/<no *.h5 files>"); });
  }
  for (const auto& f : files) {
    const std::string path = f.string();
    testing::RegisterTest("GoldenCase", test_name(f).c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [path]() -> testing::Test* { return new GoldenCase(path); });
  }
  return RUN_ALL_TESTS();
}
