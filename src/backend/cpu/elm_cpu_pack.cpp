#include "backend/cpu/elm_cpu_pack.hpp"

#include "core/error.hpp"

namespace elm {

CpuElmPack::CpuElmPack(std::vector<ElmConfig> configs, std::vector<RoutingTable> routings, int threads)
    : CpuElmPack(std::move(configs), std::move(routings), threads, chosen_cpu_isa()) {}

CpuElmPack::CpuElmPack(std::vector<ElmConfig> configs, std::vector<RoutingTable> routings, int threads, CpuIsa isa)
    : isa_(isa) {
  ELM_CHECK(!configs.empty() && configs.size() == routings.size() && int(configs.size()) <= max_models(),
            "CpuElmPack: ", configs.size(), " configs and ", routings.size(), " routings (1 to ", max_models(), ")");
  for (size_t k = 0; k < configs.size(); ++k)
    models_.push_back(std::make_unique<CpuElm<float>>(configs[k], routings[k], threads, isa));
}

CpuElmPack::~CpuElmPack() = default;

void CpuElmPack::forward(std::span<const int> models, std::span<const float* const> params,
                         std::span<const InputBatch* const> x, std::span<float* const> y) {
  ELM_CHECK(!models.empty() && params.size() == models.size() && x.size() == models.size() &&
                y.size() == models.size(),
            "CpuElmPack::forward: ", models.size(), " models, ", params.size(), " parameter sets");
  last_.assign(models.begin(), models.end());
  for (size_t i = 0; i < models.size(); ++i) models_.at(size_t(models[i]))->forward(params[i], *x[i], y[i]);
}

void CpuElmPack::backward(std::span<const float* const> dy, std::span<float* const> grad) {
  ELM_CHECK(dy.size() == last_.size() && grad.size() == last_.size(), "CpuElmPack::backward: ", dy.size(),
            " models, the last forward had ", last_.size());
  for (size_t i = 0; i < last_.size(); ++i) models_[size_t(last_[i])]->backward(dy[i], grad[i]);
}

}  // namespace elm
