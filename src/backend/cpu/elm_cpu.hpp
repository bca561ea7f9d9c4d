#pragma once
// The exact reference ELM on the CPU: forward and backpropagation through time,
// templated on the scalar (float for training, double for gradient checks).
//
// Structure used where it is exact:
//  - the synapse/branch traces are linear in the input, so they are computed for
//    all steps before the nonlinear recurrence (and their adjoint after it);
//  - when every synapse of a branch has the same tau_s (always in v2, and in the
//    released v1 models), the per-synapse traces sum to one trace per branch;
//  - inputs stay compact: spike events and token ids touch only the synapses
//    they feed (InputFanout), never a dense frame.
//
// The kernels are compiled once per instruction-set level (cpu_isa.hpp) and the
// level is picked when the model is built: results differ between levels only
// by float rounding (FMA contraction, vector width of the sums).
#include <memory>

#include "backend/cpu/cpu_isa.hpp"
#include "backend/input_batch.hpp"
#include "model/elm_config.hpp"
#include "model/param_layout.hpp"
#include "model/synapse_routing.hpp"

namespace elm {

template <class T>
class CpuElmKernels;

template <class T>
class CpuElm {
 public:
  // isa: the instruction-set level of the kernels; chosen_cpu_isa() (the best
  // this CPU runs, or ELM_CPU_ISA) unless a caller picks one.
  CpuElm(const ElmConfig& config, const RoutingTable& routing, int threads = 1);
  CpuElm(const ElmConfig& config, const RoutingTable& routing, int threads, CpuIsa isa);
  ~CpuElm();
  CpuElm(const CpuElm&) = delete;
  CpuElm& operator=(const CpuElm&) = delete;

  const ElmConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }
  CpuIsa isa() const { return isa_; }

  // y: [B, T, d_o]. The input must outlive the following backward().
  void forward(const T* params, const InputBatch& x, T* y);
  // Writes dL/d(trainable params) into grad [layout().num_trainable()], given
  // dL/dy [B, T, d_o] for the batch of the last forward().
  void backward(const T* dy, T* grad);

  // True when the branch-trace form is exact for these parameters.
  bool uses_branch_traces() const;

 private:
  ElmConfig config_;
  ParamLayout layout_;
  CpuIsa isa_;
  std::unique_ptr<CpuElmKernels<T>> kernels_;
};

extern template class CpuElm<float>;
extern template class CpuElm<double>;

}  // namespace elm
