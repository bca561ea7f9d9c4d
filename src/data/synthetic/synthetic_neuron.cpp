#include "data/synthetic/synthetic_neuron.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/neuronio_task.hpp"
#include "data/store/dataset_store.hpp"

namespace elm {

namespace {

constexpr double kRefSegments = 639.0;
constexpr double kTauAmpa = 2.0, kTauNmda = 50.0, kTauGaba = 8.0, kTauM = 15.0;
constexpr double kRestMv = -76.0, kThresholdMv = -56.0, kResetMv = -70.0, kPeakMv = 20.0, kRefractoryMs = 3.0;
constexpr int kSubsteps = 4;

// Stream ids: (split, simulation, purpose); purpose < 2^20 (channel c, or a profile).
uint64_t stream_id(int split, int64_t sim, uint64_t purpose) {
  return (uint64_t(split) << 56) | (uint64_t(sim) << 20) | purpose;
}
constexpr uint64_t kProfileStream = (uint64_t(1) << 20) - 1;  // exc: -0, inh: -1
constexpr uint64_t kChannelFactorStream = (uint64_t(1) << 20) - 3;

}  // namespace

SyntheticNeuronOptions SyntheticNeuronOptions::from_key_values(const KeyValues& kv, const std::string& source) {
  SyntheticNeuronOptions o;
  for (const auto& [k, v] : kv) {
    const std::string& key = k;
    if (k == "channels") o.channels = int(parse_int(v, key, source));
    else if (k == "duration_ms") o.duration_ms = int(parse_int(v, key, source));
    else if (k == "train_simulations") o.train_simulations = parse_int(v, key, source);
    else if (k == "valid_simulations") o.valid_simulations = parse_int(v, key, source);
    else if (k == "test_simulations") o.test_simulations = parse_int(v, key, source);
    else if (k == "seed") o.seed = uint64_t(parse_int(v, key, source));
    else if (k == "exc_rate_hz") o.exc_rate_hz = parse_double(v, key, source);
    else if (k == "inh_rate_hz") o.inh_rate_hz = parse_double(v, key, source);
    else if (k == "rate_modulation") o.rate_modulation = parse_double(v, key, source);
    else if (k == "rate_period_ms") o.rate_period_ms = int(parse_int(v, key, source));
    else if (k == "level_spread") o.level_spread = parse_double(v, key, source);
    else if (k == "branches") o.branches = int(parse_int(v, key, source));
    else if (k == "w_ampa") o.w_ampa = parse_double(v, key, source);
    else if (k == "w_nmda") o.w_nmda = parse_double(v, key, source);
    else if (k == "w_gaba") o.w_gaba = parse_double(v, key, source);
    else if (k == "nmda_gain") o.nmda_gain = parse_double(v, key, source);
    else if (k == "nmda_threshold") o.nmda_threshold = parse_double(v, key, source);
    else if (k == "nmda_slope") o.nmda_slope = parse_double(v, key, source);
    else if (k == "soma_gain") o.soma_gain = parse_double(v, key, source);
    else fail(source, ": unknown key '", key, "' for the synthetic neuron");
  }
  o.validate(source);
  return o;
}

void SyntheticNeuronOptions::validate(const std::string& source) const {
  ELM_CHECK(channels >= 2 && channels % 2 == 0 && channels <= 65534, source,
            ": synthetic neuron channels must be even and in [2, 65534], got ", channels);
  ELM_CHECK(duration_ms >= 1 && duration_ms <= 10'000'000, source, ": synthetic neuron duration_ms must be in [1, 1e7]");
  ELM_CHECK(train_simulations >= 1 && valid_simulations >= 1 && test_simulations >= 1 &&
                std::max({train_simulations, valid_simulations, test_simulations}) < (int64_t(1) << 30),
            source, ": synthetic neuron simulation counts must be in [1, 2^30)");
  ELM_CHECK(exc_rate_hz >= 0 && inh_rate_hz >= 0 && exc_rate_hz <= 1000 && inh_rate_hz <= 1000, source,
            ": synthetic neuron rates must be in [0, 1000] Hz");
  ELM_CHECK(rate_modulation >= 0 && rate_modulation <= 1 && level_spread >= 0 && level_spread <= 1, source,
            ": synthetic neuron rate_modulation and level_spread must be in [0, 1]");
  ELM_CHECK(rate_period_ms >= 1, source, ": synthetic neuron rate_period_ms must be >= 1");
  ELM_CHECK(branches >= 1 && branches <= channels / 2, source, ": synthetic neuron branches must be in [1, ",
            channels / 2, "], got ", branches);
  ELM_CHECK(std::isfinite(w_ampa) && std::isfinite(w_nmda) && std::isfinite(w_gaba) && std::isfinite(nmda_gain) &&
                std::isfinite(nmda_threshold) && std::isfinite(soma_gain) && nmda_slope > 0 && std::isfinite(nmda_slope),
            source, ": synthetic neuron weights must be finite and nmda_slope > 0");
}

SyntheticNeuronSimulation simulate_synthetic_neuron(const SyntheticNeuronOptions& o, int split, int64_t sim) {
  const int C = o.channels, S = C / 2, T = o.duration_ms, NB = o.branches;
  SyntheticNeuronSimulation out;

  // Rate profiles: one level per input type and simulation, knots every rate_period_ms.
  const int knots = T / o.rate_period_ms + 2;
  std::vector<double> profile[2];
  double level[2];
  for (int p = 0; p < 2; ++p) {
    const CounterRng rng(o.seed, stream_id(split, sim, kProfileStream - p));
    level[p] = 1.0 + o.level_spread * (2.0 * rng.uniform(0) - 1.0);
    profile[p].resize(size_t(knots));
    for (int k = 0; k < knots; ++k) profile[p][size_t(k)] = 1.0 + o.rate_modulation * (2.0 * rng.uniform(1 + k) - 1.0);
  }
  const auto rate_factor = [&](int p, int t) {
    const int k = t / o.rate_period_ms;
    const double frac = double(t % o.rate_period_ms) / o.rate_period_ms;
    return profile[p][size_t(k)] + (profile[p][size_t(k) + 1] - profile[p][size_t(k)]) * frac;
  };
  const CounterRng factor_rng(o.seed, stream_id(split, sim, kChannelFactorStream));

  // Input spikes by thinning: candidates at the channel's peak probability.
  std::vector<int64_t> keys;  // t * C + c
  for (int c = 0; c < C; ++c) {
    const int p = c < S ? 0 : 1;
    const double base = (p == 0 ? o.exc_rate_hz : o.inh_rate_hz) * 1e-3 * level[p] * (0.5 + factor_rng.uniform(c));
    const double pmax = std::min(1.0, base * (1.0 + o.rate_modulation));
    if (pmax <= 0) continue;
    RngStream rng(o.seed, stream_id(split, sim, uint64_t(c)));
    const double log_q = pmax < 1.0 ? std::log1p(-pmax) : -INFINITY;
    int64_t t = -1;
    for (;;) {
      const double u = rng.uniform();
      t += 1 + (pmax < 1.0 ? static_cast<int64_t>(std::floor(std::log1p(-u) / log_q)) : 0);
      if (t >= T) break;
      const double accept = std::min(1.0, base * rate_factor(p, int(t))) / pmax;
      if (rng.uniform() < accept) keys.push_back(t * C + c);
    }
  }
  std::sort(keys.begin(), keys.end());
  out.event_time.resize(keys.size());
  out.event_channel.resize(keys.size());
  // Per-step excitatory / inhibitory event counts of each branch.
  std::vector<int32_t> exc(size_t(T) * NB, 0), inh(size_t(T) * NB, 0);
  for (size_t i = 0; i < keys.size(); ++i) {
    const int64_t t = keys[i] / C;
    const int c = int(keys[i] % C);
    out.event_time[i] = int32_t(t);
    out.event_channel[i] = uint16_t(c);
    const int seg = c < S ? c : c - S;
    const int branch = int(int64_t(seg) * NB / S);
    (c < S ? exc : inh)[size_t(t) * NB + branch] += 1;
  }

  // The neuron.
  const double scale = kRefSegments / S;
  const double dt = 1.0 / kSubsteps;
  const double da = std::exp(-dt / kTauAmpa), dn = std::exp(-dt / kTauNmda), dg = std::exp(-dt / kTauGaba);
  std::vector<double> a(size_t(NB), 0.0), n(size_t(NB), 0.0), g(size_t(NB), 0.0);
  double v = kRestMv, refractory = 0.0;
  out.soma.resize(size_t(T));
  for (int t = 0; t < T; ++t) {
    for (int b = 0; b < NB; ++b) {
      const double e = exc[size_t(t) * NB + b], i = inh[size_t(t) * NB + b];
      a[size_t(b)] += o.w_ampa * scale * e;
      n[size_t(b)] += o.w_nmda * scale * e;
      g[size_t(b)] += o.w_gaba * scale * i;
    }
    bool spiked = false;
    for (int k = 0; k < kSubsteps; ++k) {
      double drive = 0.0;
      for (int b = 0; b < NB; ++b) {
        a[size_t(b)] *= da;
        n[size_t(b)] *= dn;
        g[size_t(b)] *= dg;
        const double gate =
            1.0 / (1.0 + std::exp(-(a[size_t(b)] + n[size_t(b)] - g[size_t(b)] - o.nmda_threshold) / o.nmda_slope));
        drive += a[size_t(b)] + o.nmda_gain * n[size_t(b)] * gate - g[size_t(b)];
      }
      if (refractory > 0.0) {
        refractory -= dt;
        v = kResetMv;
        continue;
      }
      v += dt / kTauM * (-(v - kRestMv) + o.soma_gain * drive);
      if (v >= kThresholdMv) {
        out.output_spike_ms.push_back(float(t + (k + 1) * dt));
        spiked = true;
        v = kResetMv;
        refractory = kRefractoryMs;
      }
    }
    out.soma[size_t(t)] = float(spiked ? kPeakMv : v);
  }
  return out;
}

void write_synthetic_neuron_store(const std::string& out_dir, const SyntheticNeuronOptions& o, std::ostream& log) {
  o.validate("synthetic neuron");
  std::filesystem::create_directories(out_dir);
  const std::map<std::string, FieldType> fields{{"event_time", FieldType::Int32},
                                                {"event_channel", FieldType::UInt16},
                                                {"soma", FieldType::Float32},
                                                {"output_spike_ms", FieldType::Float32},
                                                {"event_index", FieldType::Int32}};
  const char* names[3] = {"train", "valid", "test"};
  const int64_t counts[3] = {o.train_simulations, o.valid_simulations, o.test_simulations};
  for (int split = 0; split < 3; ++split) {
    const std::string path = (std::filesystem::path(out_dir) / (std::string(names[split]) + ".h5")).string();
    StoreInfo info;
    info.task = "neuronio";
    info.split = names[split];
    info.source = "synthetic_neuron seed=" + std::to_string(o.seed);
    info.input_kind = "events";
    info.channels = o.channels;
    info.num_classes = 0;
    info.max_length = o.duration_ms;
    info.extra["sim_duration_ms"] = std::to_string(o.duration_ms);
    info.extra["generator"] = "synthetic_neuron";
    info.extra["event_time_rule"] =
        "step = int(t ms); channel = segment (excitatory) or channels/2 + segment (inhibitory)";
    StoreWriter w(path, info, fields);
    int64_t spikes = 0, events = 0;
    for (int64_t s = 0; s < counts[split]; ++s) {
      const SyntheticNeuronSimulation sim = simulate_synthetic_neuron(o, split, s);
      w.append_i32("event_time", sim.event_time);
      w.append_u16("event_channel", sim.event_channel);
      w.append_f32("soma", sim.soma);
      w.append_f32("output_spike_ms", sim.output_spike_ms);
      w.append_i32("event_index", neuronio_event_index(sim.event_time, o.duration_ms));
      w.end_sample(-1);
      spikes += int64_t(sim.output_spike_ms.size());
      events += int64_t(sim.event_time.size());
    }
    w.commit();
    const double rate = double(spikes) / (double(counts[split]) * o.duration_ms * 1e-3);
    log << "synthetic_neuron: wrote " << path << " (" << counts[split] << " simulations of " << o.duration_ms
        << " ms, " << o.channels << " channels, " << events << " input events, mean output rate " << rate
        << " Hz)\n"
        << std::flush;
  }
}

}  // namespace elm
