#pragma once
// NeuronIO evaluation, Beniaguev's protocol as kept by the reference
// (elmneuron src/neuronio/neuronio_eval_utils.py: compute_test_predictions per
// file, then filter_and_extract_core_results over all files). The windows and
// the ground truth come from the data layer (data/neuronio_eval_windows.hpp);
// this half runs the model over them and computes the metrics.
//
// Per file of simulations (sims_per_file consecutive simulations of the store:
// 128 in the released data; the store does not record file boundaries, and
// prep_neuronio appends every file's 128 simulations in order):
//   ground truth  spike[s, t] = 1 at t = int(tau - 0.5) for each output spike tau;
//                 soma[s, t] = min(V, -55) + 67.7 (mV, no 0.1 scale).
//   windows       of `window` (500) steps starting at k * (window - burn_in) =
//                 k * 350 for k = 0 .. int(2 + (T - window) / (window - burn_in)) - 1;
//                 inputs past T are zero (the last window is zero-padded at its end).
//   stitching     window 0 fills t in [0, window) from its steps 0..; window k > 0
//                 fills t in [start + burn_in, min(start + window, T)) from its
//                 steps burn_in.. (its first burn_in = 150 steps are burn-in).
//   predictions   sigmoid(spike logit) and soma logit / 0.1 (float32, as torch).
//   rescaling     the soma prediction is z-scored and rescaled to the ground
//                 truth's mean and std (population std), both over the whole file
//                 (every simulation, every step) - a quirk kept for comparability.
// Then over all files: keep simulations whose spike row sums to 0..24 (the
// binary target, over the whole simulation), drop the first 500 ms of each,
// flatten, and compute_neuronio_metrics.
//
// The model runs on all windows of sims_per_forward simulations per call.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "backend/input_batch.hpp"
#include "data/neuronio_task.hpp"
#include "data/store/dataset_store.hpp"
#include "train/neuronio_metrics.hpp"

namespace elm {

struct NeuronioEvalOptions {
  int window = 500;
  int burn_in = 150;
  int ignore_ms = 500;           // dropped from the start of each simulation before the metrics
  int min_spikes = 0, max_spikes = 24;
  int64_t sims_per_file = 128;   // z-score groups
  int sims_per_forward = 4;      // simulations whose windows go through one forward call
  int64_t max_simulations = -1;  // evaluate only the first n simulations (-1: all); a quick validation
};

// The model: y[B, window, outputs] = logits for the batch x; output 0 is the
// spike logit, output 1 the (scaled) soma. `windows[b]` says where row b comes
// from (a real model ignores it; test stubs use it).
using NeuronioForward =
    std::function<void(const InputBatch& x, std::span<const NeuronioWindow> windows, float* y)>;

// Stitched predictions of simulations [first, first + count) before the soma
// rescaling: every array is [count, T] row-major. soma_hat holds soma logit / 0.1.
struct NeuronioPredictions {
  int64_t simulations = 0, steps = 0;
  std::vector<double> spike_gt, spike_hat, soma_gt, soma_hat;
};
NeuronioPredictions predict_neuronio_simulations(const NeuronioForward& forward, int outputs, const StoreReader& store,
                                                 int64_t first, int64_t count, const NeuronioEvalOptions& options = {});
// The file-level quirk: soma_hat <- (soma_hat - mean) / std * std(soma_gt) + mean(soma_gt).
void rescale_soma_to_ground_truth(NeuronioPredictions& p);

struct NeuronioEvalResult {
  NeuronioMetrics metrics;         // NaN everywhere when no simulation is kept
  int64_t simulations = 0;         // evaluated
  int64_t kept = 0;                // with min_spikes..max_spikes output spikes
  int64_t files = 0;               // z-score groups
  int64_t points = 0;              // flattened entries behind the metrics
};

NeuronioEvalResult evaluate_neuronio_file(const NeuronioForward& forward, int outputs, const StoreReader& store,
                                          const NeuronioEvalOptions& options = {});

}  // namespace elm
