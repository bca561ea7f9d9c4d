#include "data/prep/shd_reader.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/store/conversion_stop.hpp"
#include "data/store/dataset_store.hpp"
#include "io/hdf5_io.hpp"

namespace elm {

namespace {

constexpr uint64_t kShdAddingStream = 1;
// Samples read per HDF5 call: bounds memory on the 8156-sample training file.
constexpr int64_t kReadBlock = 512;

double bin_seconds(double bin_ms) {
  ELM_CHECK(std::isfinite(bin_ms) && bin_ms >= 0.01 && bin_ms <= 1000.0,
            "SHD bin size must be between 0.01 and 1000 ms, got ", bin_ms);
  return bin_ms / 1000.0;
}

}  // namespace

int32_t shd_num_steps(double bin_ms) {
  const double s = bin_seconds(bin_ms);
  // numpy: len(arange(start, stop, step)) = ceil((stop - start) / step).
  const double len = std::ceil((1.0 + s) / s);
  return static_cast<int32_t>(len) - 1;
}

std::vector<ShdEvent> bin_shd_sample(std::span<const float> times, std::span<const int32_t> units, double bin_ms) {
  ELM_CHECK(times.size() == units.size(), "SHD sample: ", times.size(), " spike times but ", units.size(), " units");
  const double s = bin_seconds(bin_ms);
  const int64_t steps = shd_num_steps(bin_ms);
  // np.arange fills edge k as start + k * step = k * s (checked against numpy).
  const auto edge = [s](int64_t k) { return static_cast<double>(k) * s; };
  const double last_edge = edge(steps);
  std::vector<int64_t> keys;
  keys.reserve(times.size());
  for (size_t i = 0; i < times.size(); ++i) {
    const double t = times[i];
    const int32_t u = units[i];
    ELM_CHECK(std::isfinite(t) && t >= 0.0, "SHD sample: spike ", i, " has time ", t,
              " (must be finite and >= 0)");
    ELM_CHECK(u >= 0 && u < kShdChannels, "SHD sample: spike ", i, " has unit ", u, " outside 0..",
              kShdChannels - 1);
    if (t >= last_edge) continue;  // digitize puts it in the last bin, which the reference drops
    // digitize (right=False): the k with edge(k) <= t < edge(k + 1). The
    // division is a guess; the comparisons against the edges decide.
    int64_t k = std::min<int64_t>(static_cast<int64_t>(t / s), steps - 1);
    while (k > 0 && edge(k) > t) --k;
    while (k + 1 < steps && edge(k + 1) <= t) ++k;
    keys.push_back(k * kShdChannels + u);
  }
  std::sort(keys.begin(), keys.end());
  std::vector<ShdEvent> events;
  for (size_t i = 0; i < keys.size();) {
    size_t j = i;
    while (j < keys.size() && keys[j] == keys[i]) ++j;
    events.push_back(ShdEvent{static_cast<int32_t>(keys[i] / kShdChannels),
                              static_cast<int32_t>(keys[i] % kShdChannels), static_cast<int32_t>(j - i)});
    i = j;
  }
  return events;
}

ShdAddingPair shd_adding_draw(int64_t num_samples, uint64_t seed, uint64_t index) {
  ELM_CHECK(num_samples > 0, "SHD-Adding needs at least one sample to draw from");
  const CounterRng rng(seed, kShdAddingStream);
  const auto n = static_cast<uint64_t>(num_samples);
  return ShdAddingPair{static_cast<int64_t>(rng.below(2 * index, n)),
                       static_cast<int64_t>(rng.below(2 * index + 1, n))};
}

int64_t shd_adding_label(int64_t label_first, int64_t label_second) {
  ELM_CHECK(label_first >= 0 && label_first < kShdClasses && label_second >= 0 && label_second < kShdClasses,
            "SHD-Adding: labels ", label_first, " and ", label_second, " must be in 0..", kShdClasses - 1);
  return label_first % 10 + label_second % 10;
}

std::vector<ShdEvent> shd_adding_events(std::span<const ShdEvent> first, std::span<const ShdEvent> second,
                                        int32_t steps) {
  std::vector<ShdEvent> out(first.begin(), first.end());
  out.reserve(first.size() + second.size());
  for (ShdEvent e : second) {
    e.step += steps;
    out.push_back(e);
  }
  return out;
}

namespace {

using SampleSink = std::function<void(int64_t index, std::span<const float> times,
                                      std::span<const uint16_t> units, int64_t label)>;

// Reads and validates every sample of one raw SHD file, in file order.
int64_t read_shd_file(const std::string& path, const SampleSink& sink) {
  H5Reader r(path);
  for (const char* name : {"labels", "spikes/times", "spikes/units"})
    ELM_CHECK(r.has(name), path, ": missing dataset '", name, "' (not an SHD file?)");
  // Types first (vlen of numbers), then sizes.
  r.read_vlen_float("spikes/times", 0, 0);
  r.read_vlen_int("spikes/units", 0, 0);
  const Array<int64_t> labels = r.read_int("labels");
  ELM_CHECK(labels.shape.size() == 1, path, ": dataset 'labels' must be 1-D");
  const int64_t n = labels.size();
  for (const char* name : {"spikes/times", "spikes/units"}) {
    const std::vector<int64_t> shape = r.shape(name);
    ELM_CHECK(shape.size() == 1 && shape[0] == n, path, ": dataset '", name, "' has ",
              shape.empty() ? 0 : shape[0], " rows but 'labels' has ", n);
  }
  std::vector<uint16_t> units16;
  for (int64_t start = 0; start < n; start += kReadBlock) {
    throw_if_stop_requested();
    const int64_t count = std::min(kReadBlock, n - start);
    const Ragged<float> times = r.read_vlen_float("spikes/times", start, count);
    const Ragged<int64_t> units = r.read_vlen_int("spikes/units", start, count);
    for (int64_t k = 0; k < count; ++k) {
      const int64_t i = start + k;
      const int64_t t0 = times.offsets[k], t1 = times.offsets[k + 1];
      const int64_t u0 = units.offsets[k], u1 = units.offsets[k + 1];
      ELM_CHECK(t1 - t0 == u1 - u0, path, ": sample ", i, ": ", t1 - t0, " spike times but ", u1 - u0, " units");
      const int64_t label = labels.data[i];
      ELM_CHECK(label >= 0 && label < kShdClasses, path, ": sample ", i, ": label ", label, " outside 0..",
                kShdClasses - 1);
      units16.resize(u1 - u0);
      for (int64_t j = 0; j < t1 - t0; ++j) {
        const float t = times.values[t0 + j];
        ELM_CHECK(std::isfinite(t) && t >= 0.0f, path, ": sample ", i, ": spike ", j, " has time ", t,
                  " (must be finite and >= 0 s)");
        const int64_t u = units.values[u0 + j];
        ELM_CHECK(u >= 0 && u < kShdChannels, path, ": sample ", i, ": spike ", j, " has unit ", u,
                  " outside 0..", kShdChannels - 1);
        units16[j] = static_cast<uint16_t>(u);
      }
      sink(i, std::span<const float>(times.values.data() + t0, t1 - t0), units16, label);
    }
  }
  return n;
}

}  // namespace

void prep_shd(const std::string& raw_dir, const std::string& out_dir, std::ostream& log) {
  const std::string train_raw = (std::filesystem::path(raw_dir) / "shd_train.h5").string();
  const std::string test_raw = (std::filesystem::path(raw_dir) / "shd_test.h5").string();
  ELM_CHECK(std::filesystem::exists(train_raw), train_raw, ": no such file (SHD training file missing)");
  ELM_CHECK(std::filesystem::exists(test_raw), test_raw, ": no such file (SHD test file missing)");

  const std::map<std::string, FieldType> fields{{"event_time", FieldType::Float32},
                                                {"event_channel", FieldType::UInt16}};
  const auto info_for = [&](const std::string& split, const std::string& source) {
    StoreInfo info;
    info.task = "shd";
    info.split = split;
    info.source = source;
    info.input_kind = "events";
    info.channels = kShdChannels;
    info.num_classes = kShdClasses;
    info.max_length = 1000;
    info.extra.insert_or_assign("max_length_unit", std::string("ms"));
    info.extra.insert_or_assign("event_time_unit", std::string("s"));
    info.extra.insert_or_assign("binning", std::string("step = digitize(t, arange(0, 1 + b/1000, b/1000)) - 1, last bin dropped; count per (step, channel)"));
    info.extra.insert_or_assign("split_rule", std::string("valid = shd_train.h5 samples i with CounterRng(seed 0, stream 0).uniform(i) < 0.2; train = the rest; "
        "test = shd_test.h5"));
    return info;
  };
  const std::filesystem::path out(out_dir);
  StoreWriter train((out / "train.h5").string(), info_for("train", train_raw), fields);
  StoreWriter valid((out / "valid.h5").string(), info_for("valid", train_raw), fields);
  StoreWriter test((out / "test.h5").string(), info_for("test", test_raw), fields);

  const auto append = [](StoreWriter& w, std::span<const float> times, std::span<const uint16_t> units,
                         int64_t label) {
    w.append_f32("event_time", times);
    w.append_u16("event_channel", units);
    w.end_sample(label);
  };
  const CounterRng split_rng(kShdSplitSeed, kShdSplitStream);
  log << "shd: reading " << train_raw << "\n" << std::flush;
  const int64_t n_train = read_shd_file(train_raw, [&](int64_t i, auto times, auto units, int64_t label) {
    append(split_rng.uniform(static_cast<uint64_t>(i)) < kShdValidFraction ? valid : train, times, units, label);
  });
  log << "shd: " << n_train << " samples -> train " << train.num_samples() << ", valid " << valid.num_samples()
      << "\n";
  log << "shd: reading " << test_raw << "\n" << std::flush;
  const int64_t n_test =
      read_shd_file(test_raw, [&](int64_t, auto times, auto units, int64_t label) { append(test, times, units, label); });
  train.commit();
  valid.commit();
  test.commit();
  log << "shd: " << n_test << " samples -> test\n";
  log << "shd: wrote " << (out / "train.h5").string() << ", " << (out / "valid.h5").string() << ", "
      << (out / "test.h5").string() << "\n"
      << std::flush;
}

}  // namespace elm
