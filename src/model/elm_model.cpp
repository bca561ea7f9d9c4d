#include "model/elm_model.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace elm {

ElmModel::ElmModel(const ElmConfig& c) : config(c), layout(c), params(layout.num_params(), 0.0f) {
  config.validate();
  routing = RoutingTable::build(c);
}

template <class T>
T tau_m_from_proto(T proto, double tau_min, double tau_max) {
  const T sig = T(1) / (T(1) + std::exp(-proto));
  return T(tau_max - tau_min) * sig + T(tau_min);
}
template float tau_m_from_proto<float>(float, double, double);
template double tau_m_from_proto<double>(double, double, double);

std::vector<float> initial_proto_tau_m(const ElmConfig& c) {
  const int n = c.num_memory;
  const double lo = c.memory_tau_min, hi = c.effective_tau_max();
  const double a = std::log10(lo + 1e-6), b = std::log10(hi - 1e-6);
  const float clamp_lo = static_cast<float>(lo + 1e-6), clamp_hi = static_cast<float>(hi - 1e-6);
  std::vector<float> proto(n);
  for (int i = 0; i < n; ++i) {
    const double e = n == 1 ? a : a + (b - a) * i / (n - 1);
    float tau = static_cast<float>(std::pow(10.0, e));
    tau = std::min(std::max(tau, clamp_lo), clamp_hi);
    // float32 as the reference: when hi - 1e-6 rounds to hi this is log(x/0) = +inf.
    proto[i] = std::log((tau - static_cast<float>(lo)) / (static_cast<float>(hi) - tau));
  }
  return proto;
}

ElmModel ElmModel::initialized(const ElmConfig& c, uint64_t seed) {
  ElmModel m(c);
  RngStream rng(seed, 0x696e6974ULL);
  auto uniform_fill = [&](int64_t offset, int64_t n, double bound) {
    for (int64_t i = 0; i < n; ++i) m.params[offset + i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
  };
  for (const auto& layer : m.layout.mlp()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(layer.in));
    uniform_fill(layer.weight, int64_t(layer.in) * layer.out, bound);
    uniform_fill(layer.bias, layer.out, bound);
  }
  const double wy_bound = 1.0 / std::sqrt(static_cast<double>(c.num_memory));
  uniform_fill(m.layout.w_y(), int64_t(c.num_output) * c.num_memory, wy_bound);
  uniform_fill(m.layout.b_y(), c.num_output, wy_bound);
  for (int64_t s = 0; s < c.synapses(); ++s) m.params[m.layout.w_s() + s] = static_cast<float>(c.w_s_value);
  const auto proto = initial_proto_tau_m(c);
  std::copy(proto.begin(), proto.end(), m.params.begin() + m.layout.proto_tau_m());
  const bool v1 = c.variant == ElmVariant::V1;
  const int64_t n_trace = v1 ? c.synapses() : c.branches();
  const float tau = static_cast<float>(v1 ? c.tau_s_value : c.tau_b_value);
  for (int64_t i = 0; i < n_trace; ++i) m.params[m.layout.trace_tau() + i] = tau;
  // The two-tower head last, so the tower's init does not depend on it.
  if (m.layout.has_head()) {
    const auto& h = m.layout.head();
    const double b0 = 1.0 / std::sqrt(4.0 * h.latent), b2 = 1.0 / std::sqrt(static_cast<double>(h.hidden));
    uniform_fill(h.w0, int64_t(h.hidden) * 4 * h.latent, b0);
    uniform_fill(h.b0, h.hidden, b0);
    uniform_fill(h.w2, int64_t(h.classes) * h.hidden, b2);
    uniform_fill(h.b2, h.classes, b2);
  }
  return m;
}

}  // namespace elm
