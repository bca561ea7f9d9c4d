#include "backend/cpu/elm_cpu.hpp"

#include <algorithm>

#include "backend/cpu/elm_cpu_kernels.hpp"
#include "core/error.hpp"

namespace elm {

namespace {
template <class T>
std::unique_ptr<CpuElmKernels<T>> make_kernels(CpuIsa isa, const ElmConfig& config, const RoutingTable& routing,
                                               int threads) {
  switch (isa) {
    case CpuIsa::Baseline: return cpu_baseline::make_cpu_elm_kernels<T>(config, routing, threads);
#if defined(__x86_64__)
    case CpuIsa::Avx2: return cpu_avx2::make_cpu_elm_kernels<T>(config, routing, threads);
    case CpuIsa::Avx512: return cpu_avx512::make_cpu_elm_kernels<T>(config, routing, threads);
#else
    default: break;
#endif
  }
  fail("CPU kernels for ", cpu_isa_name(isa), " are not in this build");
}
}  // namespace

template <class T>
CpuElm<T>::CpuElm(const ElmConfig& config, const RoutingTable& routing, int threads)
    : CpuElm(config, routing, threads, chosen_cpu_isa()) {}

template <class T>
CpuElm<T>::CpuElm(const ElmConfig& config, const RoutingTable& routing, int threads, CpuIsa isa)
    : config_(config), layout_(config), isa_(isa) {
  config_.validate();
  routing.validate(config_, "routing");
  ELM_CHECK(isa <= best_cpu_isa(), "CPU kernels for ", cpu_isa_name(isa), " requested, but this CPU runs at most ",
            cpu_isa_name(best_cpu_isa()));
  kernels_ = make_kernels<T>(isa, config_, routing, std::max(1, threads));
}

template <class T>
CpuElm<T>::~CpuElm() = default;

template <class T>
void CpuElm<T>::forward(const T* params, const InputBatch& x, T* y) {
  kernels_->forward(params, x, y);
}

template <class T>
void CpuElm<T>::backward(const T* dy, T* grad) {
  kernels_->backward(dy, grad);
}

template <class T>
bool CpuElm<T>::uses_branch_traces() const {
  return kernels_->uses_branch_traces();
}

template class CpuElm<float>;
template class CpuElm<double>;

}  // namespace elm
