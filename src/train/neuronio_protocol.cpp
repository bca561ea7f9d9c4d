#include "train/neuronio_protocol.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "data/neuronio_eval_windows.hpp"

namespace elm {

namespace {

float sigmoid_f(float x) { return 1.0f / (1.0f + std::exp(-x)); }

void check_options(const NeuronioEvalOptions& o) {
  ELM_CHECK(o.window >= 1, "neuronio eval: window must be >= 1, got ", o.window);
  ELM_CHECK(o.burn_in >= 0 && o.burn_in < o.window, "neuronio eval: burn_in must be in [0, window), got ", o.burn_in);
  ELM_CHECK(o.ignore_ms >= 0, "neuronio eval: ignore_ms must be >= 0, got ", o.ignore_ms);
  ELM_CHECK(o.min_spikes >= 0 && o.min_spikes <= o.max_spikes, "neuronio eval: need 0 <= min_spikes <= max_spikes");
  ELM_CHECK(o.sims_per_file >= 1, "neuronio eval: sims_per_file must be >= 1, got ", o.sims_per_file);
  ELM_CHECK(o.sims_per_forward >= 1, "neuronio eval: sims_per_forward must be >= 1, got ", o.sims_per_forward);
}

}  // namespace

NeuronioPredictions predict_neuronio_simulations(const NeuronioForward& forward, int outputs, const StoreReader& store,
                                                 int64_t first, int64_t count, const NeuronioEvalOptions& o) {
  check_options(o);
  ELM_CHECK(outputs >= 2, "neuronio eval: the model has ", outputs, " outputs, needs 2 (spike logit, soma)");
  const NeuronioStoreShape shape = check_neuronio_store(store);
  ELM_CHECK(first >= 0 && count >= 0 && first + count <= shape.simulations, store.path(), ": simulations [", first,
            ", ", first + count, ") outside the ", shape.simulations, " stored");
  const int64_t T = shape.duration_ms;
  const std::vector<int64_t> starts = neuronio_eval_window_starts(T, o.window, o.burn_in);
  const int64_t K = static_cast<int64_t>(starts.size());
  const int W = o.window;

  NeuronioPredictions p;
  p.simulations = count;
  p.steps = T;
  const size_t total = size_t(count) * size_t(T);
  p.spike_gt.assign(total, 0.0);
  p.spike_hat.assign(total, 0.0);
  p.soma_gt.assign(total, 0.0);
  p.soma_hat.assign(total, 0.0);

  std::vector<float> y;
  for (int64_t s0 = first; s0 < first + count; s0 += o.sims_per_forward) {
    const int64_t n = std::min<int64_t>(o.sims_per_forward, first + count - s0);
    const NeuronioEvalWindows batch = read_neuronio_eval_windows(store, shape, starts, W, s0, n);
    y.assign(size_t(batch.x.batch) * W * outputs, std::numeric_limits<float>::quiet_NaN());
    forward(batch.x, batch.windows, y.data());

    for (int64_t i = 0; i < n; ++i) {
      const size_t row = size_t(s0 - first + i) * size_t(T);
      for (int64_t k = 0; k < K; ++k) {
        const int64_t start = starts[size_t(k)];
        const int64_t t_begin = k == 0 ? 0 : start + o.burn_in;
        const int64_t t_end = std::min<int64_t>(start + W, T);
        const float* yw = y.data() + size_t(i * K + k) * W * outputs;
        for (int64_t t = t_begin; t < t_end; ++t) {
          const float* yt = yw + size_t(t - start) * outputs;
          p.spike_hat[row + size_t(t)] = static_cast<double>(sigmoid_f(yt[0]));
          p.soma_hat[row + size_t(t)] = static_cast<double>(yt[1] / static_cast<float>(kNeuronioSomaScale));
        }
      }
      neuronio_eval_ground_truth(batch.sims[size_t(i)], T, p.spike_gt.data() + row, p.soma_gt.data() + row);
    }
  }
  return p;
}

void rescale_soma_to_ground_truth(NeuronioPredictions& p) {
  const auto mean_std = [](const std::vector<double>& v) {
    double sum = 0;
    for (double a : v) sum += a;
    const double mean = sum / static_cast<double>(v.size());
    double ss = 0;
    for (double a : v) ss += (a - mean) * (a - mean);
    return std::pair<double, double>(mean, std::sqrt(ss / static_cast<double>(v.size())));
  };
  if (p.soma_hat.empty()) return;
  const auto [m_dst, s_dst] = mean_std(p.soma_gt);
  const auto [m_src, s_src] = mean_std(p.soma_hat);
  for (double& v : p.soma_hat) v = s_dst * ((v - m_src) / s_src) + m_dst;
}

NeuronioEvalResult evaluate_neuronio_file(const NeuronioForward& forward, int outputs, const StoreReader& store,
                                          const NeuronioEvalOptions& o) {
  check_options(o);
  const NeuronioStoreShape shape = check_neuronio_store(store);
  const int64_t T = shape.duration_ms;
  ELM_CHECK(o.ignore_ms < T, store.path(), ": ignore_ms (", o.ignore_ms, ") leaves nothing of simulations of ", T,
            " ms");
  const int64_t n = o.max_simulations < 0 ? shape.simulations : std::min(o.max_simulations, shape.simulations);
  NeuronioEvalResult r;
  r.simulations = n;
  std::vector<double> spike_gt, spike_hat, soma_gt, soma_hat;
  for (int64_t f0 = 0; f0 < n; f0 += o.sims_per_file) {
    NeuronioPredictions p =
        predict_neuronio_simulations(forward, outputs, store, f0, std::min(o.sims_per_file, n - f0), o);
    rescale_soma_to_ground_truth(p);
    ++r.files;
    for (int64_t s = 0; s < p.simulations; ++s) {
      const size_t row = size_t(s) * size_t(T);
      double spikes = 0;
      for (int64_t t = 0; t < T; ++t) spikes += p.spike_gt[row + size_t(t)];
      if (spikes < o.min_spikes || spikes > o.max_spikes) continue;
      ++r.kept;
      const size_t a = row + size_t(o.ignore_ms), b = row + size_t(T);
      spike_gt.insert(spike_gt.end(), p.spike_gt.begin() + a, p.spike_gt.begin() + b);
      spike_hat.insert(spike_hat.end(), p.spike_hat.begin() + a, p.spike_hat.begin() + b);
      soma_gt.insert(soma_gt.end(), p.soma_gt.begin() + a, p.soma_gt.begin() + b);
      soma_hat.insert(soma_hat.end(), p.soma_hat.begin() + a, p.soma_hat.begin() + b);
    }
  }
  r.points = static_cast<int64_t>(spike_gt.size());
  if (r.points == 0) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    r.metrics.auc = r.metrics.tp_at_fp_0025 = r.metrics.auc_at_fp_0025 = r.metrics.tp_at_fp_0100 =
        r.metrics.auc_at_fp_0100 = r.metrics.soma_rmse = r.metrics.soma_mae =
            r.metrics.soma_explained_variance_percent = nan;
    return r;
  }
  r.metrics = compute_neuronio_metrics(spike_gt, spike_hat, soma_gt, soma_hat);
  return r;
}

}  // namespace elm
