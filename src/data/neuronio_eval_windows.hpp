#pragma once
// The data side of the NeuronIO evaluation protocol (train/neuronio_protocol.hpp
// runs the model and computes the metrics): where the windows of a simulation
// start, the batch of windows of a run of simulations, and the ground truth the
// predictions are scored against. Nothing here runs a model.
#include <cstdint>
#include <span>
#include <vector>

#include "backend/input_batch.hpp"
#include "data/neuronio_task.hpp"
#include "data/store/dataset_store.hpp"

namespace elm {

// Window starts of the protocol for simulations of T steps: k * (window -
// burn_in) for k = 0 .. int(2 + (T - window) / (window - burn_in)) - 1.
std::vector<int64_t> neuronio_eval_window_starts(int64_t T, int window, int burn_in);

// Every window (at `starts`) of simulations [first, first + count) as one
// batch. Row i * starts.size() + k is window k of simulation first + i;
// inputs past the simulation's end are zero (the last window is zero-padded at
// its end). Spike inputs are +1 on the first half of the channels (excitatory)
// and -1 on the second.
struct NeuronioEvalWindows {
  std::vector<NeuronioSimulation> sims;  // first .. first + count - 1, as read
  InputBatch x;                          // [count * starts.size(), window, channels]
  std::vector<NeuronioWindow> windows;   // where each row of x comes from
};
NeuronioEvalWindows read_neuronio_eval_windows(const StoreReader& store, const NeuronioStoreShape& shape,
                                               std::span<const int64_t> starts, int window, int64_t first,
                                               int64_t count);

// The ground truth of one simulation of T steps, written to spike_gt[0, T) and
// soma_gt[0, T) (spike_gt must be zero on entry): spike_gt[t] = 1 at t =
// int(tau - 0.5) for each output spike tau; soma_gt[t] = min(V, -55) + 67.7
// (mV, no 0.1 scale).
void neuronio_eval_ground_truth(const NeuronioSimulation& sim, int64_t T, double* spike_gt, double* soma_gt);

}  // namespace elm
