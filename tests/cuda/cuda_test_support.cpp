#include "cuda_test_support.hpp"

#include "core/rng.hpp"

namespace elm::test {

ElmConfig config_of(const SmallElm& c) {
  ElmConfig e;
  e.variant = c.variant;
  e.num_input = c.n_in;
  e.num_output = c.d_o;
  e.num_memory = c.dm;
  e.mlp_hidden_size = c.hidden;
  e.mlp_num_layers = c.layers;
  e.mlp_activation = c.silu ? MlpActivation::Silu : MlpActivation::Relu;
  e.num_branch = c.branches;
  e.num_synapse_per_branch = c.per_branch;
  e.routing = c.routing;
  e.learn_memory_tau = c.learn_tau;
  e.memory_tau_max = c.tau_max;
  e.routing_seed = 5;
  return e;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Dense: return "dense";
    case Kind::Spikes: return "spikes";
    default: return "tokens";
  }
}

InputBatch random_input(Kind kind, int B, int T, int n_in, double density, uint64_t seed) {
  RngStream rng(seed, 11);
  InputBatch x{B, T, n_in, {}};
  const int64_t rows = int64_t(B) * T;
  if (kind == Kind::Tokens) {
    TokenInput t;
    t.ids.resize(rows);
    for (auto& id : t.ids) id = int32_t(rng.below(n_in + 1)) - 1;
    x.data = std::move(t);
    return x;
  }
  DenseInput d;
  d.data.assign(rows * n_in, 0.0f);
  for (auto& v : d.data)
    if (rng.uniform() < density) v = kind == Kind::Spikes ? (rng.uniform() < 0.5 ? -1.0f : 1.0f) : float(rng.normal());
  x.data = std::move(d);
  return kind == Kind::Spikes ? spikes_from_dense(x) : x;
}

ElmModel random_model(const ElmConfig& c, uint64_t seed) {
  ElmModel m = ElmModel::initialized(c, seed);
  RngStream rng(seed, 99);
  const auto& L = m.layout;
  for (int64_t s = 0; s < c.synapses(); ++s) m.params[L.w_s() + s] = float(0.5 + 0.4 * rng.normal());
  for (int i = 0; i < c.num_memory; ++i) {
    float& p = m.params[L.proto_tau_m() + i];
    if (std::isfinite(p)) p += float(0.3 * rng.normal());
  }
  for (const auto& l : L.mlp())
    for (int64_t q = 0; q < int64_t(l.in) * l.out + l.out; ++q) m.params[l.weight + q] *= float(1.0 + 0.5 * rng.normal());
  for (int64_t q = 0; q < int64_t(c.num_output) * (c.num_memory + 1); ++q)
    m.params[L.w_y() + q] += float(0.1 * rng.normal());
  return m;
}

}  // namespace elm::test
