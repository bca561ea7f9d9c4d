#include "data/neuronio_eval_windows.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace elm {

std::vector<int64_t> neuronio_eval_window_starts(int64_t T, int window, int burn_in) {
  ELM_CHECK(window >= 1 && burn_in >= 0 && burn_in < window && T >= window, "neuronio eval: simulations of ", T,
            " steps need window (", window, ") <= T and 0 <= burn_in (", burn_in, ") < window");
  const int64_t stride = window - burn_in;
  // Python: int(2 + (T - window) / stride), true division then truncation.
  const auto n = static_cast<int64_t>(2.0 + static_cast<double>(T - window) / static_cast<double>(stride));
  std::vector<int64_t> starts(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) starts[size_t(k)] = k * stride;
  return starts;
}

NeuronioEvalWindows read_neuronio_eval_windows(const StoreReader& store, const NeuronioStoreShape& shape,
                                               std::span<const int64_t> starts, int window, int64_t first,
                                               int64_t count) {
  const int64_t T = shape.duration_ms;
  const int64_t K = static_cast<int64_t>(starts.size());
  const int W = window, C = shape.channels, half = C / 2;

  NeuronioEvalWindows out;
  out.sims.reserve(size_t(count));
  for (int64_t i = 0; i < count; ++i) out.sims.push_back(read_neuronio_simulation(store, shape, first + i));

  const int B = static_cast<int>(count * K);
  out.x = InputBatch{B, W, C, {}};
  SpikeInput in;
  in.offsets.reserve(size_t(B) * W + 1);
  in.offsets.push_back(0);
  out.windows.reserve(size_t(B));
  for (int64_t i = 0; i < count; ++i) {
    const NeuronioSimulation& sim = out.sims[size_t(i)];
    for (int64_t k = 0; k < K; ++k) {
      const int64_t start = starts[size_t(k)];
      out.windows.push_back({first + i, start});
      for (int j = 0; j < W; ++j) {
        const int64_t t = start + j;
        if (t < T) {
          for (int64_t e = sim.step_offsets[size_t(t)]; e < sim.step_offsets[size_t(t) + 1]; ++e) {
            const int32_t c = sim.event_channel[size_t(e)];
            in.channel.push_back(c);
            in.value.push_back(c < half ? 1.0f : -1.0f);
          }
        }  // else: zero padding at the end of the last window
        in.offsets.push_back(static_cast<int64_t>(in.channel.size()));
      }
    }
  }
  out.x.data = std::move(in);
  return out;
}

void neuronio_eval_ground_truth(const NeuronioSimulation& sim, int64_t T, double* spike_gt, double* soma_gt) {
  for (int64_t t = 0; t < T; ++t)
    soma_gt[t] = std::min(static_cast<double>(sim.soma[size_t(t)]), kNeuronioSomaThreshold) - kNeuronioSomaBias;
  for (float tau : sim.output_spike_ms) spike_gt[neuronio_spike_index(tau)] = 1.0;
}

}  // namespace elm
