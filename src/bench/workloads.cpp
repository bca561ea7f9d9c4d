#include "bench/workloads.hpp"

#include <chrono>

#include "bench/bench_clock.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "model/elm_model.hpp"
#include "train/cpu_step_backend.hpp"
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

BenchResult run_bench(const BenchWorkload& w, int threads, double min_seconds, int min_steps) {
  ElmModel model = ElmModel::initialized(w.model, 1);
  const InputBatch x = make_bench_input(w, 2);
  const int d_o = w.model.num_output;
  std::vector<int64_t> labels(w.batch);
  std::vector<float> spike(size_t(w.batch) * w.steps), soma(spike.size());
  RngStream rng(3, 7);
  for (auto& l : labels) l = static_cast<int64_t>(rng.below(d_o));
  for (size_t i = 0; i < spike.size(); ++i) {
    spike[i] = rng.uniform() < 0.01 ? 1.0f : 0.0f;
    soma[i] = static_cast<float>(rng.normal());
  }
  OptimizerConfig oc;
  oc.kind = "adam";
  oc.lr = 1e-4;
  const StepTiming t = time_training_step(model, x, w.loss, labels, spike, soma, oc, threads, min_seconds, min_steps);
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

}  // namespace elm
