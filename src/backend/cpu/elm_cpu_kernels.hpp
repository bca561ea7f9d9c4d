#pragma once
// The seam between CpuElm and its per-level kernels (elm_cpu_impl.inc compiled
// by elm_cpu_<level>.cpp): one factory per instruction-set level, each in its
// own namespace so the levels never share a symbol.
#include <memory>

#include "backend/input_batch.hpp"
#include "model/elm_config.hpp"
#include "model/synapse_routing.hpp"

namespace elm {

template <class T>
class CpuElmKernels {
 public:
  virtual ~CpuElmKernels() = default;
  virtual void forward(const T* params, const InputBatch& x, T* y) = 0;
  virtual void backward(const T* dy, T* grad) = 0;
  virtual bool uses_branch_traces() const = 0;
};

// config and routing are validated by the caller.
#define ELM_DECLARE_CPU_ELM_LEVEL(ns)                                                                       \
  namespace ns {                                                                                          \
  template <class T>                                                                                      \
  std::unique_ptr<CpuElmKernels<T>> make_cpu_elm_kernels(const ElmConfig& config, const RoutingTable& routing, \
                                                         int threads);                                    \
  }
ELM_DECLARE_CPU_ELM_LEVEL(cpu_baseline)
#if defined(__x86_64__)
ELM_DECLARE_CPU_ELM_LEVEL(cpu_avx2)
ELM_DECLARE_CPU_ELM_LEVEL(cpu_avx512)
#endif
#undef ELM_DECLARE_CPU_ELM_LEVEL

}  // namespace elm
