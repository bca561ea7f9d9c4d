#pragma once
// Helpers shared by the unit tests: locations (shared dir, source tree, the
// torch-capable Python), scratch directories, running a command with its stderr
// captured, and the float comparisons of shared/golden/README.md.
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace elm::test {

// $ELM_SHARED_DIR, else <source>/../shared.
std::string shared_dir();
// The source tree (ELM_SOURCE_DIR, set by tests/CMakeLists.txt).
std::string source_dir();
// analysis/convert_torch_checkpoint.py in the source tree.
std::string converter_script();
// The Python that has torch, h5py and numpy: $ELM_TORCH_PYTHON, else /usr/bin/python3.
std::string torch_python();
// What to do when torch_python() lacks its modules, for failure messages.
std::string torch_python_hint();

// The elmrun executable under test: $ELMRUN (ctest sets it), else build/elmrun.
std::string elmrun();

// Single-quoted for /bin/sh.
std::string shell_quote(const std::string& s);

struct CommandResult {
  int status = -1;     // exit status; -1 when it did not exit normally
  std::string stderr_text;
};
// Runs `command` through /bin/sh with stderr captured (stdout is discarded).
CommandResult run_command(const std::string& command);

// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "elm-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Outputs and losses: |got - ref| <= max(1e-4 |ref|, 1e-5) for every entry.
// Every regular file under `dir` (relative names), for "nothing was written".
std::vector<std::string> files_under(const std::filesystem::path& dir);

// Runs f, which must throw an ElmError with a one-line message; returns the
// message (and fails the test otherwise).
std::string expect_one_line_elm_error(const std::function<void()>& f);

void expect_close_values(const std::vector<float>& got, const std::vector<float>& ref, const std::string& what);
// max |got - ref| <= tol * max |ref| (+1e-12) over a tensor, naming the largest error.
void expect_close_to_max(std::span<const float> got, std::span<const double> ref, double tol, const std::string& what);
void expect_close_to_max(std::span<const float> got, std::span<const float> ref, double tol, const std::string& what);
// Gradients: largest |got - ref| <= 1e-3 * max |ref| of the tensor.
void expect_close_gradient(const float* got, const std::vector<float>& ref, const std::string& what);

}  // namespace elm::test
