#pragma once
// K ELM models of one shape trained in one pass (packed sweeps). For every
// model the outputs and gradients are bitwise those of CpuElm<float> with the
// same config, routing, threads and instruction-set level.
#include <memory>
#include <span>
#include <vector>

#include "backend/cpu/elm_cpu.hpp"

namespace elm {

class CpuElmPack {
 public:
  // One entry per model; configs agree in every shape, scalar settings and
  // routing may differ per model.
  CpuElmPack(std::vector<ElmConfig> configs, std::vector<RoutingTable> routings, int threads = 1);
  CpuElmPack(std::vector<ElmConfig> configs, std::vector<RoutingTable> routings, int threads, CpuIsa isa);
  ~CpuElmPack();
  int size() const { return int(models_.size()); }
  static int max_models() { return 16; }
  CpuIsa isa() const { return isa_; }

  // models: ascending indices of the models in this pass; params[i], x[i], y[i] belong to models[i].
  void forward(std::span<const int> models, std::span<const float* const> params,
               std::span<const InputBatch* const> x, std::span<float* const> y);
  // For the models of the last forward, in the same order.
  void backward(std::span<const float* const> dy, std::span<float* const> grad);

 private:
  CpuIsa isa_;
  std::vector<std::unique_ptr<CpuElm<float>>> models_;
  std::vector<int> last_;
};

}  // namespace elm
