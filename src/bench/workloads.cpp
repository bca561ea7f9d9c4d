#include "bench/workloads.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "bench/bench_clock.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "model/elm_model.hpp"
#include "train/cpu_step_backend.hpp"
#include "train/grad_clip.hpp"
#include "train/loss.hpp"
#include "train/train_step.hpp"

namespace elm {

namespace {

ElmConfig neuronio_model(int dm, MlpActivation act) {
  ElmConfig c = released_neuronio_config(dm);
  c.mlp_activation = act;
  return c;
}

ElmConfig plain_model(ElmVariant v, int n_in, int dm, int d_o, double tau_max, double dt) {
  ElmConfig c;
  c.variant = v;
  c.num_input = n_in;
  c.num_output = d_o;
  c.num_memory = dm;
  c.memory_tau_min = 1;
  c.memory_tau_max = tau_max;
  c.delta_t = dt;
  return c;
}

}  // namespace

const std::vector<BenchWorkload>& bench_workloads() {
  using I = BenchWorkload::Input;
  static const std::vector<BenchWorkload> all = [] {
    std::vector<BenchWorkload> w;
    w.push_back({"neuronio_dm15", neuronio_model(15, MlpActivation::Relu), 8, 500, TaskLoss::Neuronio,
                 I::PlusMinusSpikes, 0.01, false});
    w.push_back({"neuronio_dm100", neuronio_model(100, MlpActivation::Silu), 8, 500, TaskLoss::Neuronio,
                 I::PlusMinusSpikes, 0.01, false});
    w.push_back({"shd_dm100", plain_model(ElmVariant::V1, 700, 100, 20, 500, 10), 8, 100,
                 TaskLoss::LastStepCrossEntropy, I::BinarySpikes, 0.05, false});
    w.push_back({"shdadd_dm100", plain_model(ElmVariant::V1, 700, 100, 19, 500, 10), 8, 200,
                 TaskLoss::LastStepCrossEntropy, I::BinarySpikes, 0.05, false});
    w.push_back({"listops_dm100", plain_model(ElmVariant::V2, 20, 100, 10, 1000, 1), 8, 2000,
                 TaskLoss::LastStepCrossEntropy, I::Tokens, 0, false});
    w.push_back({"pathfinder_dm150", plain_model(ElmVariant::V2, 16, 150, 2, 1000, 1), 384, 1024,
                 TaskLoss::LastStepCrossEntropy, I::Tokens, 0, true});
    // configs/sfmnist_pool2.ini: 14x14 images of 16 gray levels, one token per step.
    w.push_back({"sfmnist_dm64", plain_model(ElmVariant::V1, 16, 64, 10, 1000, 1), 32, 196,
                 TaskLoss::LastStepCrossEntropy, I::Tokens, 0, false});
    ElmConfig px = plain_model(ElmVariant::V2, 8, 150, 2, 2e4, 1);
    px.tau_b_value = 150;
    w.push_back({"pathx_dm150", px, 64, 16384, TaskLoss::LastStepCrossEntropy, I::Tokens, 0, true});
    return w;
  }();
  return all;
}

const BenchWorkload& find_bench_workload(const std::string& name) {
  std::string known;
  for (const auto& w : bench_workloads()) {
    if (w.name == name) return w;
    known += (known.empty() ? "" : ", ") + w.name;
  }
  fail("unknown workload '", name, "' (known: ", known, ")");
}

InputBatch make_bench_input(const BenchWorkload& w, uint64_t seed) {
  RngStream rng(seed, 0x62656e6368ULL);
  const int n = w.model.num_input;
  InputBatch x{w.batch, w.steps, n, {}};
  if (w.input == BenchWorkload::Input::Tokens) {
    TokenInput t;
    t.ids.resize(size_t(w.batch) * w.steps);
    for (auto& id : t.ids) id = static_cast<int32_t>(rng.below(n));
    x.data = std::move(t);
  } else {
    SpikeInput s;
    s.offsets.push_back(0);
    for (int64_t r = 0; r < int64_t(w.batch) * w.steps; ++r) {
      for (int i = 0; i < n; ++i)
        if (rng.uniform() < w.density) {
          s.channel.push_back(i);
          const bool sign = w.input == BenchWorkload::Input::PlusMinusSpikes && rng.uniform() < 0.5;
          s.value.push_back(sign ? -1.0f : 1.0f);
        }
      s.offsets.push_back(static_cast<int64_t>(s.channel.size()));
    }
    x.data = std::move(s);
  }
  return x;
}

double step_flops(const BenchWorkload& w, const InputBatch& x, const ElmModel& m) {
  const ElmConfig& c = w.model;
  const double din = c.mlp_input(), H = c.hidden(), dm = c.num_memory, L = c.mlp_num_layers, d_o = c.num_output;
  const double per_sample_step = 2 * (din * H + (L - 1) * H * H + H * dm) + 2 * dm * d_o + 10 * dm;
  // Synapse work: each input event feeds its fan-out of synapses (multiply-add each).
  const InputFanout fan = InputFanout::build(m.routing, c.num_input);
  double events = 0;
  if (auto* s = std::get_if<SpikeInput>(&x.data)) {
    for (int32_t ch : s->channel) events += fan.offsets[ch + 1] - fan.offsets[ch];
  } else if (auto* t = std::get_if<TokenInput>(&x.data)) {
    for (int32_t id : t->ids) events += fan.offsets[id + 1] - fan.offsets[id];
  }
  const double traces = 2.0 * c.branches();  // one decay-add per branch trace and step
  return 3.0 * (double(w.batch) * w.steps * (per_sample_step + traces) + 2.0 * events);
}

StepTiming time_training_step(ElmModel& model, const InputBatch& x, TaskLoss loss, std::span<const int64_t> labels,
                              std::span<const float> target_spike, std::span<const float> target_soma,
                              const OptimizerConfig& optim, int threads, double min_seconds, int min_steps) {
  const ElmConfig& c = model.config;
  const int B = x.batch, T = x.steps;
  if (loss == TaskLoss::Neuronio)
    ELM_CHECK(target_spike.size() == size_t(B) * T && target_soma.size() == size_t(B) * T,
              "time_training_step: NeuronIO targets must hold B*T values");
  else
    ELM_CHECK(labels.size() == size_t(B), "time_training_step: ", labels.size(), " labels for a batch of ", B);
  CpuStepBackend backend(c, model.routing, loss, optim, threads);
  backend.set_params(model.params);
  Batch batch{x, std::vector<int64_t>(labels.begin(), labels.end()),
              std::vector<float>(target_spike.begin(), target_spike.end()),
              std::vector<float>(target_soma.begin(), target_soma.end())};
  SerialComm serial;
  StepSettings settings;
  settings.lr = optim.lr;
  auto one_step = [&] { train_step(backend, batch, serial, settings); };
  one_step();  // warm-up: allocations, page faults
  const TimedLoop timed = time_until(min_steps, min_seconds, [&](int64_t) { one_step(); });
  backend.get_params(model.params);
  StepTiming r;
  r.steps_timed = static_cast<int>(timed.steps);
  r.seconds_per_step = timed.seconds / static_cast<double>(timed.steps);
  r.branch_traces = backend.uses_branch_traces();
  r.cpu_isa = cpu_isa_name(backend.isa());
  return r;
}

namespace {

// The targets of one bench model (labels, or NeuronIO spike/soma), drawn from `seed`.
struct BenchTargets {
  std::vector<int64_t> labels;
  std::vector<float> spike, soma;
};
BenchTargets make_bench_targets(const BenchWorkload& w, uint64_t seed) {
  BenchTargets t;
  t.labels.resize(w.batch);
  t.spike.resize(size_t(w.batch) * w.steps);
  t.soma.resize(t.spike.size());
  RngStream rng(seed, 7);
  for (auto& l : t.labels) l = static_cast<int64_t>(rng.below(w.model.num_output));
  for (size_t i = 0; i < t.spike.size(); ++i) {
    t.spike[i] = rng.uniform() < 0.01 ? 1.0f : 0.0f;
    t.soma[i] = static_cast<float>(rng.normal());
  }
  return t;
}

OptimizerConfig bench_optimizer(double lr) {
  OptimizerConfig oc;
  oc.kind = "adam";
  oc.lr = lr;
  return oc;
}

}  // namespace

BenchResult run_bench(const BenchWorkload& w, int threads, double min_seconds, int min_steps) {
  ElmModel model = ElmModel::initialized(w.model, 1);
  const InputBatch x = make_bench_input(w, 2);
  const BenchTargets tg = make_bench_targets(w, 3);
  const OptimizerConfig oc = bench_optimizer(1e-4);
  const StepTiming t =
      time_training_step(model, x, w.loss, tg.labels, tg.spike, tg.soma, oc, threads, min_seconds, min_steps);
  BenchResult r;
  r.name = w.name;
  r.threads = threads;
  r.steps_timed = t.steps_timed;
  r.ms_per_step = 1e3 * t.seconds_per_step;
  r.flop_per_step = step_flops(w, x, model);
  r.gflops = r.flop_per_step / (r.ms_per_step * 1e6);
  r.sample_steps_per_s = double(w.batch) * w.steps / (r.ms_per_step * 1e-3);
  r.branch_traces = t.branch_traces;
  r.cpu_isa = t.cpu_isa;
  return r;
}

std::vector<PackBenchResult> run_pack_bench(const BenchWorkload& w, const PackBenchOptions& o) {
  ELM_CHECK(w.loss == TaskLoss::Neuronio || w.loss == TaskLoss::LastStepCrossEntropy, "--pack: workload ", w.name,
            " has a loss the pack bench does not time");
  int k_max = 0;
  for (int k : o.models) {
    ELM_CHECK(k >= 1 && k <= CpuElmPack::max_models(), "--pack ", k, ": use 1 to ", CpuElmPack::max_models(),
              " models");
    k_max = std::max(k_max, k);
  }
  ELM_CHECK(o.rounds >= 1, "--rounds must be >= 1");
  // K models as a sweep trains them: their own seeds, inputs, targets and learning rates.
  std::vector<ElmModel> models;
  std::vector<InputBatch> inputs;
  std::vector<BenchTargets> targets;
  std::vector<ElmConfig> configs;
  std::vector<RoutingTable> routings;
  for (int i = 0; i < k_max; ++i) {
    models.push_back(ElmModel::initialized(w.model, 1 + uint64_t(i)));
    inputs.push_back(make_bench_input(w, 2 + uint64_t(i)));
    targets.push_back(make_bench_targets(w, 3 + uint64_t(i)));
    configs.push_back(models.back().config);
    routings.push_back(models.back().routing);
  }
  const int B = w.batch, T = w.steps, d_o = w.model.num_output;
  const size_t n_out = size_t(B) * T * d_o;
  const int64_t n_grad = models[0].layout.num_trainable();
  std::vector<PackBenchResult> results;
  for (int K : o.models) {
    CpuElmPack pack(std::vector<ElmConfig>(configs.begin(), configs.begin() + K),
                    std::vector<RoutingTable>(routings.begin(), routings.begin() + K), o.threads);
    pack.set_mode(o.mode);
    pack.set_lane_width(o.lanes);
    std::vector<int> ids(K);
    std::vector<std::vector<float>> params(K), y(K, std::vector<float>(n_out)), dy(K, std::vector<float>(n_out)),
        grad(K, std::vector<float>(size_t(n_grad)));
    std::vector<const float*> p_ptr(K), dy_ptr(K);
    std::vector<const InputBatch*> x_ptr(K);
    std::vector<float*> y_ptr(K), g_ptr(K);
    std::vector<Optimizer> opts;
    std::vector<double> lr(K);
    for (int i = 0; i < K; ++i) {
      ids[i] = i;
      params[i] = models[i].params;
      p_ptr[i] = params[i].data();
      x_ptr[i] = &inputs[i];
      y_ptr[i] = y[i].data();
      dy_ptr[i] = dy[i].data();
      g_ptr[i] = grad[i].data();
      lr[i] = 1e-4 * (1.0 + 0.25 * i);
      opts.emplace_back(bench_optimizer(lr[i]));
    }
    auto loss = [&](int i) {
      if (w.loss == TaskLoss::Neuronio)
        neuronio_loss(y[i].data(), B, T, d_o, targets[i].spike.data(), targets[i].soma.data(), dy[i].data());
      else
        last_step_cross_entropy(y[i].data(), B, T, d_o, targets[i].labels.data(), dy[i].data());
    };
    auto one_step = [&] {
      pack.forward_loss_backward(ids, p_ptr, x_ptr, y_ptr, dy_ptr, g_ptr, [&](size_t i) { loss(int(i)); });
      for (int i = 0; i < K; ++i) {
        const std::span<const float> g(grad[i].data(), size_t(n_grad));
        if (std::isfinite(grad_norm(g))) opts[i].step(std::span<float>(params[i].data(), size_t(n_grad)), g, lr[i]);
      }
    };
    one_step();  // warm-up: allocations, page faults
    // One model alone (as `elmrun bench` times it, the reference of the
    // speed-up) and the K models, alternately, `rounds` times; each side's
    // fastest round counts, so that a neighbour's burst on a shared machine
    // does not decide the ratio.
    PackBenchResult r;
    r.name = w.name;
    r.models = K;
    r.threads = o.threads;
    r.ms_per_step = r.single_ms_per_step = std::numeric_limits<double>::infinity();
    double flop_per_step = 0;
    for (int round = 0; round < o.rounds; ++round) {
      const BenchResult single = run_bench(w, o.threads, o.min_seconds, o.min_steps);
      flop_per_step = single.flop_per_step;
      r.single_ms_per_step = std::min(r.single_ms_per_step, single.ms_per_step);
      const TimedLoop timed = time_until(o.min_steps, o.min_seconds, [&](int64_t) { one_step(); });
      r.steps_timed += static_cast<int>(timed.steps);
      r.ms_per_step = std::min(r.ms_per_step, 1e3 * timed.seconds / double(timed.steps));
    }
    r.lanes = pack.last_lane_width();
    r.per_model_speedup = K * r.single_ms_per_step / r.ms_per_step;
    r.gflops = K * flop_per_step / (r.ms_per_step * 1e6);
    r.cpu_isa = cpu_isa_name(pack.isa());
    results.push_back(r);
  }
  return results;
}

}  // namespace elm
