#include "backend/cpu/elm_cpu.hpp"

#include <algorithm>
#include <cmath>

#include "backend/cpu/dense_kernels.hpp"
#include "backend/cpu/denormals.hpp"
#include "core/error.hpp"

namespace elm {

namespace {
constexpr double kTanhScale = 1.7159;  // LeCun's scaled tanh: 1.7159 * tanh(2x/3)
constexpr double kTanhSlope = 2.0 / 3.0;

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
}  // namespace

template <class T>
struct CpuElm<T>::Chunk {
  int b0 = 0, nb = 0;
  std::vector<T> z;                       // [T][nb][d_b] trace values (their adjoints in backward)
  std::vector<T> m;                       // [T+1][nb][d_m], m[0] = initial zero state
  std::vector<T> x0;                      // [T][nb][padded(d_b + d_m)] MLP input
  std::vector<std::vector<T>> pre, post;  // per hidden layer [T][nb][H], post padded to [T][nb][padded(H)]
  std::vector<T> g;                       // [T][nb][d_m] tanh(2a/3)
  std::vector<T> grad;                    // [num_trainable]
};

template <class T>
CpuElm<T>::CpuElm(const ElmConfig& config, const RoutingTable& routing, int threads)
    : config_(config), layout_(config), routing_(routing), threads_(std::max(1, threads)) {
  config_.validate();
  routing_.validate(config_, "routing");
  fanout_ = InputFanout::build(routing_, config_.num_input);
  synapse_branch_.resize(config_.synapses());
  for (int s = 0; s < config_.synapses(); ++s) synapse_branch_[s] = s / config_.num_synapse_per_branch;
  weight_t_.resize(layout_.mlp().size());
  weight_p_.resize(layout_.mlp().size());
}

template <class T>
CpuElm<T>::~CpuElm() = default;

template <class T>
void CpuElm<T>::prepare(const T* p) {
  const ElmConfig& c = config_;
  const int ds = c.synapses(), db = c.branches(), dm = c.num_memory;
  params_ = p;
  w_eff_.resize(ds);
  for (int s = 0; s < ds; ++s) {
    const T w = p[layout_.w_s() + s];
    w_eff_[s] = routing_.valid[s] && w > T(0) ? w : T(0);
  }
  auto kappa = [&](T tau) { return std::exp(-T(c.delta_t) / std::max(tau, T(1e-6))); };
  const T* trace_tau = p + layout_.trace_tau();
  if (c.variant == ElmVariant::V2) {
    branch_traces_ = true;
    trace_kappa_.resize(db);
    for (int j = 0; j < db; ++j) trace_kappa_[j] = kappa(trace_tau[j]);
  } else {
    const int k = c.num_synapse_per_branch;
    branch_traces_ = true;
    for (int s = 0; s < ds && branch_traces_; ++s) branch_traces_ = trace_tau[s] == trace_tau[(s / k) * k];
    trace_kappa_.resize(branch_traces_ ? db : ds);
    for (size_t i = 0; i < trace_kappa_.size(); ++i) trace_kappa_[i] = kappa(trace_tau[branch_traces_ ? i * k : i]);
  }
  const double tau_min = c.memory_tau_min, tau_max = c.effective_tau_max();
  kappa_m_.resize(dm);
  tau_m_.resize(dm);
  update_scale_.resize(dm);
  kappa_lambda_.resize(dm);
  for (int i = 0; i < dm; ++i) {
    const T sig = sigmoid(p[layout_.proto_tau_m() + i]);
    tau_m_[i] = T(tau_max - tau_min) * sig + T(tau_min);
    const T tau = std::max(tau_m_[i], T(1e-6));
    kappa_m_[i] = std::exp(-T(c.delta_t) / tau);
    kappa_lambda_[i] = std::exp(-T(c.delta_t) * T(c.lambda_value) / tau);
    update_scale_[i] = c.variant == ElmVariant::V1 ? T(c.lambda_value) * (T(1) - kappa_m_[i]) : T(1) - kappa_lambda_[i];
  }
  constexpr int C = cpu::kCols<T>;
  for (size_t l = 0; l < layout_.mlp().size(); ++l) {
    const auto& L = layout_.mlp()[l];
    const T* w = p + L.weight;
    const int out_p = cpu::padded(L.out, C), in_p = cpu::padded(L.in, C);
    weight_t_[l].assign(size_t(L.in) * out_p, T(0));
    weight_p_[l].assign(size_t(L.out) * in_p, T(0));
    for (int o = 0; o < L.out; ++o)
      for (int i = 0; i < L.in; ++i) {
        weight_t_[l][size_t(i) * out_p + o] = w[size_t(o) * L.in + i];
        weight_p_[l][size_t(o) * in_p + i] = w[size_t(o) * L.in + i];
      }
  }
}

// Adds sum_r w_s[j,r] * x~[b,t][j,r] into u[j] for every branch j.
template <class T, class Fanout, class Visit>
static void for_each_routed_input(const InputBatch& in, const RoutingTable& routing, const Fanout& fanout, int b,
                                  int t, Visit&& visit) {
  const int64_t row = int64_t(b) * in.steps + t;
  if (auto* d = std::get_if<DenseInput>(&in.data)) {
    const float* x = d->data.data() + row * in.channels;
    const int ds = static_cast<int>(routing.input_index.size());
    for (int s = 0; s < ds; ++s)
      if (routing.valid[s]) {
        const float v = x[routing.input_index[s]];
        if (v != 0.0f) visit(s, T(v));
      }
  } else if (auto* sp = std::get_if<SpikeInput>(&in.data)) {
    for (int64_t e = sp->offsets[row]; e < sp->offsets[row + 1]; ++e) {
      const int i = sp->channel[e];
      const T v = T(sp->value[e]);
      for (int32_t q = fanout.offsets[i]; q < fanout.offsets[i + 1]; ++q) visit(fanout.synapses[q], v);
    }
  } else {
    const int id = std::get<TokenInput>(in.data).ids[row];
    if (id >= 0)
      for (int32_t q = fanout.offsets[id]; q < fanout.offsets[id + 1]; ++q) visit(fanout.synapses[q], T(1));
  }
}

template <class T>
void CpuElm<T>::forward(const T* params, const InputBatch& x, T* y) {
  ELM_CHECK(x.channels == config_.num_input, "input has ", x.channels, " channels, the model expects ",
            config_.num_input);
  prepare(params);
  input_ = &x;
  const int n_chunks = std::min(threads_, x.batch);
  chunks_.resize(n_chunks);
  for (int ci = 0; ci < n_chunks; ++ci) {
    if (!chunks_[ci]) chunks_[ci] = std::make_unique<Chunk>();
    chunks_[ci]->b0 = int(int64_t(x.batch) * ci / n_chunks);
    chunks_[ci]->nb = int(int64_t(x.batch) * (ci + 1) / n_chunks) - chunks_[ci]->b0;
  }
#pragma omp parallel for num_threads(n_chunks) schedule(static, 1)
  for (int ci = 0; ci < n_chunks; ++ci) forward_chunk(*chunks_[ci]);

  // Readout for every step: y_t = W_y m_t + b_y.
  const int dm = config_.num_memory, d_o = config_.num_output;
  const T* wy = params + layout_.w_y();
  const T* by = params + layout_.b_y();
  for (const auto& cp : chunks_) {
    const Chunk& c = *cp;
    for (int t = 0; t < x.steps; ++t)
      for (int bl = 0; bl < c.nb; ++bl) {
        const T* m = c.m.data() + (size_t(t + 1) * c.nb + bl) * dm;
        T* yo = y + (size_t(c.b0 + bl) * x.steps + t) * d_o;
        for (int o = 0; o < d_o; ++o) {
          T acc = by[o];
          for (int i = 0; i < dm; ++i) acc += wy[size_t(o) * dm + i] * m[i];
          yo[o] = acc;
        }
      }
  }
}

template <class T>
void CpuElm<T>::forward_chunk(Chunk& c) {
  const cpu::ScopedFlushDenormals flush;  // per thread: MXCSR is thread-local
  const ElmConfig& cfg = config_;
  const InputBatch& in = *input_;
  const int Tn = in.steps, nb = c.nb, db = cfg.branches(), dm = cfg.num_memory, din = db + dm, H = cfg.hidden();
  const int ds = cfg.synapses(), L = cfg.mlp_num_layers;
  c.z.assign(size_t(Tn) * nb * db, T(0));

  // 1. Synapse/branch traces for all steps (linear in the input).
  if (branch_traces_) {
    for (int bl = 0; bl < nb; ++bl)
      for (int t = 0; t < Tn; ++t) {
        T* u = c.z.data() + (size_t(t) * nb + bl) * db;
        for_each_routed_input<T>(in, routing_, fanout_, c.b0 + bl, t,
                                 [&](int s, T v) { u[synapse_branch_[s]] += w_eff_[s] * v; });
      }
    const T* kb = trace_kappa_.data();
    for (int t = 1; t < Tn; ++t)
      for (int bl = 0; bl < nb; ++bl) {
        T* __restrict cur = c.z.data() + (size_t(t) * nb + bl) * db;
        const T* __restrict prev = c.z.data() + (size_t(t - 1) * nb + bl) * db;
        for (int j = 0; j < db; ++j) cur[j] += kb[j] * prev[j];
      }
  } else {
    const int k = cfg.num_synapse_per_branch;
    std::vector<T> s_state(ds), xt(ds);
    for (int bl = 0; bl < nb; ++bl) {
      std::fill(s_state.begin(), s_state.end(), T(0));
      for (int t = 0; t < Tn; ++t) {
        std::fill(xt.begin(), xt.end(), T(0));
        for_each_routed_input<T>(in, routing_, fanout_, c.b0 + bl, t, [&](int s, T v) { xt[s] += v; });
        T* zt = c.z.data() + (size_t(t) * nb + bl) * db;
        for (int s = 0; s < ds; ++s) {
          s_state[s] = trace_kappa_[s] * s_state[s] + w_eff_[s] * xt[s];
          zt[s / k] += s_state[s];
        }
      }
    }
  }

  // 2. The nonlinear memory recurrence, all batch rows of the chunk together.
  // MLP inputs are stored with padded rows (zeros beyond the width) so the
  // weight-gradient kernel reads whole vector tiles.
  constexpr int C = cpu::kCols<T>;
  const int din_p = cpu::padded(din, C), H_p = cpu::padded(H, C);
  c.m.assign(size_t(Tn + 1) * nb * dm, T(0));
  c.x0.assign(size_t(Tn) * nb * din_p, T(0));
  c.pre.resize(L);
  c.post.resize(L);
  for (int l = 0; l < L; ++l) {
    c.pre[l].resize(size_t(Tn) * nb * H);
    c.post[l].assign(size_t(Tn) * nb * H_p, T(0));
  }
  c.g.resize(size_t(Tn) * nb * dm);
  std::vector<T> a(size_t(nb) * dm);
  const bool silu = cfg.mlp_activation == MlpActivation::Silu;
  const auto& mlp = layout_.mlp();
  for (int t = 0; t < Tn; ++t) {
    const T* mprev = c.m.data() + size_t(t) * nb * dm;
    T* mcur = c.m.data() + size_t(t + 1) * nb * dm;
    T* x0 = c.x0.data() + size_t(t) * nb * din_p;
    for (int bl = 0; bl < nb; ++bl) {
      const T* zt = c.z.data() + (size_t(t) * nb + bl) * db;
      std::copy(zt, zt + db, x0 + size_t(bl) * din_p);
      for (int i = 0; i < dm; ++i) x0[size_t(bl) * din_p + db + i] = kappa_m_[i] * mprev[size_t(bl) * dm + i];
    }
    const T* h = x0;
    int h_width = din, h_stride = din_p;
    for (int l = 0; l < L; ++l) {
      T* pre = c.pre[l].data() + size_t(t) * nb * H;
      T* post = c.post[l].data() + size_t(t) * nb * H_p;
      cpu::rows_times_matrix(nb, h_width, H, h, h_stride, weight_t_[l].data(), cpu::padded(H, C),
                             params_ + mlp[l].bias, pre, H);
      for (int bl = 0; bl < nb; ++bl)
        for (int o = 0; o < H; ++o) {
          const T v = pre[bl * H + o];
          post[bl * H_p + o] = silu ? v * sigmoid(v) : (v > T(0) ? v : T(0));
        }
      h = post;
      h_width = H;
      h_stride = H_p;
    }
    cpu::rows_times_matrix(nb, H, dm, h, H_p, weight_t_[L].data(), cpu::padded(dm, C), params_ + mlp[L].bias,
                           a.data(), dm);
    T* g = c.g.data() + size_t(t) * nb * dm;
    for (int bl = 0; bl < nb; ++bl)
      for (int i = 0; i < dm; ++i) {
        const size_t q = size_t(bl) * dm + i;
        g[q] = std::tanh(T(kTanhSlope) * a[q]);
        mcur[q] = kappa_m_[i] * mprev[q] + update_scale_[i] * (T(kTanhScale) * g[q]);
      }
  }
}

template <class T>
void CpuElm<T>::backward(const T* dy, T* grad) {
  ELM_CHECK(input_ != nullptr && !chunks_.empty(), "backward() called before forward()");
  const int n_chunks = static_cast<int>(chunks_.size());
#pragma omp parallel for num_threads(n_chunks) schedule(static, 1)
  for (int ci = 0; ci < n_chunks; ++ci) backward_chunk(*chunks_[ci], dy);
  const int64_t n = layout_.num_trainable();
  std::fill(grad, grad + n, T(0));
  for (const auto& c : chunks_)  // fixed order: results do not depend on scheduling
    for (int64_t i = 0; i < n; ++i) grad[i] += c->grad[i];
}

template <class T>
void CpuElm<T>::backward_chunk(Chunk& c, const T* dy) {
  const cpu::ScopedFlushDenormals flush;
  const ElmConfig& cfg = config_;
  const InputBatch& in = *input_;
  const int Tn = in.steps, nb = c.nb, db = cfg.branches(), dm = cfg.num_memory, din = db + dm, H = cfg.hidden();
  const int ds = cfg.synapses(), L = cfg.mlp_num_layers, d_o = cfg.num_output;
  const bool v1 = cfg.variant == ElmVariant::V1, silu = cfg.mlp_activation == MlpActivation::Silu;
  const auto& mlp = layout_.mlp();
  constexpr int C = cpu::kCols<T>;
  const T* p = params_;
  c.grad.assign(layout_.num_trainable(), T(0));
  T* grad = c.grad.data();

  // Readout gradients.
  const T* wy = p + layout_.w_y();
  T* gwy = grad + layout_.w_y();
  T* gby = grad + layout_.b_y();
  for (int bl = 0; bl < nb; ++bl)
    for (int t = 0; t < Tn; ++t) {
      const T* dyt = dy + (size_t(c.b0 + bl) * Tn + t) * d_o;
      const T* m = c.m.data() + (size_t(t + 1) * nb + bl) * dm;
      for (int o = 0; o < d_o; ++o) {
        const T gy = dyt[o];
        if (gy == T(0)) continue;
        gby[o] += gy;
        for (int i = 0; i < dm; ++i) gwy[size_t(o) * dm + i] += gy * m[i];
      }
    }

  // Backpropagation through the memory recurrence.
  std::vector<T> carry(size_t(nb) * dm, T(0)), dmem(size_t(nb) * dm), da(size_t(nb) * dm);
  std::vector<T> dh(size_t(nb) * std::max(H, din)), dh_next(size_t(nb) * std::max(H, din));
  std::vector<T> dkappa(dm, T(0)), dkappa_lambda(dm, T(0));
  const bool learn_tau = cfg.learn_memory_tau;
  const T lambda = T(cfg.lambda_value);
  for (int t = Tn - 1; t >= 0; --t) {
    const T* mprev = c.m.data() + size_t(t) * nb * dm;
    T* g = c.g.data() + size_t(t) * nb * dm;
    for (int bl = 0; bl < nb; ++bl) {
      const T* dyt = dy + (size_t(c.b0 + bl) * Tn + t) * d_o;
      T* dmb = dmem.data() + size_t(bl) * dm;
      for (int i = 0; i < dm; ++i) dmb[i] = carry[size_t(bl) * dm + i];
      for (int o = 0; o < d_o; ++o) {
        const T gy = dyt[o];
        if (gy == T(0)) continue;
        for (int i = 0; i < dm; ++i) dmb[i] += gy * wy[size_t(o) * dm + i];
      }
      for (int i = 0; i < dm; ++i) {
        const size_t q = size_t(bl) * dm + i;
        const T delta = T(kTanhScale) * g[q];
        da[q] = dmb[i] * update_scale_[i] * T(kTanhScale * kTanhSlope) * (T(1) - g[q] * g[q]);
        g[q] = da[q];  // g is spent: keep dL/da for the weight gradient after the sweep
        if (learn_tau) {
          if (v1) {
            dkappa[i] += dmb[i] * (mprev[q] - lambda * delta);
          } else {
            dkappa[i] += dmb[i] * mprev[q];
            dkappa_lambda[i] -= dmb[i] * delta;
          }
        }
      }
    }
    // Output layer of the MLP, then hidden layers in reverse.
    cpu::rows_times_matrix(nb, dm, H, da.data(), dm, weight_p_[L].data(), cpu::padded(H, C), (const T*)nullptr,
                           dh.data(), H);
    for (int l = L - 1; l >= 0; --l) {
      T* pre = c.pre[l].data() + size_t(t) * nb * H;
      for (int q = 0; q < nb * H; ++q) {
        const T v = pre[q];
        if (silu) {
          const T sg = sigmoid(v);
          dh[q] *= sg * (T(1) + v * (T(1) - sg));
        } else if (!(v > T(0))) {
          dh[q] = T(0);
        }
        pre[q] = dh[q];  // pre is spent: keep dL/dpre for the weight gradient after the sweep
      }
      const int in_w = l == 0 ? din : H;
      cpu::rows_times_matrix(nb, H, in_w, dh.data(), H, weight_p_[l].data(), cpu::padded(in_w, C),
                             (const T*)nullptr, dh_next.data(), in_w);
      std::swap(dh, dh_next);
    }
    // dh now holds dL/d(MLP input) = [dL/dz_t, dL/d(kappa_m * m_{t-1})].
    for (int bl = 0; bl < nb; ++bl) {
      const T* dx = dh.data() + size_t(bl) * din;
      std::copy(dx, dx + db, c.z.data() + (size_t(t) * nb + bl) * db);
      for (int i = 0; i < dm; ++i) {
        const size_t q = size_t(bl) * dm + i;
        const T dmk = dx[db + i];
        if (learn_tau) dkappa[i] += dmk * mprev[q];
        carry[q] = kappa_m_[i] * (dmem[q] + dmk);
      }
    }
  }

  // MLP weight gradients: one tall product per layer over all (step, sample) rows.
  const int rows = Tn * nb;
  const int din_p = cpu::padded(din, C), H_p = cpu::padded(H, C);
  cpu::accumulate_outer_products(rows, H, dm, c.g.data(), dm, c.post[L - 1].data(), H_p, grad + mlp[L].weight,
                                 grad + mlp[L].bias);
  for (int l = L - 1; l >= 0; --l) {
    const int in_w = l == 0 ? din : H;
    const T* x_in = l == 0 ? c.x0.data() : c.post[l - 1].data();
    cpu::accumulate_outer_products(rows, in_w, H, c.pre[l].data(), H, x_in, l == 0 ? din_p : H_p,
                                   grad + mlp[l].weight, grad + mlp[l].bias);
  }

  // Memory time constants: through kappa_m (and kappa_lambda in v2).
  if (learn_tau) {
    const double tau_span = cfg.effective_tau_max() - cfg.memory_tau_min;
    T* gp = grad + layout_.proto_tau_m();
    for (int i = 0; i < dm; ++i) {
      const T tau = tau_m_[i];
      if (!(tau > T(1e-6))) continue;  // clamped: no gradient, as torch.clamp
      const T dt = T(cfg.delta_t);
      T dtau = dkappa[i] * kappa_m_[i] * dt / (tau * tau);
      if (!v1) dtau += dkappa_lambda[i] * kappa_lambda_[i] * dt * lambda / (tau * tau);
      const T sig = sigmoid(p[layout_.proto_tau_m() + i]);
      gp[i] = dtau * T(tau_span) * sig * (T(1) - sig);
    }
  }

  // Adjoint of the linear traces, then the synapse weights.
  T* gws = grad + layout_.w_s();
  if (branch_traces_) {
    const T* kb = trace_kappa_.data();
    for (int t = Tn - 2; t >= 0; --t)
      for (int bl = 0; bl < nb; ++bl) {
        T* __restrict cur = c.z.data() + (size_t(t) * nb + bl) * db;
        const T* __restrict next = c.z.data() + (size_t(t + 1) * nb + bl) * db;
        for (int j = 0; j < db; ++j) cur[j] += kb[j] * next[j];
      }
    for (int bl = 0; bl < nb; ++bl)
      for (int t = 0; t < Tn; ++t) {
        const T* adj = c.z.data() + (size_t(t) * nb + bl) * db;
        for_each_routed_input<T>(in, routing_, fanout_, c.b0 + bl, t,
                                 [&](int s, T v) { gws[s] += adj[synapse_branch_[s]] * v; });
      }
  } else {
    const int k = cfg.num_synapse_per_branch;
    std::vector<T> adj(ds), xt(ds);
    for (int bl = 0; bl < nb; ++bl) {
      std::fill(adj.begin(), adj.end(), T(0));
      for (int t = Tn - 1; t >= 0; --t) {
        std::fill(xt.begin(), xt.end(), T(0));
        for_each_routed_input<T>(in, routing_, fanout_, c.b0 + bl, t, [&](int s, T v) { xt[s] += v; });
        const T* dz = c.z.data() + (size_t(t) * nb + bl) * db;
        for (int s = 0; s < ds; ++s) {
          adj[s] = dz[s / k] + trace_kappa_[s] * adj[s];
          gws[s] += adj[s] * xt[s];
        }
      }
    }
  }
  for (int s = 0; s < ds; ++s)
    if (!(p[layout_.w_s() + s] > T(0))) gws[s] = T(0);  // relu on the proto weight
}

template class CpuElm<float>;
template class CpuElm<double>;

}  // namespace elm
