#pragma once
// The seam between CpuElmPack and its per-level lane kernels
// (elm_cpu_pack_impl.inc compiled by elm_cpu_pack_<level>.cpp), as
// elm_cpu_kernels.hpp is for CpuElm.
#include <memory>
#include <span>
#include <vector>

#include "backend/input_batch.hpp"
#include "model/elm_config.hpp"
#include "model/synapse_routing.hpp"

namespace elm {

class CpuElmPackKernels {
 public:
  virtual ~CpuElmPackKernels() = default;
  // As CpuElmPack::forward, arguments checked by the caller; lanes: 4, 8 or 16
  // (at most the level's vector width).
  virtual void forward(std::span<const int> models, std::span<const float* const> params,
                       std::span<const InputBatch* const> x, std::span<float* const> y, int lanes) = 0;
  virtual void backward(std::span<const float* const> dy, std::span<float* const> grad) = 0;
};

// configs (shapes checked equal) and routings are validated by the caller.
#define ELM_DECLARE_CPU_ELM_PACK_LEVEL(ns)                                                           \
  namespace ns {                                                                                   \
  std::unique_ptr<CpuElmPackKernels> make_cpu_elm_pack_kernels(const std::vector<ElmConfig>& configs, \
                                                               const std::vector<RoutingTable>& routings, \
                                                               int threads);                       \
  int cpu_pack_max_lanes();                                                                        \
  double cpu_fma_peak_gflops(double min_seconds);                                                  \
  }
ELM_DECLARE_CPU_ELM_PACK_LEVEL(cpu_baseline)
#if defined(__x86_64__)
ELM_DECLARE_CPU_ELM_PACK_LEVEL(cpu_avx2)
ELM_DECLARE_CPU_ELM_PACK_LEVEL(cpu_avx512)
#endif
#undef ELM_DECLARE_CPU_ELM_PACK_LEVEL

}  // namespace elm
