#include "test_support.hpp"

#include "core/error.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace elm::test {

std::string source_dir() {
#ifdef ELM_SOURCE_DIR
  return ELM_SOURCE_DIR;
#else
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().string();
#endif
}

std::string shared_dir() {
  if (const char* s = std::getenv("ELM_SHARED_DIR"); s && *s) return s;
  return source_dir() + "/../shared";
}

std::string elmrun() {
  const char* p = std::getenv("ELMRUN");
  return p && *p ? p : source_dir() + "/build/elmrun";
}

std::string converter_script() { return source_dir() + "/analysis/convert_torch_checkpoint.py"; }

std::string torch_python() {
  if (const char* s = std::getenv("ELM_TORCH_PYTHON"); s && *s) return s;
  return "/usr/bin/python3";
}

std::string torch_python_hint() {
  return "(the converter needs " + torch_python() + " with torch, h5py and numpy: install python3-torch, "
         "python3-h5py and python3-numpy, or point ELM_TORCH_PYTHON at such a Python)";
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CommandResult run_command(const std::string& command) {
  TempDir scratch("elm-cmd");
  const std::string err = scratch.file("stderr");
  CommandResult r;
  const int raw = std::system((command + " >/dev/null 2>" + shell_quote(err)).c_str());
  r.status = raw != -1 && WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  r.stderr_text = ss.str();
  return r;
}

TempDir::TempDir(const std::string& tag) {
  std::string templ = (std::filesystem::temp_directory_path() / (tag + "-XXXXXX")).string();
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed for " + templ);
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void expect_close_values(const std::vector<float>& got, const std::vector<float>& ref, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double tol = std::max(1e-4 * std::abs(double(ref[i])), 1e-5);
    if (!(std::abs(double(got[i]) - double(ref[i])) <= tol) && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", reference " << ref[i];
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << ref.size() << " entries outside tolerance";
}

namespace {
template <class R>
void close_to_max(std::span<const float> got, std::span<const R> ref, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  double scale = 0, worst = 0;
  size_t wi = 0;
  for (R r : ref) scale = std::max(scale, std::abs(double(r)));
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = std::abs(double(got[i]) - double(ref[i]));
    if (std::isnan(e) || e > worst) worst = std::isnan(e) ? INFINITY : e, wi = i;
  }
  EXPECT_LE(worst, tol * scale + 1e-12) << what << ": largest error " << worst << " at " << wi << " (got "
                                        << (got.empty() ? 0.f : got[wi]) << ", reference "
                                        << (ref.empty() ? 0.0 : double(ref[wi])) << ", scale " << scale << ")";
}
}  // namespace

void expect_close_to_max(std::span<const float> got, std::span<const double> ref, double tol, const std::string& what) {
  close_to_max(got, ref, tol, what);
}
void expect_close_to_max(std::span<const float> got, std::span<const float> ref, double tol, const std::string& what) {
  close_to_max(got, ref, tol, what);
}

void expect_close_gradient(const float* got, const std::vector<float>& ref, const std::string& what) {
  expect_close_to_max({got, ref.size()}, std::span<const float>(ref), 1e-3, what);
}

std::string expect_one_line_elm_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ElmError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ElmError, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected ElmError, got success";
  return {};
}

std::vector<std::string> files_under(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(std::filesystem::relative(e.path(), dir).string());
  return out;
}

}  // namespace elm::test
