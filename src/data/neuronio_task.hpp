#pragma once
// NeuronIO (Beniaguev, Segev, London 2021) as a training task, read from the
// dataset store written by `elmrun prep neuronio` (src/data/prep/neuronio_prep.cpp)
// or by the built-in synthetic neuron (src/data/synthetic/synthetic_neuron.hpp):
// <store>/{train,valid,test}.h5, one sample per simulation with the fields
//   event_time (Int32 ms step), event_channel (UInt16: excitatory 0..C/2-1, then
//   inhibitory C/2..C-1), soma (Float32, one mV value per ms), output_spike_ms.
//
// Samples are windows of `window` (500) steps of one simulation:
//   inputs   SpikeInput, value +1 for excitatory and -1 for inhibitory channels
//            (the reference's synapse types);
//   targets  target_spike[b, j] = 1 where j = int(t - 0.5) - start for an output
//            spike at t ms inside the window; target_soma[b, j] =
//            (min(V, -55) + 67.7) * 0.1 of the soma voltage V at start + j.
//
// Train: sample index i (any i >= 0) is the window drawn from CounterRng(seed, i):
//   simulation uniform in [0, N_train), start uniform in [500, T - window)
//   (= [500, 5500) for T = 6000, window = 500, the reference's training windows).
//   num_samples(Train) is task.windows_per_epoch (default 80000 = the reference's
//   batches_per_epoch 10000 x batch 8). A window is a pure function of (seed, i):
//   the trainer's per-epoch permutation of [0, windows_per_epoch) would revisit
//   the same windows every epoch; make_train_batch draws fresh windows each epoch
//   (as the reference's endless loader does) by reading index i of epoch e as
//   train_window_key(e, i) = e * windows_per_epoch + i; make_batch(Train) accepts
//   any index >= 0.
// Valid / Test: a fixed grid, for a window loss comparable to the training loss:
//   index i is simulation i / W at start 500 + (i % W) * window, W =
//   floor((T - 500) / window) windows per simulation (11 for NeuronIO). The
//   paper's metrics come from evaluate_neuronio_file (train/neuronio_protocol.hpp).
//
// Threads: make_batch may run on any thread (e.g. a prefetch thread) and on
// several at once. HDF5's C++ objects are not safe to share between threads, so
// every store access of a task goes through one mutex. All three splits are
// opened and checked at construction, so a missing or malformed file fails early.
//
// Options (the [task] section, keys without the "task." prefix):
//   store              directory with train.h5, valid.h5, test.h5 (required)
//   window             window length in steps (default 500)
//   windows_per_epoch  num_samples(Train) (default 80000)
//   seed               training-window seed (default 0)
#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/key_values.hpp"
#include "data/store/dataset_store.hpp"
#include "data/task.hpp"

namespace elm {

inline constexpr double kNeuronioSomaThreshold = -55.0;  // mV; the soma is clipped from above
inline constexpr double kNeuronioSomaBias = -67.7;       // mV; subtracted
inline constexpr double kNeuronioSomaScale = 0.1;        // training targets only
inline constexpr int kNeuronioIgnoreMs = 500;            // training windows start here; eval drops it

// The reference's target index of an output spike at t ms: int(t - 0.5)
// (truncation toward zero, so t in [0, 1.5) gives 0).
inline int64_t neuronio_spike_index(double t) { return static_cast<int64_t>(t - 0.5); }
// Training soma target, computed in float32 as the reference's torch code does.
inline float neuronio_train_soma(float v) {
  return (std::min(v, static_cast<float>(kNeuronioSomaThreshold)) - static_cast<float>(kNeuronioSomaBias)) *
         static_cast<float>(kNeuronioSomaScale);
}

// The coarse event index stored with each simulation (optional field
// "event_index", i32): entry k is the offset of the first event at step >=
// min(k * kNeuronioIndexStepMs, T), for k in [0, ceil(T / kNeuronioIndexStepMs)].
// With it a training window reads only its own range from the first visit on.
inline constexpr int64_t kNeuronioIndexStepMs = 100;
// event_time: sorted steps of one simulation of T steps.
std::vector<int32_t> neuronio_event_index(std::span<const int32_t> event_time, int64_t T);

// The shape of a NeuronIO store split, checked on open.
struct NeuronioStoreShape {
  int channels = 0;          // even; first half excitatory
  int64_t duration_ms = 0;   // steps per simulation
  int64_t simulations = 0;
};
// Checks the fields and attributes (one-line ElmError naming the file).
NeuronioStoreShape check_neuronio_store(const StoreReader& store);

// One simulation, checked: events sorted by step with step in [0, T) and channel
// in [0, C); soma of T finite values; output spike times finite with
// int(t - 0.5) in [0, T). Errors name the file and the simulation.
struct NeuronioSimulation {
  std::vector<int32_t> event_time, event_channel;
  std::vector<float> soma;
  std::vector<float> output_spike_ms;
  std::vector<int64_t> step_offsets;  // [T + 1]: events of step t are [step_offsets[t], step_offsets[t+1])
};
NeuronioSimulation read_neuronio_simulation(const StoreReader& store, const NeuronioStoreShape& shape, int64_t sim);

struct NeuronioTaskOptions {
  std::string store;
  int window = 500;
  int64_t windows_per_epoch = 80000;
  uint64_t seed = 0;
  // Decoded simulations kept in memory (MiB): as the reference loader holds the
  // data set in RAM, windows of a kept simulation need no file read. Those
  // beyond the budget are read by range per window. 0: read every window.
  int64_t cache_mb = 1024;

  static NeuronioTaskOptions from_key_values(const KeyValues& kv, const std::string& source);
};

struct NeuronioWindow {
  int64_t simulation = 0;
  int64_t start = 0;
};

class NeuronioTask : public Task {
 public:
  explicit NeuronioTask(const NeuronioTaskOptions& options);
  ~NeuronioTask() override;

  std::string name() const override { return "neuronio"; }
  int num_input() const override { return shape_.channels; }
  int num_output() const override { return 2; }
  int64_t num_samples(Split split) const override;
  Batch make_batch(Split split, std::span<const int64_t> indices) const override;
  TaskLoss loss() const override { return TaskLoss::Neuronio; }
  InputKind input_kind() const override { return InputKind::Spikes; }
  // Fresh windows every epoch, as the reference's loader draws them.
  Batch make_train_batch(std::span<const int64_t> indices, int64_t step, int64_t epoch) const override;

  // The window of a sample index (see the header comment).
  NeuronioWindow window_of(Split split, int64_t index) const;
  int64_t train_window_key(int64_t epoch, int64_t index) const { return epoch * o_.windows_per_epoch + index; }
  int window() const { return o_.window; }
  int64_t duration_ms() const { return shape_.duration_ms; }
  int64_t simulations(Split split) const;
  std::string store_path(Split split) const;
  const NeuronioTaskOptions& options() const { return o_; }

 private:
  struct SplitStore {
    std::unique_ptr<StoreReader> reader;
    NeuronioStoreShape shape;
  };

  // The coarse event index of simulation `sim` of split `si` (mu_ held): entry k
  // is the offset of the first event at step >= min(k * kIndexStepMs, T), for k
  // in [0, ceil(T / kIndexStepMs)]. Built on first use from one full read of the
  // simulation (read_neuronio_simulation, so each simulation is checked once);
  // a window then reads only the events of the index steps it overlaps.
  static constexpr int64_t kIndexStepMs = kNeuronioIndexStepMs;
  // What a window needs beyond its own ranges: the event offset at every
  // kIndexStepMs step, and the (few) output spike times.
  struct SimulationIndex {
    std::vector<int32_t> event_offsets;
    std::vector<float> output_spike_ms;
    std::shared_ptr<const NeuronioSimulation> decoded;  // the whole simulation, while the cache budget lasts
  };
  const SimulationIndex& simulation_index(int si, int64_t sim) const;

  NeuronioTaskOptions o_;
  NeuronioStoreShape shape_;      // of train.h5
  int64_t eval_windows_per_sim_;  // W of the valid/test grid
  mutable std::mutex mu_;
  SplitStore splits_[3];  // readers used only with mu_ held
  mutable std::vector<SimulationIndex> coarse_[3];  // per simulation, empty until built; mu_ held
  mutable int64_t cached_bytes_ = 0;                 // decoded simulations kept; mu_ held
};

}  // namespace elm
