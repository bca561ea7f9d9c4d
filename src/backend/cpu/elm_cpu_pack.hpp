#pragma once
// K same-shape ELM models trained in one pass on the CPU (float), each model's
// outputs and gradients bitwise equal to what CpuElm<float> computes for it
// alone (same thread count, same instruction-set level).
//
// Two ways to run a pass, the same bits either way (Mode):
//  - Lanes: the models sit in the lanes of the vector registers. Every array
//    of the memory recurrence gets an innermost lane dimension, so each scalar
//    operation of the single-model kernel becomes one vector operation over
//    the models, and each dense product a per-lane chain of multiply-adds in
//    the single-model kernel's order (register tiles of batch rows x output
//    columns; the weight gradients summed block by block inside the backward
//    sweep). The synapse/branch traces depend on each model's own input and
//    routing: their input sums run per model with the single-model code
//    (elm_cpu_model_parts.inc), their decay along time and its adjoint as lane
//    vectors. tanh and sigmoid come from one lane-wise formula (vec_math.inc)
//    that CpuElm<float> uses too. 16 lanes (AVX-512), 8 (AVX2, or AVX-512 with
//    at most 8 models) or 4 (baseline); more models than lanes run as several
//    groups.
//  - PerModel: the models one after another with CpuElm<float>.
// Measured on the AMD Zen 5 development machine (BENCHMARKS.md, "Packed
// models"), neither way makes a model's step cheaper than one model trained
// alone: CpuElm<float> already fills its vectors with 16 output columns and
// feeds them broadcast operands, so the lanes execute as many vector
// multiply-adds per model with more loads, while the working set of K models
// (weights, stored activations) leaves L1/L2 in both ways and the traces'
// input sums stay per model. Lanes beat PerModel only for small MLPs with
// 16-lane vectors nearly full, and no longer since the single-model products
// take two column tiles at once: Auto runs PerModel (auto_mode).
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "backend/cpu/cpu_isa.hpp"
#include "backend/cpu/elm_cpu.hpp"
#include "backend/input_batch.hpp"
#include "model/elm_config.hpp"
#include "model/param_layout.hpp"
#include "model/synapse_routing.hpp"

namespace elm {

class CpuElmPackKernels;

class CpuElmPack {
 public:
  // One entry per model: configs must agree in every shape (num_input, num_branch, num_synapse_per_branch,
  // num_memory, mlp sizes/activation, num_output, variant, learn_memory_tau); scalar settings (lambda_value,
  // memory_tau_min/max, delta_t, ...) may differ per model; routing may differ per model (random_routing is
  // seeded). Mismatched shapes: ElmError naming the first differing key.
  CpuElmPack(std::vector<ElmConfig> configs, std::vector<RoutingTable> routings, int threads = 1);
  CpuElmPack(std::vector<ElmConfig> configs, std::vector<RoutingTable> routings, int threads, CpuIsa isa);
  ~CpuElmPack();
  CpuElmPack(const CpuElmPack&) = delete;
  CpuElmPack& operator=(const CpuElmPack&) = delete;

  int size() const;         // models in the pack
  static int max_models();  // 16
  CpuIsa isa() const;
  const ParamLayout& layout() const { return layout_; }  // every model's (they share their shapes)
  const ElmConfig& config(int model) const { return configs_.at(size_t(model)); }

  // models: indices (ascending, non-empty, < size()) of the models taking part in this pass; params[i], x[i], y[i]
  // belong to models[i]. All x[i] have the same batch and steps. y[i]: [B, T, d_o]. The inputs must outlive the
  // following backward().
  void forward(std::span<const int> models, std::span<const float* const> params,
               std::span<const InputBatch* const> x, std::span<float* const> y);
  // For the models of the last forward, in the same order: dy[i] [B,T,d_o] -> grad[i] [num_trainable].
  void backward(std::span<const float* const> dy, std::span<float* const> grad);
  // One training pass: forward, loss(i) (which fills dy[i] from y[i]) for each
  // model, backward. Where the pass runs the models one after another
  // (one_by_one) each model's forward, loss and backward run in turn, one
  // model's activations in cache at a time; otherwise K forwards, the K
  // losses, then one backward. The same bits either way.
  void forward_loss_backward(std::span<const int> models, std::span<const float* const> params,
                             std::span<const InputBatch* const> x, std::span<float* const> y,
                             std::span<const float* const> dy, std::span<float* const> grad,
                             const std::function<void(size_t)>& loss);

  // How a pass runs (see the top of this file). Auto: what auto_mode()
  // picks. Every mode gives the same bits.
  enum class Mode { Auto, Lanes, PerModel };
  void set_mode(Mode mode) { mode_ = mode; }
  Mode mode() const { return mode_; }
  // Lanes per vector group (4, 8 or 16, at most the level's vector width); 0: the
  // narrowest of 8/16 that holds the pass's models (4 on the baseline level).
  void set_lane_width(int lanes);
  // How the last forward ran: lanes per group (0: PerModel).
  int last_lane_width() const { return last_lanes_; }
  // What Auto picks for a pass of `models` models: PerModel, which the
  // measurements put ahead of Lanes for every K and workload (elm_cpu_pack.cpp).
  Mode auto_mode(int models) const;
  // A pass of `models` models runs them one after another (PerModel, set or
  // picked by Auto).
  bool one_by_one(int models) const {
    return (mode_ == Mode::Auto ? auto_mode(models) : mode_) == Mode::PerModel;
  }

 private:
  std::vector<ElmConfig> configs_;
  std::vector<RoutingTable> routings_;
  ParamLayout layout_;
  int threads_;
  CpuIsa isa_;
  Mode mode_ = Mode::Auto;
  int lane_width_ = 0;
  int last_lanes_ = -1;
  std::unique_ptr<CpuElmPackKernels> kernels_;
  std::vector<std::unique_ptr<CpuElm<float>>> single_;  // PerModel passes, made on first use
  std::vector<int> last_models_;
};

// This core's floating-point peak at an instruction-set level, GFLOP/s: a loop
// of independent vector FMAs (multiply + add where the level has no FMA) over
// at least min_seconds, counting 2 flop per lane.
double cpu_fma_peak_gflops(CpuIsa isa, double min_seconds = 0.2);

}  // namespace elm
