// The compact input kinds must compute exactly what their dense form computes:
//  - token ids vs their one-hot rows (padding id -1 = an all-zero row);
//  - spike events vs dense frames (sparse +-1 and count-valued inputs, and
//    repeated events of one channel in one step = their sum);
// and the batch split over threads must not change the results.
// The dense references are built here, independently of dense_from_any().
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/elm_cpu.hpp"
#include "core/rng.hpp"
#include "model/elm_model.hpp"

using namespace elm;

namespace {

// A model with parameters moved off the init (all relu protos positive so
// every synapse carries signal; tau_s equal within branches unless mixed_tau).
template <class T>
std::vector<T> random_params(const ElmModel& m, uint64_t seed, bool mixed_tau) {
  RngStream rng(seed, 0x70617261ULL);
  std::vector<T> p(m.params.begin(), m.params.end());
  const ParamLayout& lay = m.layout;
  for (int64_t i = 0; i < lay.num_trainable(); ++i) p[i] += T(0.3 * rng.normal());
  for (int s = 0; s < m.config.synapses(); ++s) p[lay.w_s() + s] = T(0.2 + rng.uniform());
  for (int i = 0; i < m.config.num_memory; ++i) p[lay.proto_tau_m() + i] = T(2.0 * rng.normal());
  const int k = m.config.num_synapse_per_branch;
  const int n_trace = m.config.variant == ElmVariant::V1 ? m.config.synapses() : m.config.branches();
  for (int i = 0; i < n_trace; ++i) {
    const bool new_value = mixed_tau || m.config.variant == ElmVariant::V2 || i % k == 0;
    p[lay.trace_tau() + i] = new_value ? T(2.0 + 6.0 * rng.uniform()) : p[lay.trace_tau() + i - 1];
  }
  return p;
}

ElmConfig small_config(ElmVariant v, SynapseRouting r, int n_in, int n_branch, int k) {
  ElmConfig c;
  c.variant = v;
  c.routing = r;
  c.num_input = n_in;
  c.num_branch = n_branch;
  c.num_synapse_per_branch = k;
  c.num_memory = 4;
  c.mlp_hidden_size = 6;
  c.num_output = 3;
  c.memory_tau_max = 30;
  c.routing_seed = 11;
  c.mlp_activation = MlpActivation::Silu;
  c.validate();
  return c;
}

template <class T>
struct Result {
  std::vector<T> y, grad;
  bool branch_traces = false;
};

template <class T>
Result<T> run(const ElmModel& m, const std::vector<T>& params, const InputBatch& in, const std::vector<T>& dy,
              int threads = 1) {
  CpuElm<T> elm(m.config, m.routing, threads);
  Result<T> r;
  r.y.resize(size_t(in.batch) * in.steps * m.config.num_output);
  r.grad.resize(elm.layout().num_trainable());
  elm.forward(params.data(), in, r.y.data());
  elm.backward(dy.data(), r.grad.data());
  r.branch_traces = elm.uses_branch_traces();
  return r;
}

template <class T>
std::vector<T> random_vector(size_t n, uint64_t seed) {
  RngStream rng(seed, 0x64790000ULL);
  std::vector<T> v(n);
  for (auto& x : v) x = T(rng.normal());
  return v;
}

// max_i |a_i - b_i| <= rel * max_i |b_i|.
template <class T>
void expect_close(const std::vector<T>& a, const std::vector<T>& b, double rel, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 0, err = 0;
  size_t worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::abs(double(b[i])));
    const double e = std::abs(double(a[i]) - double(b[i]));
    if (e > err) err = e, worst = i;
  }
  EXPECT_LE(err, rel * scale) << what << ": [" << worst << "] " << a[worst] << " vs " << b[worst] << " (max |ref| "
                              << scale << ")";
}

InputBatch one_hot(const InputBatch& tokens) {
  const auto& ids = std::get<TokenInput>(tokens.data).ids;
  DenseInput d;
  d.data.assign(ids.size() * tokens.channels, 0.0f);
  for (size_t r = 0; r < ids.size(); ++r)
    if (ids[r] >= 0) d.data[r * tokens.channels + ids[r]] = 1.0f;
  return InputBatch{tokens.batch, tokens.steps, tokens.channels, std::move(d)};
}

template <class T>
void check_tokens(ElmVariant v, SynapseRouting r, double tol) {
  const int vocab = 9;
  const ElmConfig c = r == SynapseRouting::None ? small_config(v, r, vocab, 3, 3) : small_config(v, r, vocab, 4, 3);
  const ElmModel m = ElmModel::initialized(c, 5);
  const int B = 3, Tn = 17;
  TokenInput tok;
  RngStream rng(42, 1);
  for (int i = 0; i < B * Tn; ++i) tok.ids.push_back(rng.uniform() < 0.15 ? -1 : int(rng.below(vocab)));
  tok.ids[3] = -1;  // at least one padding step
  const InputBatch tokens{B, Tn, vocab, tok};
  tokens.validate();
  const InputBatch dense = one_hot(tokens);
  for (bool mixed : {false, true}) {
    if (mixed && v == ElmVariant::V2) continue;
    const auto params = random_params<T>(m, 7, mixed);
    const auto dy = random_vector<T>(size_t(B) * Tn * c.num_output, 3);
    const Result<T> a = run(m, params, tokens, dy), b = run(m, params, dense, dy);
    EXPECT_EQ(a.branch_traces, !mixed);
    const std::string what = std::string(to_string(v)) + " " + to_string(r) + (mixed ? " per-synapse" : " per-branch");
    expect_close(a.y, b.y, tol, what + " outputs");
    expect_close(a.grad, b.grad, tol, what + " gradients");
  }
}

}  // namespace

TEST(InputKinds, TokensEqualTheirOneHotRowsDouble) {
  for (ElmVariant v : {ElmVariant::V1, ElmVariant::V2})
    for (SynapseRouting r : {SynapseRouting::None, SynapseRouting::Random}) check_tokens<double>(v, r, 1e-12);
}

TEST(InputKinds, TokensEqualTheirOneHotRowsFloat) {
  for (ElmVariant v : {ElmVariant::V1, ElmVariant::V2})
    for (SynapseRouting r : {SynapseRouting::None, SynapseRouting::Random}) check_tokens<float>(v, r, 1e-5);
}

namespace {

// Dense input with `density` nonzeros drawn from `value()`.
template <class Draw>
InputBatch sparse_dense(int B, int Tn, int n, double density, uint64_t seed, Draw value) {
  RngStream rng(seed, 2);
  DenseInput d;
  d.data.assign(size_t(B) * Tn * n, 0.0f);
  for (auto& x : d.data)
    if (rng.uniform() < density) x = value(rng);
  return InputBatch{B, Tn, n, std::move(d)};
}

// Spike events of a dense batch, built here (not with spikes_from_dense).
InputBatch events_of(const InputBatch& dense) {
  const auto& x = std::get<DenseInput>(dense.data).data;
  SpikeInput s;
  s.offsets.push_back(0);
  for (int64_t r = 0; r < int64_t(dense.batch) * dense.steps; ++r) {
    for (int i = 0; i < dense.channels; ++i)
      if (x[r * dense.channels + i] != 0.0f) {
        s.channel.push_back(i);
        s.value.push_back(x[r * dense.channels + i]);
      }
    s.offsets.push_back(int64_t(s.channel.size()));
  }
  return InputBatch{dense.batch, dense.steps, dense.channels, std::move(s)};
}

ElmConfig spike_config(ElmVariant v, SynapseRouting r) {
  // 40 channels; neuronio: 6 branches x 8 synapses (stride 7: overlap + masked tail).
  return r == SynapseRouting::None ? small_config(v, r, 40, 20, 2) : small_config(v, r, 40, 6, 8);
}

void check_spikes(const InputBatch& dense, const InputBatch& spikes, const std::string& label) {
  spikes.validate();
  for (ElmVariant v : {ElmVariant::V1, ElmVariant::V2})
    for (SynapseRouting r : {SynapseRouting::None, SynapseRouting::NeuronIO})
      for (bool mixed : {false, true}) {
        if (mixed && v == ElmVariant::V2) continue;
        const ElmModel m = ElmModel::initialized(spike_config(v, r), 9);
        const auto params = random_params<double>(m, 13, mixed);
        const auto dy = random_vector<double>(size_t(dense.batch) * dense.steps * m.config.num_output, 4);
        const Result<double> a = run(m, params, spikes, dy), b = run(m, params, dense, dy);
        EXPECT_EQ(a.branch_traces, !mixed);
        const std::string what =
            label + " " + to_string(v) + " " + to_string(r) + (mixed ? " per-synapse" : " per-branch");
        expect_close(a.y, b.y, 1e-12, what + " outputs");
        expect_close(a.grad, b.grad, 1e-12, what + " gradients");
      }
}

}  // namespace

TEST(InputKinds, SparseSignedSpikesEqualDense) {
  for (double density : {0.01, 0.05}) {
    const InputBatch dense = sparse_dense(3, 40, 40, density, 21, [](RngStream& g) {
      return g.uniform() < 0.5 ? -1.0f : 1.0f;
    });
    const InputBatch spikes = events_of(dense);
    ASSERT_GT(std::get<SpikeInput>(spikes.data).channel.size(), 10u);
    check_spikes(dense, spikes, "density " + std::to_string(density));
  }
}

TEST(InputKinds, CountValuedSpikesEqualDense) {
  const InputBatch dense =
      sparse_dense(3, 40, 40, 0.05, 22, [](RngStream& g) { return float(1 + g.below(4)); });
  check_spikes(dense, events_of(dense), "counts");
}

TEST(InputKinds, RepeatedEventsInOneStepAddUp) {
  // Each event is split into 1-3 events of the same channel (in shuffled
  // positions within the step); the dense reference holds their sum.
  const int B = 3, Tn = 40, n = 40;
  RngStream rng(23, 3);
  SpikeInput s;
  DenseInput d;
  d.data.assign(size_t(B) * Tn * n, 0.0f);
  s.offsets.push_back(0);
  int repeats = 0;
  for (int r = 0; r < B * Tn; ++r) {
    std::vector<std::pair<int, float>> ev;
    for (int i = 0; i < n; ++i) {
      if (rng.uniform() >= 0.04) continue;
      const int copies = 1 + int(rng.below(3));
      repeats += copies > 1;
      for (int q = 0; q < copies; ++q) {
        const float v = rng.uniform() < 0.3 ? -1.0f : float(1 + rng.below(2));
        ev.emplace_back(i, v);
        d.data[size_t(r) * n + i] += v;
      }
    }
    for (size_t a = ev.size(); a > 1; --a) std::swap(ev[a - 1], ev[rng.below(a)]);
    for (auto& [i, v] : ev) {
      s.channel.push_back(i);
      s.value.push_back(v);
    }
    s.offsets.push_back(int64_t(s.channel.size()));
  }
  ASSERT_GT(repeats, 10);
  check_spikes(InputBatch{B, Tn, n, std::move(d)}, InputBatch{B, Tn, n, std::move(s)}, "repeated");
}

// The batch is split into contiguous chunks, one per thread. Each sample's
// forward pass is computed the same way whatever chunk it is in, so outputs are
// bitwise equal. Gradients are summed per chunk and the chunk sums are then
// added in a fixed order: deterministic for a given thread count (bitwise
// equal run to run), but with 3 chunks the summation order differs from 1
// chunk, so across thread counts they agree to rounding only (checked at 1e-6
// relative to each tensor's largest entry).
TEST(InputKinds, ThreadsDoNotChangeResults) {
  for (ElmVariant v : {ElmVariant::V1, ElmVariant::V2})
    for (bool mixed : {false, true}) {
      if (mixed && v == ElmVariant::V2) continue;
      const ElmModel m = ElmModel::initialized(spike_config(v, SynapseRouting::NeuronIO), 17);
      const auto params = random_params<float>(m, 19, mixed);
      const int B = 5, Tn = 30;
      const InputBatch dense = sparse_dense(B, Tn, 40, 0.2, 24, [](RngStream& g) { return float(g.normal()); });
      const auto dy = random_vector<float>(size_t(B) * Tn * m.config.num_output, 5);
      const std::string what = std::string(to_string(v)) + (mixed ? " per-synapse" : " per-branch");
      const Result<float> one = run(m, params, dense, dy, 1);
      const Result<float> three = run(m, params, dense, dy, 3);
      const Result<float> three_again = run(m, params, dense, dy, 3);
      ASSERT_EQ(one.y.size(), three.y.size());
      EXPECT_EQ(std::memcmp(one.y.data(), three.y.data(), one.y.size() * sizeof(float)), 0)
          << what << ": outputs differ between 1 and 3 threads";
      EXPECT_EQ(std::memcmp(three.grad.data(), three_again.grad.data(), three.grad.size() * sizeof(float)), 0)
          << what << ": gradients with 3 threads differ run to run";
      if (std::getenv("ELM_SHOW_THREADS")) {
        size_t differ = 0;
        for (size_t i = 0; i < one.grad.size(); ++i) differ += one.grad[i] != three.grad[i];
        std::printf("%s: %zu of %zu gradient entries differ between 1 and 3 threads\n", what.c_str(), differ,
                    one.grad.size());
      }
      for (const auto& e : m.layout.entries()) {
        if (!e.trainable) continue;
        std::vector<float> a(one.grad.begin() + e.offset, one.grad.begin() + e.offset + e.size);
        std::vector<float> b(three.grad.begin() + e.offset, three.grad.begin() + e.offset + e.size);
        expect_close(b, a, 1e-6, what + " gradient '" + e.name + "' (3 vs 1 threads)");
      }
    }
}
