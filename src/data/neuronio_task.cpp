#include "data/neuronio_task.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "core/did_you_mean.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace elm {

namespace {

const char* const kNeuronioFields[] = {"event_time", "event_channel", "soma", "output_spike_ms"};

int split_index(Split s) { return s == Split::Train ? 0 : s == Split::Valid ? 1 : 2; }

}  // namespace

NeuronioStoreShape check_neuronio_store(const StoreReader& store) {
  const std::string& path = store.path();
  const StoreInfo& info = store.info();
  ELM_CHECK(info.task == "neuronio", path, ": not a NeuronIO store (task attribute is '", info.task, "')");
  for (const char* f : kNeuronioFields)
    ELM_CHECK(store.has_field(f), path, ": NeuronIO store lacks the field '", f, "'");
  ELM_CHECK(info.channels >= 2 && info.channels % 2 == 0 && info.channels <= 65536, path, ": NeuronIO store has ",
            info.channels, " channels, expected an even number in [2, 65536]");
  ELM_CHECK(info.max_length >= 1 && info.max_length <= 100'000'000, path, ": NeuronIO store has max_length ",
            info.max_length, ", expected the simulation length in ms");
  if (auto it = info.extra.find("sim_duration_ms"); it != info.extra.end())
    ELM_CHECK(it->second == std::to_string(info.max_length), path, ": extra.sim_duration_ms (", it->second,
              ") differs from max_length (", info.max_length, ")");
  ELM_CHECK(store.num_samples() >= 1, path, ": NeuronIO store holds no simulations");
  NeuronioStoreShape s;
  s.channels = static_cast<int>(info.channels);
  s.duration_ms = info.max_length;
  s.simulations = store.num_samples();
  return s;
}

std::vector<int32_t> neuronio_event_index(std::span<const int32_t> event_time, int64_t T) {
  const int64_t steps = (T + kNeuronioIndexStepMs - 1) / kNeuronioIndexStepMs;
  std::vector<int32_t> index(size_t(steps) + 1);
  size_t e = 0;
  for (int64_t k = 0; k <= steps; ++k) {
    const int64_t step = std::min(k * kNeuronioIndexStepMs, T);
    while (e < event_time.size() && event_time[e] < step) ++e;
    index[size_t(k)] = static_cast<int32_t>(k == steps ? event_time.size() : e);
  }
  return index;
}

NeuronioSimulation read_neuronio_simulation(const StoreReader& store, const NeuronioStoreShape& shape, int64_t sim) {
  const std::string& path = store.path();
  ELM_CHECK(sim >= 0 && sim < shape.simulations, path, ": simulation ", sim, " outside 0..", shape.simulations - 1);
  const int64_t T = shape.duration_ms;
  NeuronioSimulation s;
  s.event_time = store.read_i32("event_time", sim);
  s.event_channel = store.read_i32("event_channel", sim);
  s.soma = store.read_f32("soma", sim);
  s.output_spike_ms = store.read_f32("output_spike_ms", sim);
  ELM_CHECK(s.event_time.size() == s.event_channel.size(), path, ": simulation ", sim, ": event_time has ",
            s.event_time.size(), " values but event_channel has ", s.event_channel.size());
  ELM_CHECK(static_cast<int64_t>(s.soma.size()) == T, path, ": simulation ", sim, ": soma has ", s.soma.size(),
            " values, expected ", T, " (one per ms)");
  s.step_offsets.assign(size_t(T) + 1, 0);
  int64_t prev = 0;
  for (size_t e = 0; e < s.event_time.size(); ++e) {
    const int64_t t = s.event_time[e], c = s.event_channel[e];
    ELM_CHECK(t >= 0 && t < T, path, ": simulation ", sim, ": event ", e, " at step ", t, " outside [0, ", T, ")");
    ELM_CHECK(t >= prev, path, ": simulation ", sim, ": events not sorted by time (event ", e, " at step ", t,
              " after step ", prev, ")");
    ELM_CHECK(c >= 0 && c < shape.channels, path, ": simulation ", sim, ": event ", e, " on channel ", c,
              " outside 0..", shape.channels - 1);
    prev = t;
    ++s.step_offsets[size_t(t) + 1];
  }
  for (int64_t t = 0; t < T; ++t) s.step_offsets[size_t(t) + 1] += s.step_offsets[size_t(t)];
  for (size_t j = 0; j < s.soma.size(); ++j)
    ELM_CHECK(std::isfinite(s.soma[j]), path, ": simulation ", sim, ": soma[", j, "] is not finite");
  for (size_t j = 0; j < s.output_spike_ms.size(); ++j) {
    const double t = s.output_spike_ms[j];
    ELM_CHECK(std::isfinite(t) && t >= 0 && neuronio_spike_index(t) < T, path, ": simulation ", sim,
              ": output spike at ", t, " ms outside [0, ", T, " + 0.5)");
  }
  return s;
}

NeuronioTaskOptions NeuronioTaskOptions::from_key_values(const KeyValues& kv, const std::string& source) {
  NeuronioTaskOptions o;
  for (const auto& [k, v] : kv) {
    const std::string key = "task." + k;
    if (k == "store") o.store = v;
    else if (k == "window") {
      const int64_t w = parse_int(v, key, source);
      ELM_CHECK(w >= 1 && w <= 1'000'000, source, ": task.window must be in [1, 1000000], got ", w);
      o.window = static_cast<int>(w);
    } else if (k == "windows_per_epoch") {
      o.windows_per_epoch = parse_int(v, key, source);
      ELM_CHECK(o.windows_per_epoch >= 1, source, ": task.windows_per_epoch must be >= 1, got ", o.windows_per_epoch);
    } else if (k == "seed") {
      const int64_t s = parse_int(v, key, source);
      ELM_CHECK(s >= 0, source, ": task.seed must be >= 0, got ", s);
      o.seed = static_cast<uint64_t>(s);
    } else if (k == "cache_mb") {
      o.cache_mb = parse_int(v, key, source);
      ELM_CHECK(o.cache_mb >= 0, source, ": task.cache_mb must be >= 0, got ", o.cache_mb);
    } else {
      const std::vector<std::string> known = {"store", "window", "windows_per_epoch", "seed", "cache_mb"};
      fail(source, ": unknown key '", key, "' for task neuronio", did_you_mean(k, known), " (known: ",
           join_names(known), ")");
    }
  }
  ELM_CHECK(!o.store.empty(), source, ": task neuronio needs task.store (the directory holding train.h5, valid.h5, test.h5)");
  return o;
}

NeuronioTask::NeuronioTask(const NeuronioTaskOptions& options) : o_(options) {
  ELM_CHECK(std::filesystem::is_directory(o_.store), o_.store, ": no such directory (task.store of task neuronio)");
  for (Split s : {Split::Train, Split::Valid, Split::Test}) {
    SplitStore& st = splits_[split_index(s)];
    st.reader = std::make_unique<StoreReader>(store_path(s));
    st.shape = check_neuronio_store(*st.reader);
    ELM_CHECK(st.reader->info().split.empty() || st.reader->info().split == to_string(s), store_path(s),
              ": holds split '", st.reader->info().split, "', expected '", to_string(s), "'");
  }
  shape_ = splits_[0].shape;
  for (int i = 1; i < 3; ++i) {
    const NeuronioStoreShape& s = splits_[i].shape;
    ELM_CHECK(s.channels == shape_.channels && s.duration_ms == shape_.duration_ms, splits_[i].reader->path(), ": ",
              s.channels, " channels x ", s.duration_ms, " ms, but train.h5 has ", shape_.channels, " x ",
              shape_.duration_ms);
  }
  ELM_CHECK(shape_.duration_ms - o_.window - kNeuronioIgnoreMs >= 1, store_path(Split::Train), ": simulations of ",
            shape_.duration_ms, " ms are too short for task.window ", o_.window, " (need > ", kNeuronioIgnoreMs,
            " + window ms)");
  eval_windows_per_sim_ = (shape_.duration_ms - kNeuronioIgnoreMs) / o_.window;
  for (int i = 0; i < 3; ++i) coarse_[i].resize(size_t(splits_[i].shape.simulations));
}

const NeuronioTask::SimulationIndex& NeuronioTask::simulation_index(int si, int64_t sim) const {
  SimulationIndex& index = coarse_[si][size_t(sim)];
  if (!index.event_offsets.empty()) return index;
  const SplitStore& st = splits_[si];
  const int64_t T = st.shape.duration_ms;
  const int64_t budget = o_.cache_mb * (int64_t(1) << 20);
  if (st.reader->has_field("event_index")) {
    const int64_t events = st.reader->length("event_time", sim);
    // What keeping it decoded would take; beyond the budget, only the stored
    // index and the output spikes are read (the window ranges are checked as read).
    if (cached_bytes_ + events * 8 + T * 12 > budget) {
      const std::string& path = st.reader->path();
      std::vector<int32_t> stored = st.reader->read_i32("event_index", sim);
      const int64_t steps = (T + kIndexStepMs - 1) / kIndexStepMs;
      ELM_CHECK(int64_t(stored.size()) == steps + 1 && stored.front() == 0 && stored.back() == events, path,
                ": simulation ", sim, ": event_index does not fit its ", events, " events and ", T, " steps");
      for (size_t k = 1; k < stored.size(); ++k)
        ELM_CHECK(stored[k - 1] <= stored[k], path, ": simulation ", sim, ": event_index is not monotone at ", k);
      std::vector<float> out = st.reader->read_f32("output_spike_ms", sim);
      for (float t : out)
        ELM_CHECK(std::isfinite(t) && t >= 0 && neuronio_spike_index(t) < T, path, ": simulation ", sim,
                  ": output spike at ", t, " ms outside [0, ", T, " + 0.5)");
      index.output_spike_ms = std::move(out);
      index.event_offsets = std::move(stored);  // last: a non-empty index marks the entry as complete
      return index;
    }
  }
  auto decoded = std::make_shared<NeuronioSimulation>(read_neuronio_simulation(*st.reader, st.shape, sim));
  const NeuronioSimulation& s = *decoded;
  ELM_CHECK(s.step_offsets[size_t(T)] <= std::numeric_limits<int32_t>::max(), st.reader->path(), ": simulation ", sim,
            " has ", s.step_offsets[size_t(T)], " events, more than the int32 event index holds");
  const int64_t steps = (T + kIndexStepMs - 1) / kIndexStepMs;
  std::vector<int32_t> built(size_t(steps) + 1);
  for (int64_t k = 0; k <= steps; ++k)
    built[size_t(k)] = static_cast<int32_t>(s.step_offsets[size_t(std::min(k * kIndexStepMs, T))]);
  index.output_spike_ms = s.output_spike_ms;
  const int64_t bytes = int64_t(s.event_time.size() * 4 + s.event_channel.size() * 4 + s.soma.size() * 4 +
                                s.step_offsets.size() * 8 + s.output_spike_ms.size() * 4);
  if (cached_bytes_ + bytes <= budget) {
    cached_bytes_ += bytes;
    index.decoded = std::move(decoded);
  }
  index.event_offsets = std::move(built);  // last: a non-empty index marks the entry as complete
  return index;
}

NeuronioTask::~NeuronioTask() = default;

std::string NeuronioTask::store_path(Split split) const {
  return (std::filesystem::path(o_.store) / (std::string(to_string(split)) + ".h5")).string();
}

int64_t NeuronioTask::simulations(Split split) const { return splits_[split_index(split)].shape.simulations; }

int64_t NeuronioTask::num_samples(Split split) const {
  if (split == Split::Train) return o_.windows_per_epoch;
  return simulations(split) * eval_windows_per_sim_;
}

NeuronioWindow NeuronioTask::window_of(Split split, int64_t index) const {
  NeuronioWindow w;
  if (split == Split::Train) {
    ELM_CHECK(index >= 0, "neuronio: training sample index ", index, " is negative");
    const CounterRng rng(o_.seed, static_cast<uint64_t>(index));
    w.simulation = static_cast<int64_t>(rng.below(0, static_cast<uint64_t>(shape_.simulations)));
    w.start = kNeuronioIgnoreMs +
              static_cast<int64_t>(rng.below(1, static_cast<uint64_t>(shape_.duration_ms - o_.window - kNeuronioIgnoreMs)));
  } else {
    ELM_CHECK(index >= 0 && index < num_samples(split), "neuronio: sample ", index, " outside the ", to_string(split),
              " split (", num_samples(split), " windows)");
    w.simulation = index / eval_windows_per_sim_;
    w.start = kNeuronioIgnoreMs + (index % eval_windows_per_sim_) * o_.window;
  }
  return w;
}

namespace {

// One window's events in step order: channels, and the +1/-1 input sign of
// excitatory/inhibitory channels, appended in one go.
template <class Channel>
void append_window_events(SpikeInput& in, const Channel* channel, size_t n, int half) {
  const size_t base = in.channel.size();
  in.channel.resize(base + n);
  in.value.resize(base + n);
  for (size_t k = 0; k < n; ++k) {
    const int32_t c = int32_t(channel[k]);
    in.channel[base + k] = c;
    in.value[base + k] = c < half ? 1.0f : -1.0f;
  }
}

}  // namespace

Batch NeuronioTask::make_train_batch(std::span<const int64_t> indices, int64_t, int64_t epoch) const {
  std::vector<int64_t> keys(indices.begin(), indices.end());
  for (auto& k : keys) k = train_window_key(epoch, k);
  return make_batch(Split::Train, keys);
}

Batch NeuronioTask::make_batch(Split split, std::span<const int64_t> indices) const {
  const int B = static_cast<int>(indices.size()), T = o_.window, C = shape_.channels;
  const int half = C / 2;
  Batch batch;
  batch.x = InputBatch{B, T, C, {}};
  SpikeInput in;
  in.offsets.reserve(size_t(B) * T + 1);
  in.offsets.push_back(0);
  batch.target_spike.assign(size_t(B) * T, 0.0f);
  batch.target_soma.assign(size_t(B) * T, 0.0f);
  std::vector<int32_t> step_counts;
  for (int b = 0; b < B; ++b) {
    const NeuronioWindow w = window_of(split, indices[b]);
    // Only the window's part of the simulation is read: the events of the
    // coarse index steps it overlaps and its soma values (output spikes are cached).
    std::vector<int32_t> event_time, event_channel;
    std::vector<float> soma, output_spike_ms;
    std::shared_ptr<const NeuronioSimulation> decoded;
    {
      std::lock_guard<std::mutex> lock(mu_);
      decoded = simulation_index(split_index(split), w.simulation).decoded;
    }
    if (decoded) {
      // In memory: the window's events straight from the per-step offsets.
      const NeuronioSimulation& s = *decoded;
      const int64_t e0 = s.step_offsets[size_t(w.start)], e1 = s.step_offsets[size_t(w.start + T)];
      append_window_events(in, s.event_channel.data() + e0, size_t(e1 - e0), half);
      const int64_t base = static_cast<int64_t>(in.channel.size()) - (e1 - e0) - e0;
      for (int j = 0; j < T; ++j) {
        const int64_t t = w.start + j;
        in.offsets.push_back(base + s.step_offsets[size_t(t) + 1]);
        batch.target_soma[size_t(b) * T + j] = neuronio_train_soma(s.soma[size_t(t)]);
      }
      for (float t : s.output_spike_ms) {
        const int64_t j = neuronio_spike_index(t) - w.start;
        if (j >= 0 && j < T) batch.target_spike[size_t(b) * T + size_t(j)] = 1.0f;
      }
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      const int si = split_index(split);
      const StoreReader& reader = *splits_[si].reader;
      const SimulationIndex& cached = simulation_index(si, w.simulation);
      const std::vector<int32_t>& index = cached.event_offsets;
      const int64_t k0 = w.start / kIndexStepMs;
      const int64_t k1 = std::min<int64_t>((w.start + T + kIndexStepMs - 1) / kIndexStepMs,
                                           static_cast<int64_t>(index.size()) - 1);
      const int64_t e0 = index[size_t(k0)], ne = index[size_t(k1)] - e0;
      event_time = reader.read_i32_range("event_time", w.simulation, e0, ne);
      event_channel = reader.read_i32_range("event_channel", w.simulation, e0, ne);
      soma = reader.read_f32_range("soma", w.simulation, w.start, T);
      output_spike_ms = cached.output_spike_ms;
    }
    // Events are sorted by step (checked when the index was built): skip those
    // before the window, then take each step's events in order.
    const auto first = std::lower_bound(event_time.begin(), event_time.end(), int32_t(w.start));
    const auto last = std::lower_bound(first, event_time.end(), int32_t(w.start + T));
    const size_t e0 = size_t(first - event_time.begin()), e1 = size_t(last - event_time.begin());
    const int64_t base = static_cast<int64_t>(in.channel.size());
    append_window_events(in, event_channel.data() + e0, e1 - e0, half);
    // Read by range, so checked here: channels in range, steps in the window
    // (a simulation indexed from the store was never read whole).
    for (size_t e = e0; e < e1; ++e)
      ELM_CHECK(event_channel[e] >= 0 && event_channel[e] < C, store_path(split), ": simulation ", w.simulation,
                ": event on channel ", event_channel[e], " outside 0..", C - 1);
    // Events per step by counting (branch-free), then their running sum.
    step_counts.assign(size_t(T), 0);
    for (size_t e = e0; e < e1; ++e) {
      const int64_t j = int64_t(event_time[e]) - w.start;
      ELM_CHECK(j >= 0 && j < T, store_path(split), ": simulation ", w.simulation,
                ": events not sorted by step (event at step ", event_time[e], ")");
      ++step_counts[size_t(j)];
    }
    int64_t end = base;
    for (int j = 0; j < T; ++j) {
      end += step_counts[size_t(j)];
      in.offsets.push_back(end);
      batch.target_soma[size_t(b) * T + j] = neuronio_train_soma(soma[size_t(j)]);
    }
    for (float t : output_spike_ms) {
      const int64_t j = neuronio_spike_index(t) - w.start;
      if (j >= 0 && j < T) batch.target_spike[size_t(b) * T + size_t(j)] = 1.0f;
    }
  }
  batch.x.data = std::move(in);
  return batch;
}

}  // namespace elm
