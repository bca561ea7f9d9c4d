#pragma once
// A built-in stand-in for NeuronIO: a small simulated neuron with nonlinear
// dendrites, written as a dataset store in exactly the converted-NeuronIO layout
// (see data/prep/neuronio_prep.hpp: event_time Int32, event_channel UInt16,
// soma Float32 [duration_ms] in mV, output_spike_ms Float32; task "neuronio"),
// so that NeuronioTask, the evaluation protocol and the metrics run end to end
// without the 115 GB data set.
//
// Inputs: channels/2 "segments", each with one excitatory channel (s) and one
// inhibitory channel (channels/2 + s). Per simulation, each input type has a
// level drawn in [1 - level_spread, 1 + level_spread] and a slowly varying rate
// profile (random knots every rate_period_ms, linearly interpolated, factor in
// [1 - rate_modulation, 1 + rate_modulation]); each channel has a fixed factor in
// [0.5, 1.5]. Spikes are Bernoulli per ms (at most one per channel and ms)
// drawn by thinning, so the cost grows with the number of spikes.
//
// Neuron: segments are split into `branches` contiguous groups. Per branch, an
// AMPA-like trace (tau 2 ms) and an NMDA-like trace (tau 50 ms) of its excitatory
// events and a GABA-like trace (tau 8 ms) of its inhibitory events; the branch
// drives the soma with
//     ampa + nmda_gain * nmda * sigmoid((ampa + nmda - gaba - nmda_threshold) / nmda_slope) - gaba
// (the NMDA part only opens when the branch is depolarised: a sigmoidal,
// cooperative nonlinearity). Weights are scaled by 639 / segments, so smaller
// test stores keep the full-size drive. Soma: leaky integrate-and-fire
// (E_L -76 mV, tau_m 15 ms, threshold -56 mV, reset -70 mV, refractory 3 ms),
// integrated with 4 sub-steps per ms. soma[t] is V at the end of ms t, or +20 mV
// (the spike peak) for the ms in which it fired; output_spike_ms is the
// threshold crossing time (a multiple of 0.25 ms in (t, t + 1]).
//
// With the defaults (1278 channels, 6000 ms) the mean output rate is about 1 Hz;
// about a third of the simulations are silent and a few exceed 24 spikes (so
// the evaluation's spike-count filter has work). Smaller channel counts make the
// input noisier (fewer, larger events) and the neuron fire more (128 channels:
// about 3 Hz).
//
// Every number depends only on (seed, split, simulation): deterministic and
// independent of thread count.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/key_values.hpp"

namespace elm {

struct SyntheticNeuronOptions {
  int channels = 1278;  // even
  int duration_ms = 6000;
  int64_t train_simulations = 256, valid_simulations = 64, test_simulations = 64;
  uint64_t seed = 1;
  double exc_rate_hz = 2.0, inh_rate_hz = 2.0;  // mean rate per channel
  double rate_modulation = 0.6;
  int rate_period_ms = 500;
  double level_spread = 0.2;
  int branches = 8;
  double w_ampa = 0.6, w_nmda = 0.1, w_gaba = 0.3;  // mV per event at 639 segments
  double nmda_gain = 2.0, nmda_threshold = 0.6, nmda_slope = 0.15;
  double soma_gain = 1.2;  // scales the summed branch drive at the soma

  // Keys as in this struct (e.g. "channels", "exc_rate_hz"); errors name `source`.
  static SyntheticNeuronOptions from_key_values(const KeyValues& kv, const std::string& source);
  void validate(const std::string& source) const;
};

struct SyntheticNeuronSimulation {
  std::vector<int32_t> event_time;       // sorted by (time, channel)
  std::vector<uint16_t> event_channel;
  std::vector<float> soma;               // [duration_ms] mV
  std::vector<float> output_spike_ms;
};

// split: 0 train, 1 valid, 2 test.
SyntheticNeuronSimulation simulate_synthetic_neuron(const SyntheticNeuronOptions& options, int split, int64_t sim);

// Writes <out_dir>/{train,valid,test}.h5 (each committed atomically), one log
// line per split with its simulation count, mean output rate and event count.
void write_synthetic_neuron_store(const std::string& out_dir, const SyntheticNeuronOptions& options,
                                  std::ostream& log);

}  // namespace elm
