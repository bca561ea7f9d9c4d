#include "backend/cuda/cuda_arch.hpp"

#include <algorithm>
#include <charconv>

#include "build_config.hpp"
#include "core/error.hpp"

namespace elm::cuda {

namespace {
int parse_arch_number(std::string_view digits, std::string_view entry) {
  int v = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  ELM_CHECK(ec == std::errc() && end == digits.data() + digits.size() && v >= 10,
            "CUDA architecture '", entry, "' is not of the form 80, 80-real or 90-virtual");
  return v;
}
}  // namespace

CudaArchList parse_cuda_architectures(std::string_view list) {
  CudaArchList out;
  if (list == "native" || list == "all" || list == "all-major") {
    out.symbolic = list;
    return out;
  }
  size_t pos = 0;
  while (pos < list.size()) {
    const size_t end = std::min(list.find_first_of("; ", pos), list.size());
    const std::string_view entry = list.substr(pos, end - pos);
    pos = end + 1;
    if (entry.empty()) continue;
    const size_t dash = entry.find('-');
    const std::string_view kind = dash == std::string_view::npos ? "" : entry.substr(dash + 1);
    const int arch = parse_arch_number(entry.substr(0, dash), entry);
    ELM_CHECK(kind.empty() || kind == "real" || kind == "virtual", "CUDA architecture '", entry,
              "' is not of the form 80, 80-real or 90-virtual");
    if (kind != "virtual") out.sass.push_back(arch);
    if (kind != "real") out.ptx.push_back(arch);
  }
  for (auto* v : {&out.sass, &out.ptx}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  return out;
}

bool cuda_arch_runs_on(const CudaArchList& archs, int major, int minor) {
  if (!archs.symbolic.empty()) return true;
  const int cc = 10 * major + minor;
  for (int a : archs.sass)
    if (a / 10 == major && a % 10 <= minor) return true;
  for (int a : archs.ptx)
    if (a <= cc) return true;
  return false;
}

std::string describe_cuda_architectures(const CudaArchList& archs) {
  if (!archs.symbolic.empty()) return "CMAKE_CUDA_ARCHITECTURES=" + archs.symbolic;
  std::string s;
  for (int a : archs.sass) s += (s.empty() ? "sm_" : " sm_") + std::to_string(a);
  if (!archs.ptx.empty()) {
    s += s.empty() ? "PTX" : ", PTX";
    for (int a : archs.ptx) s += " compute_" + std::to_string(a);
  }
  return s.empty() ? "none" : s;
}

std::string cuda_no_code_message(int device, const std::string& name, int major, int minor,
                                 const CudaArchList& archs) {
  return detail::concat("GPU ", device, " (", name, ", compute capability ", major, ".", minor,
                        ") cannot run this elmrun: it was built for ", describe_cuda_architectures(archs),
                        "; rebuild with -DCMAKE_CUDA_ARCHITECTURES=", major, minor);
}

CudaArchList built_cuda_architectures() { return parse_cuda_architectures(kCudaArchitectures); }

}  // namespace elm::cuda
