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
#include <memory>
#include <vector>

#include "backend/input_batch.hpp"
#include "model/elm_config.hpp"
#include "model/param_layout.hpp"
#include "model/synapse_routing.hpp"

namespace elm {

template <class T>
class CpuElm {
 public:
  CpuElm(const ElmConfig& config, const RoutingTable& routing, int threads = 1);
  ~CpuElm();
  CpuElm(const CpuElm&) = delete;
  CpuElm& operator=(const CpuElm&) = delete;

  const ElmConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }

  // y: [B, T, d_o]. The input must outlive the following backward().
  void forward(const T* params, const InputBatch& x, T* y);
  // Writes dL/d(trainable params) into grad [layout().num_trainable()], given
  // dL/dy [B, T, d_o] for the batch of the last forward().
  void backward(const T* dy, T* grad);

  // True when the branch-trace form is exact for these parameters.
  bool uses_branch_traces() const { return branch_traces_; }

  struct Chunk;  // per-thread workspace (samples [b0, b1))

 private:
  void prepare(const T* params);
  void forward_chunk(Chunk& c);
  void backward_chunk(Chunk& c, const T* dy);

  ElmConfig config_;
  ParamLayout layout_;
  RoutingTable routing_;
  InputFanout fanout_;
  std::vector<int32_t> synapse_branch_;  // branch of each synapse
  int threads_;
  bool branch_traces_ = true;

  // Derived from the parameters at forward() time.
  const T* params_ = nullptr;
  const InputBatch* input_ = nullptr;
  std::vector<T> w_eff_;          // relu(proto_w_s), masked
  std::vector<T> trace_kappa_;    // per branch (branch traces) or per synapse
  std::vector<T> kappa_m_, tau_m_, update_scale_, kappa_lambda_;
  std::vector<std::vector<T>> weight_t_;  // MLP weights transposed, [in][out padded]
  std::vector<std::vector<T>> weight_p_;  // MLP weights, [out][in padded]
  std::vector<std::unique_ptr<Chunk>> chunks_;
};

extern template class CpuElm<float>;
extern template class CpuElm<double>;

}  // namespace elm
