#pragma once
// Spiking Heidelberg Digits (Cramer et al. 2020): reading the released
// shd_train.h5 / shd_test.h5 into the dataset store, and the binning and
// SHD-Adding rules of the reference (shared/docs/datasets.md).
//
// Raw format: `spikes/times` and `spikes/units` are 1-D HDF5 variable-length
// datasets (one ragged array per sample; released as float16 seconds and small
// unsigned ints), `labels` is 1-D (0..19). Values are read through HDF5's type
// conversion (native float / int64), whatever width the file stores.
//
// Store (one file per split, <out_dir>/{train,valid,test}.h5):
//   event_time     Float32  raw spike times in seconds, as in the file (unbinned)
//   event_channel  UInt16   unit 0..699
//   labels                  0..19
//   StoreInfo: task "shd", input_kind "events", channels 700, num_classes 20,
//   max_length 1000 (steps at 1 ms bins; extra "max_length_unit" = "ms").
// Splits: valid = samples i of shd_train.h5 with CounterRng(0, kShdSplitStream)
// .uniform(i) < 0.2 (a Bernoulli(0.2) mask, seed 0; the reference draws it with
// numpy's default_rng(0).binomial, which is not reproduced here), train = the
// rest, test = shd_test.h5. Samples keep their file order within a split.
#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace elm {

inline constexpr int kShdChannels = 700;
inline constexpr int kShdClasses = 20;
inline constexpr int kShdAddingClasses = 19;
inline constexpr double kShdValidFraction = 0.2;
inline constexpr uint64_t kShdSplitSeed = 0;
inline constexpr uint64_t kShdSplitStream = 0;

struct ShdEvent {
  int32_t step = 0;
  int32_t channel = 0;
  int32_t count = 0;
  bool operator==(const ShdEvent&) const = default;
};

// Number of time bins for bin size b ms: len(np.arange(0, 1 + b/1000, b/1000)) - 1,
// i.e. 1000/b when b divides 1000 (500 at 2 ms); otherwise numpy's arange adds
// one bin past 1 s (334 at 3 ms), and so does this.
int32_t shd_num_steps(double bin_ms);

// Bins one sample exactly as the reference:
//   step = np.digitize(t, np.arange(0, 1 + b/1000, b/1000)) - 1
// with edges k * (b/1000) in double precision and t compared as double (the
// float32 / float16 value widened exactly); events with step >= shd_num_steps(b)
// (at or after the last edge, i.e. 1 s when b divides 1000) are dropped. A cell
// holds the count of spikes in (step, channel). Sorted by step, then channel.
// Times must be finite and >= 0, units 0..699 (checked: ElmError).
std::vector<ShdEvent> bin_shd_sample(std::span<const float> times, std::span<const int32_t> units, double bin_ms);

// SHD-Adding: sample pair number `index` of the stream `seed` draws two sample
// indices uniformly with replacement from [0, num_samples); the input is the
// first sample's bins followed by the second's shifted by shd_num_steps(b)
// steps (2 T steps in all), the label (y1 mod 10) + (y2 mod 10), 0..18.
struct ShdAddingPair {
  int64_t first = 0;
  int64_t second = 0;
};
ShdAddingPair shd_adding_draw(int64_t num_samples, uint64_t seed, uint64_t index);
int64_t shd_adding_label(int64_t label_first, int64_t label_second);
// Concatenates the binned events of the pair; `steps` = shd_num_steps(b).
std::vector<ShdEvent> shd_adding_events(std::span<const ShdEvent> first, std::span<const ShdEvent> second,
                                        int32_t steps);

// Reads <raw_dir>/shd_train.h5 and <raw_dir>/shd_test.h5 and writes
// <out_dir>/train.h5, valid.h5 and test.h5. All three are committed only after
// both files were read without error: on any error (one line naming the file
// and sample) nothing is left under the output names.
void prep_shd(const std::string& raw_dir, const std::string& out_dir, std::ostream& log);

}  // namespace elm
