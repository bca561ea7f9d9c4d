#include "backend/cpu/elm_cpu_pack.hpp"

#include <algorithm>
#include <sstream>

#include "backend/cpu/elm_cpu_pack_kernels.hpp"
#include "core/error.hpp"

namespace elm {

namespace {

std::unique_ptr<CpuElmPackKernels> make_kernels(CpuIsa isa, const std::vector<ElmConfig>& configs,
                                                const std::vector<RoutingTable>& routings, int threads) {
  switch (isa) {
    case CpuIsa::Baseline: return cpu_baseline::make_cpu_elm_pack_kernels(configs, routings, threads);
#if defined(__x86_64__)
    case CpuIsa::Avx2: return cpu_avx2::make_cpu_elm_pack_kernels(configs, routings, threads);
    case CpuIsa::Avx512: return cpu_avx512::make_cpu_elm_pack_kernels(configs, routings, threads);
#else
    default: break;
#endif
  }
  fail("CPU kernels for ", cpu_isa_name(isa), " are not in this build");
}

int max_lanes(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Baseline: return cpu_baseline::cpu_pack_max_lanes();
#if defined(__x86_64__)
    case CpuIsa::Avx2: return cpu_avx2::cpu_pack_max_lanes();
    case CpuIsa::Avx512: return cpu_avx512::cpu_pack_max_lanes();
#else
    default: break;
#endif
  }
  return 4;
}

template <class V>
std::string text(const V& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// The keys that fix a model's shapes, in the order they are compared.
struct ShapeKey {
  const char* name;
  std::string (*value)(const ElmConfig&);
};
const ShapeKey kShapeKeys[] = {
    {"variant", [](const ElmConfig& c) { return std::string(to_string(c.variant)); }},
    {"num_input", [](const ElmConfig& c) { return text(c.num_input); }},
    {"num_branch", [](const ElmConfig& c) { return text(c.branches()); }},
    {"num_synapse_per_branch", [](const ElmConfig& c) { return text(c.num_synapse_per_branch); }},
    {"num_memory", [](const ElmConfig& c) { return text(c.num_memory); }},
    {"mlp_num_layers", [](const ElmConfig& c) { return text(c.mlp_num_layers); }},
    {"mlp_hidden_size", [](const ElmConfig& c) { return text(c.hidden()); }},
    {"mlp_activation", [](const ElmConfig& c) { return std::string(to_string(c.mlp_activation)); }},
    {"num_output", [](const ElmConfig& c) { return text(c.num_output); }},
    {"learn_memory_tau", [](const ElmConfig& c) { return std::string(c.learn_memory_tau ? "true" : "false"); }},
    {"head_hidden", [](const ElmConfig& c) { return text(c.head_hidden); }},
};

const ElmConfig& first_config(const std::vector<ElmConfig>& configs) {
  ELM_CHECK(!configs.empty(), "CpuElmPack: no models");
  return configs.front();
}

}  // namespace

CpuElmPack::CpuElmPack(std::vector<ElmConfig> configs, std::vector<RoutingTable> routings, int threads)
    : CpuElmPack(std::move(configs), std::move(routings), threads, chosen_cpu_isa()) {}

CpuElmPack::CpuElmPack(std::vector<ElmConfig> configs, std::vector<RoutingTable> routings, int threads, CpuIsa isa)
    : configs_(std::move(configs)),
      routings_(std::move(routings)),
      layout_(first_config(configs_)),
      threads_(std::max(1, threads)),
      isa_(isa) {
  const int K = int(configs_.size());
  ELM_CHECK(K <= max_models(), "CpuElmPack: ", K, " models, at most ", max_models());
  ELM_CHECK(routings_.size() == configs_.size(), "CpuElmPack: ", configs_.size(), " configs but ", routings_.size(),
            " routing tables");
  for (int i = 0; i < K; ++i) {
    const std::string where = "model " + std::to_string(i);
    configs_[i].validate(where);
    for (const ShapeKey& key : kShapeKeys) {
      const std::string a = key.value(configs_[0]), b = key.value(configs_[i]);
      ELM_CHECK(a == b, "CpuElmPack: model ", i, " differs from model 0 in ", key.name, " (", b, " vs ", a,
                "): packed models must agree in every shape");
    }
    routings_[i].validate(configs_[i], where + " routing");
  }
  ELM_CHECK(configs_[0].head_hidden == 0, "CpuElmPack: two-tower models (head_hidden > 0) cannot be packed");
  ELM_CHECK(isa <= best_cpu_isa(), "CPU kernels for ", cpu_isa_name(isa), " requested, but this CPU runs at most ",
            cpu_isa_name(best_cpu_isa()));
  kernels_ = make_kernels(isa, configs_, routings_, threads_);
  single_.resize(K);
}

CpuElmPack::~CpuElmPack() = default;

int CpuElmPack::size() const { return int(configs_.size()); }
int CpuElmPack::max_models() { return 16; }
CpuIsa CpuElmPack::isa() const { return isa_; }

void CpuElmPack::set_lane_width(int lanes) {
  ELM_CHECK(lanes == 0 || ((lanes == 4 || lanes == 8 || lanes == 16) && lanes <= max_lanes(isa_)),
            "CpuElmPack: ", lanes, " lanes per group: use 0 (auto), 4, 8 or 16, at most ", max_lanes(isa_), " at ",
            cpu_isa_name(isa_));
  lane_width_ = lanes;
}

CpuElmPack::Mode CpuElmPack::auto_mode(int /*models*/) const {
  // From `elmrun bench --pack ... --pack-mode lanes|per-model` (BENCHMARKS.md,
  // "CPU kernels with two column tiles per product"): since the single-model
  // products take two column tiles at once and a PerModel pack runs each
  // model's forward, loss and backward in turn (one_by_one), running the
  // models one after another is ahead of lanes at every K measured, 12 and 16
  // models of neuronio_dm15 (2,250 MLP weights) included: 0.88-0.90 against
  // 0.79-0.82 of one model's speed per model at K = 16. Lanes stay available
  // (set_mode), with the same bits.
  return Mode::PerModel;
}

void CpuElmPack::forward(std::span<const int> models, std::span<const float* const> params,
                         std::span<const InputBatch* const> x, std::span<float* const> y) {
  const int K = int(models.size());
  ELM_CHECK(K >= 1, "CpuElmPack::forward: no models");
  ELM_CHECK(params.size() == models.size() && x.size() == models.size() && y.size() == models.size(),
            "CpuElmPack::forward: ", models.size(), " models but ", params.size(), " parameter buffers, ", x.size(),
            " inputs and ", y.size(), " outputs");
  for (int i = 0; i < K; ++i) {
    ELM_CHECK(models[i] >= 0 && models[i] < size(), "CpuElmPack::forward: model ", models[i], " is not in [0, ",
              size(), ")");
    ELM_CHECK(i == 0 || models[i] > models[i - 1], "CpuElmPack::forward: model indices must ascend (", models[i],
              " after ", models[i - 1], ")");
    ELM_CHECK(params[i] != nullptr && x[i] != nullptr && y[i] != nullptr, "CpuElmPack::forward: null buffer for model ",
              models[i]);
    ELM_CHECK(x[i]->channels == configs_[0].num_input, "input of model ", models[i], " has ", x[i]->channels,
              " channels, the model expects ", configs_[0].num_input);
    ELM_CHECK(x[i]->batch == x[0]->batch && x[i]->steps == x[0]->steps, "CpuElmPack::forward: input of model ",
              models[i], " is ", x[i]->batch, " x ", x[i]->steps, ", model ", models[0], "'s ", x[0]->batch, " x ",
              x[0]->steps, " (batch x steps must agree)");
  }
  last_models_.assign(models.begin(), models.end());
  if (one_by_one(K)) {
    last_lanes_ = 0;
    for (int i = 0; i < K; ++i) {
      auto& s = single_[size_t(models[i])];
      if (!s) s = std::make_unique<CpuElm<float>>(configs_[models[i]], routings_[models[i]], threads_, isa_);
      s->forward(params[i], *x[i], y[i]);
    }
    return;
  }
  int lanes = lane_width_;
  if (lanes == 0) lanes = std::min(max_lanes(isa_), K <= 8 ? 8 : 16);
  lanes = std::max(lanes, 4);
  last_lanes_ = lanes;
  kernels_->forward(models, params, x, y, lanes);
}

void CpuElmPack::backward(std::span<const float* const> dy, std::span<float* const> grad) {
  ELM_CHECK(last_lanes_ >= 0, "CpuElmPack::backward() called before forward()");
  const size_t K = last_models_.size();
  ELM_CHECK(dy.size() == K && grad.size() == K, "CpuElmPack::backward: the last forward had ", K, " models, got ",
            dy.size(), " dL/dy and ", grad.size(), " gradient buffers");
  if (last_lanes_ == 0) {
    for (size_t i = 0; i < K; ++i) single_[size_t(last_models_[i])]->backward(dy[i], grad[i]);
    return;
  }
  kernels_->backward(dy, grad);
}

void CpuElmPack::forward_loss_backward(std::span<const int> models, std::span<const float* const> params,
                                       std::span<const InputBatch* const> x, std::span<float* const> y,
                                       std::span<const float* const> dy, std::span<float* const> grad,
                                       const std::function<void(size_t)>& loss) {
  ELM_CHECK(dy.size() == models.size() && grad.size() == models.size(), "CpuElmPack::forward_loss_backward: ",
            models.size(), " models but ", dy.size(), " dL/dy and ", grad.size(), " gradient buffers");
  if (one_by_one(int(models.size()))) {
    for (size_t i = 0; i < models.size(); ++i) {
      forward(models.subspan(i, 1), params.subspan(i, 1), x.subspan(i, 1), y.subspan(i, 1));
      loss(i);
      backward(dy.subspan(i, 1), grad.subspan(i, 1));
    }
    return;
  }
  forward(models, params, x, y);
  for (size_t i = 0; i < models.size(); ++i) loss(i);
  backward(dy, grad);
}

double cpu_fma_peak_gflops(CpuIsa isa, double min_seconds) {
  ELM_CHECK(isa <= best_cpu_isa(), "FMA peak at ", cpu_isa_name(isa), " requested, but this CPU runs at most ",
            cpu_isa_name(best_cpu_isa()));
  switch (isa) {
    case CpuIsa::Baseline: return cpu_baseline::cpu_fma_peak_gflops(min_seconds);
#if defined(__x86_64__)
    case CpuIsa::Avx2: return cpu_avx2::cpu_fma_peak_gflops(min_seconds);
    case CpuIsa::Avx512: return cpu_avx512::cpu_fma_peak_gflops(min_seconds);
#else
    default: break;
#endif
  }
  return 0;
}

}  // namespace elm
