#include "data/store_tasks.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "core/did_you_mean.hpp"
#include "core/error.hpp"
#include "core/key_values.hpp"
#include "core/rng.hpp"
#include "data/prep/shd_reader.hpp"
#include "data/store/dataset_store.hpp"
#include "data/synthetic/listops_generator.hpp"
#include "data/task_config.hpp"

namespace elm {
namespace {

// ---- options ------------------------------------------------------------------

// Typed access to [task] keys; every key must be read, or it is reported as unknown.
class TaskOptions {
 public:
  TaskOptions(const KeyValues& kv, std::string task) : kv_(kv), task_(std::move(task)) {}

  std::string required(const std::string& k, const std::string& what) {
    known_.insert(k);
    auto it = kv_.find(k);
    ELM_CHECK(it != kv_.end() && !it->second.empty(), "config key 'task.", k, "' is required for task ", task_, " (",
              what, ")");
    return it->second;
  }
  int64_t integer(const std::string& k, int64_t def, int64_t lo, int64_t hi) {
    known_.insert(k);
    auto it = kv_.find(k);
    if (it == kv_.end()) return def;
    const int64_t v = parse_int(it->second, "task." + k, "[task]");
    ELM_CHECK(v >= lo && v <= hi, "config key 'task.", k, "' must be in [", lo, ", ", hi, "], got ", v);
    return v;
  }
  double real(const std::string& k, double def, double lo, double hi) {
    known_.insert(k);
    auto it = kv_.find(k);
    if (it == kv_.end()) return def;
    const double v = parse_double(it->second, "task." + k, "[task]");
    ELM_CHECK(std::isfinite(v) && v >= lo && v <= hi, "config key 'task.", k, "' must be in [", format_double(lo),
              ", ", format_double(hi), "], got ", it->second);
    return v;
  }
  // After all reads: the first key nobody asked for is an error listing the known ones.
  void finish() const {
    for (const auto& [k, v] : kv_) {
      if (known_.count(k)) continue;
      const std::vector<std::string> known(known_.begin(), known_.end());
      fail("config key 'task.", k, "' is not an option of task ", task_, did_you_mean(k, known), " (options: ",
           join_names(known), ")");
    }
  }

 private:
  const KeyValues& kv_;
  std::string task_;
  std::set<std::string> known_;
};

uint64_t split_number(Split s) { return s == Split::Train ? 0 : s == Split::Valid ? 1 : 2; }

// ---- store splits -------------------------------------------------------------

std::string split_file(const std::string& dir, const char* split) {
  return (std::filesystem::path(dir) / (std::string(split) + ".h5")).string();
}

// One split: its own reader (a StoreReader is used by one thread; the prefetch
// thread builds training batches while the trainer evaluates) and, when the split
// is carved out of another file, the file indices of its samples.
struct SplitData {
  std::unique_ptr<StoreReader> reader;
  std::vector<int64_t> rows;  // empty: sample i is row i
  int64_t size() const { return rows.empty() ? reader->num_samples() : int64_t(rows.size()); }
  int64_t row(int64_t i) const { return rows.empty() ? i : rows[size_t(i)]; }
};

std::unique_ptr<StoreReader> open_split(const std::string& dir, const char* split, const std::string& task) {
  ELM_CHECK(std::filesystem::is_directory(dir), "config key 'task.store': ", dir,
            " is not a directory (expected the store of task ", task, ", written by `elmrun prep`)");
  const std::string path = split_file(dir, split);
  ELM_CHECK(std::filesystem::is_regular_file(path), "task ", task, ": store split missing: ", path,
            " (config key 'task.store' = ", dir, ")");
  return std::make_unique<StoreReader>(path);
}

void check_store(const StoreReader& r, const std::vector<std::string>& tasks, const std::string& kind,
                 const std::string& task, const std::vector<std::string>& fields) {
  const StoreInfo& info = r.info();
  bool ok = false;
  std::string list;
  for (const auto& t : tasks) {
    ok = ok || info.task == t;
    list += (list.empty() ? "" : " or ") + t;
  }
  ELM_CHECK(ok, r.path(), ": store of task '", info.task, "', but task ", task, " needs a store of task ", list);
  ELM_CHECK(info.input_kind == kind, r.path(), ": input_kind '", info.input_kind, "', task ", task, " needs '", kind,
            "'");
  for (const auto& f : fields) ELM_CHECK(r.has_field(f), r.path(), ": no field '", f, "' (task ", task, ")");
  ELM_CHECK(r.num_samples() >= 1, r.path(), ": the split holds no samples");
}

struct Splits {
  SplitData train, valid, test;
  const SplitData& operator[](Split s) const { return s == Split::Train ? train : s == Split::Valid ? valid : test; }
};

// Opens train/valid/test. valid_fraction > 0 carves valid out of train.h5 with a
// Bernoulli mask (valid.h5 is then not read).
Splits open_splits(const std::string& dir, const std::string& task, const std::vector<std::string>& store_tasks,
                   const std::string& kind, const std::vector<std::string>& fields, double valid_fraction,
                   uint64_t seed) {
  Splits s;
  s.train.reader = open_split(dir, "train", task);
  if (valid_fraction > 0) {
    s.valid.reader = open_split(dir, "train", task);
    const CounterRng mask(seed, kValidMaskStream);
    for (int64_t i = 0; i < s.train.reader->num_samples(); ++i)
      (mask.uniform(uint64_t(i)) < valid_fraction ? s.valid.rows : s.train.rows).push_back(i);
    ELM_CHECK(!s.train.rows.empty() && !s.valid.rows.empty(), "config key 'task.valid_fraction' = ",
              format_double(valid_fraction), " leaves an empty train or valid split of ", s.train.reader->path(),
              " (", s.train.reader->num_samples(), " samples)");
  } else {
    s.valid.reader = open_split(dir, "valid", task);
  }
  s.test.reader = open_split(dir, "test", task);
  for (const SplitData* d : {&s.train, &s.valid, &s.test}) check_store(*d->reader, store_tasks, kind, task, fields);
  return s;
}

void check_label(int64_t label, int64_t classes, const StoreReader& r, int64_t row) {
  ELM_CHECK(label >= 0 && label < classes, r.path(), ": sample ", row, " has label ", label, ", outside 0..",
            classes - 1);
}

void check_index(int64_t idx, int64_t n, const std::string& task, Split split) {
  ELM_CHECK(idx >= 0 && idx < n, task, ": sample ", idx, " outside the ", to_string(split), " split (", n,
            " samples)");
}

// ---- events: SHD and SHD-Adding -----------------------------------------------

struct ShdOptions {
  std::string store;
  double bin_ms = 2;
  double input_dropout = 0.5;
  uint64_t seed = 0;
  int64_t adding_train = 16000, adding_valid = 4000, adding_test = 16000;
};

class ShdTaskBase : public Task {
 public:
  ShdTaskBase(std::string name, const ShdOptions& o) : name_(std::move(name)), o_(o) {
    steps_ = shd_num_steps(o.bin_ms);
    splits_ = open_splits(o.store, name_, {"shd"}, "events", {"event_time", "event_channel"}, 0, 0);
  }
  std::string name() const override { return name_; }
  int num_input() const override { return kShdChannels; }
  InputKind input_kind() const override { return InputKind::Spikes; }
  Batch make_batch(Split split, std::span<const int64_t> indices) const override {
    return build(split, indices, 0, false);
  }
  // Fresh input dropout (and SHD-Adding pairs) every step.
  Batch make_train_batch(std::span<const int64_t> indices, int64_t step, int64_t) const override {
    return build(Split::Train, indices, step, o_.input_dropout > 0);
  }

 protected:
  // One sample's binned events, plus its label.
  std::vector<ShdEvent> read_sample(Split split, int64_t i, int64_t& label) const {
    const SplitData& d = splits_[split];
    const int64_t row = d.row(i);
    const std::vector<float> times = d.reader->read_f32("event_time", row);
    const std::vector<int32_t> units = d.reader->read_i32("event_channel", row);
    ELM_CHECK(times.size() == units.size(), d.reader->path(), ": sample ", row, " has ", times.size(),
              " event times but ", units.size(), " channels");
    label = d.reader->label(row);
    check_label(label, kShdClasses, *d.reader, row);
    try {
      return bin_shd_sample(times, units, o_.bin_ms);
    } catch (const ElmError& e) {
      fail(d.reader->path(), ": sample ", row, ": ", e.what());
    }
  }
  // Events and label of batch entry `idx` of `split` at training step `step`.
  virtual std::vector<ShdEvent> sample(Split split, int64_t idx, int64_t step, int64_t& label) const = 0;
  virtual int total_steps() const = 0;

  Batch build(Split split, std::span<const int64_t> indices, int64_t step, bool dropout) const {
    const int B = int(indices.size()), T = total_steps();
    Batch batch;
    batch.x = InputBatch{B, T, kShdChannels, {}};
    batch.labels.resize(B);
    SpikeInput s;
    s.offsets.reserve(size_t(B) * T + 1);
    s.offsets.push_back(0);
    const CounterRng rng(o_.seed, kDropoutStream + uint64_t(step));
    for (int b = 0; b < B; ++b) {
      check_index(indices[b], num_samples(split), name_, split);
      const std::vector<ShdEvent> ev = sample(split, indices[b], step, batch.labels[b]);
      size_t e = 0;
      for (int t = 0; t < T; ++t) {
        for (; e < ev.size() && ev[e].step == t; ++e) {
          if (dropout) {
            const uint64_t cell = (uint64_t(indices[b]) * uint64_t(T) + uint64_t(t)) * kShdChannels + ev[e].channel;
            if (rng.uniform(cell) < o_.input_dropout) continue;
          }
          s.channel.push_back(ev[e].channel);
          s.value.push_back(float(ev[e].count));
        }
        s.offsets.push_back(int64_t(s.channel.size()));
      }
      ELM_ASSERT(e == ev.size());
    }
    batch.x.data = std::move(s);
    return batch;
  }

  std::string name_;
  ShdOptions o_;
  int steps_ = 0;  // bins of one sample
  Splits splits_;
};

class ShdTask : public ShdTaskBase {
 public:
  explicit ShdTask(const ShdOptions& o) : ShdTaskBase("shd", o) {}
  int num_output() const override { return kShdClasses; }
  int64_t num_samples(Split s) const override { return splits_[s].size(); }

 protected:
  int total_steps() const override { return steps_; }
  std::vector<ShdEvent> sample(Split split, int64_t idx, int64_t, int64_t& label) const override {
    return read_sample(split, idx, label);
  }
};

class ShdAddingTask : public ShdTaskBase {
 public:
  explicit ShdAddingTask(const ShdOptions& o) : ShdTaskBase("shd_adding", o) {}
  int num_output() const override { return kShdAddingClasses; }
  int64_t num_samples(Split s) const override {
    return s == Split::Train ? o_.adding_train : s == Split::Valid ? o_.adding_valid : o_.adding_test;
  }

 protected:
  int total_steps() const override { return 2 * steps_; }
  std::vector<ShdEvent> sample(Split split, int64_t idx, int64_t step, int64_t& label) const override {
    const uint64_t draw = split == Split::Train ? uint64_t(step) * uint64_t(o_.adding_train) + uint64_t(idx)
                                                : uint64_t(idx);
    const ShdAddingPair p = shd_adding_draw(splits_[split].size(), o_.seed * 3 + split_number(split), draw);
    int64_t y1 = 0, y2 = 0;
    const std::vector<ShdEvent> a = read_sample(split, p.first, y1);
    const std::vector<ShdEvent> b = read_sample(split, p.second, y2);
    label = shd_adding_label(y1, y2);
    return shd_adding_events(a, b, steps_);
  }
};

ShdOptions parse_shd_options(TaskOptions& opt, bool adding, const ElmConfig& model) {
  ShdOptions o;
  o.store = opt.required("store", "the directory of the SHD store: train.h5, valid.h5, test.h5");
  o.bin_ms = opt.real("bin_ms", 2.0, 0.01, 1000.0);
  o.input_dropout = opt.real("input_dropout", 0.5, 0.0, 1.0);
  o.seed = uint64_t(opt.integer("seed", 0, 0, INT64_MAX));
  if (adding) {
    o.adding_train = opt.integer("adding_samples_per_epoch", o.adding_train, 1, int64_t(1) << 40);
    o.adding_valid = opt.integer("adding_valid_samples", o.adding_valid, 1, int64_t(1) << 40);
    o.adding_test = opt.integer("adding_test_samples", o.adding_test, 1, int64_t(1) << 40);
  }
  opt.finish();
  ELM_CHECK(std::abs(model.delta_t - o.bin_ms) <= 1e-9 * std::max(1.0, o.bin_ms), "config key 'model.delta_t' is ",
            format_double(model.delta_t), " but task ", adding ? "shd_adding" : "shd", " bins spikes at task.bin_ms = ",
            format_double(o.bin_ms), " ms: set model.delta_t = ", format_double(o.bin_ms));
  return o;
}

// ---- tokens: LRA and synthetic ListOps -------------------------------------------

// Writes one sample's ids into a row of T ids (already -1): truncated to T, padded at the end.
template <class Map>
void fill_row(int32_t* row, int T, const std::vector<int32_t>& tokens, Map map) {
  const size_t n = std::min(tokens.size(), size_t(T));
  for (size_t t = 0; t < n; ++t) row[t] = map(tokens[t]);
}

struct TokenSpec {
  std::string name;
  std::vector<std::string> store_tasks;
  int store_vocabulary = 0;  // ids in the store: 0 .. store_vocabulary - 1
  int classes = 0;
  int default_length = 0;    // 0: from the store (pathfinder)
  bool image = false;        // quantise gray levels
  int default_gray_levels = 16;
  bool length_option = false;  // task.seq_len allowed
  double default_valid_fraction = 0;
  int image_side = 0;        // > 0: square images of this side; task.pool allowed
};

// Average pooling of a side x side gray image over pool x pool blocks, rounded
// half up: (sum + pool*pool/2) / (pool*pool) with integer division; raster order.
std::vector<int32_t> pool_image(const std::vector<int32_t>& gray, int side, int pool) {
  const int out_side = side / pool, area = pool * pool;
  std::vector<int32_t> out(size_t(out_side) * out_side);
  for (int r = 0; r < out_side; ++r)
    for (int c = 0; c < out_side; ++c) {
      int32_t sum = 0;
      for (int dr = 0; dr < pool; ++dr)
        for (int dc = 0; dc < pool; ++dc) sum += gray[size_t(r * pool + dr) * side + size_t(c * pool + dc)];
      out[size_t(r) * out_side + c] = (sum + area / 2) / area;
    }
  return out;
}

class TokenStoreTask : public Task {
 public:
  TokenStoreTask(const TokenSpec& spec, TaskOptions& opt) : spec_(spec) {
    const std::string store = opt.required("store", "the directory of the " + spec.name + " store: train.h5, valid.h5, test.h5");
    if (spec.image) levels_ = int(opt.integer("gray_levels", spec.default_gray_levels, 2, 256));
    length_ = spec.length_option ? int(opt.integer("seq_len", spec.default_length, 1, 1 << 24)) : spec.default_length;
    store_length_ = length_;
    if (spec.image_side > 0) {
      pool_ = int(opt.integer("pool", 1, 1, spec.image_side));
      ELM_CHECK(spec.image_side % pool_ == 0, "config key 'task.pool' must divide the image side ", spec.image_side,
                " of task ", spec.name, ", got ", pool_);
      length_ = (spec.image_side / pool_) * (spec.image_side / pool_);
    }
    const double vf = opt.real("valid_fraction", spec.default_valid_fraction, 0.0, 0.9);
    const uint64_t seed = uint64_t(opt.integer("seed", 0, 0, INT64_MAX));
    opt.finish();
    splits_ = open_splits(store, spec.name, spec.store_tasks, "tokens", {"tokens"}, vf, seed);
    for (Split s : {Split::Train, Split::Valid, Split::Test}) {
      const StoreReader& r = *splits_[s].reader;
      ELM_CHECK(r.info().channels == spec.store_vocabulary, r.path(), ": vocabulary (channels) is ",
                r.info().channels, ", task ", spec.name, " expects ", spec.store_vocabulary);
      ELM_CHECK(r.info().num_classes == spec.classes, r.path(), ": num_classes is ", r.info().num_classes, ", task ",
                spec.name, " expects ", spec.classes);
      if (spec.default_length == 0) {  // pathfinder: T = R*R, the same in every split
        ELM_CHECK(r.info().max_length >= 1, r.path(), ": max_length is ", r.info().max_length);
        if (length_ == 0) length_ = int(r.info().max_length);
        ELM_CHECK(r.info().max_length == length_, r.path(), ": images of ", r.info().max_length,
                  " pixels, but the train split has ", length_);
      } else if (spec.image) {
        ELM_CHECK(r.info().max_length == store_length_, r.path(), ": images of ", r.info().max_length,
                  " pixels, task ", spec.name, " expects ", store_length_);
      }
    }
  }
  std::string name() const override { return spec_.name; }
  InputKind input_kind() const override { return InputKind::Tokens; }
  int num_input() const override { return spec_.image ? levels_ : spec_.store_vocabulary; }
  int num_output() const override { return spec_.classes; }
  int64_t num_samples(Split s) const override { return splits_[s].size(); }
  int steps() const { return length_; }

  Batch make_batch(Split split, std::span<const int64_t> indices) const override {
    const int B = int(indices.size()), T = length_;
    const SplitData& d = splits_[split];
    Batch batch;
    batch.x = InputBatch{B, T, num_input(), {}};
    TokenInput tok;
    tok.ids.assign(size_t(B) * T, -1);
    batch.labels.resize(B);
    for (int b = 0; b < B; ++b) {
      check_index(indices[b], d.size(), spec_.name, split);
      const int64_t row = d.row(indices[b]);
      std::vector<int32_t> tokens = d.reader->read_i32("tokens", row);
      for (int32_t v : tokens)
        ELM_CHECK(v >= 0 && v < spec_.store_vocabulary, d.reader->path(), ": sample ", row, " has token ", v,
                  ", outside the vocabulary 0..", spec_.store_vocabulary - 1);
      if (pool_ > 1) {
        ELM_CHECK(int64_t(tokens.size()) == store_length_, d.reader->path(), ": sample ", row, " has ", tokens.size(),
                  " pixels, task ", spec_.name, " pools images of ", store_length_);
        tokens = pool_image(tokens, spec_.image_side, pool_);
      }
      int32_t* out = tok.ids.data() + size_t(b) * T;
      if (spec_.image) {
        const int L = levels_;
        fill_row(out, T, tokens, [L](int32_t g) { return g * L / 256; });
      } else {
        fill_row(out, T, tokens, [](int32_t v) { return v; });
      }
      batch.labels[b] = d.reader->label(row);
      check_label(batch.labels[b], spec_.classes, *d.reader, row);
    }
    batch.x.data = std::move(tok);
    return batch;
  }

 private:
  TokenSpec spec_;
  int levels_ = 0;
  int length_ = 0;        // steps T (after pooling)
  int store_length_ = 0;  // pixels of a stored image (image tasks)
  int pool_ = 1;
  Splits splits_;
};

// Retrieval (LRA AAN): pairs of byte documents (fields tokens and tokens_b),
// for the two-tower model (train/two_tower.hpp). A batch of B pairs is 2B rows
// of kRetrievalLength steps: the A documents in rows 0..B-1, the B documents in
// rows B..2B-1, each padded at the end with -1 (or truncated); labels [B].
// num_output() is the tower's output (model.num_output, the latent size); the
// pair's classes are num_classes().
class RetrievalTask : public Task {
 public:
  static constexpr int kVocabulary = 256, kClasses = 2, kLength = 4000;

  RetrievalTask(TaskOptions& opt, const ElmConfig& model) : latent_(model.num_output) {
    const std::string store =
        opt.required("store", "the directory of the retrieval store: train.h5, valid.h5, test.h5");
    opt.finish();
    ELM_CHECK(model.head_hidden > 0, "config key 'model.head_hidden' must be > 0 for task retrieval (the two-tower ",
              "model's classifier head width, e.g. 150), got ", model.head_hidden);
    ELM_CHECK(model.head_classes == kClasses, "config key 'model.head_classes' is ", model.head_classes,
              " but task retrieval has ", kClasses, " classes");
    splits_ = open_splits(store, "retrieval", {"retrieval"}, "tokens", {"tokens", "tokens_b"}, 0, 0);
    for (Split s : {Split::Train, Split::Valid, Split::Test}) {
      const StoreReader& r = *splits_[s].reader;
      ELM_CHECK(r.info().channels == kVocabulary, r.path(), ": vocabulary (channels) is ", r.info().channels,
                ", task retrieval expects ", kVocabulary);
      ELM_CHECK(r.info().num_classes == kClasses, r.path(), ": num_classes is ", r.info().num_classes,
                ", task retrieval expects ", kClasses);
    }
  }
  std::string name() const override { return "retrieval"; }
  int num_input() const override { return kVocabulary; }
  int num_output() const override { return latent_; }
  int num_classes() const override { return kClasses; }
  TaskLoss loss() const override { return TaskLoss::PairedCrossEntropy; }
  InputKind input_kind() const override { return InputKind::Tokens; }
  int64_t num_samples(Split s) const override { return splits_[s].size(); }

  Batch make_batch(Split split, std::span<const int64_t> indices) const override {
    const int B = int(indices.size()), T = kLength;
    const SplitData& d = splits_[split];
    Batch batch;
    batch.x = InputBatch{2 * B, T, kVocabulary, {}};
    TokenInput tok;
    tok.ids.assign(size_t(2 * B) * T, -1);
    batch.labels.resize(B);
    for (int b = 0; b < B; ++b) {
      check_index(indices[b], d.size(), "retrieval", split);
      const int64_t row = d.row(indices[b]);
      int i = 0;
      for (const char* field : {"tokens", "tokens_b"}) {
        const std::vector<int32_t> tokens = d.reader->read_i32(field, row);
        for (int32_t v : tokens)
          ELM_CHECK(v >= 0 && v < kVocabulary, d.reader->path(), ": sample ", row, " has token ", v, " in ", field,
                    ", outside the vocabulary 0..", kVocabulary - 1);
        fill_row(tok.ids.data() + size_t(i * B + b) * T, T, tokens, [](int32_t v) { return v; });
        ++i;
      }
      batch.labels[b] = d.reader->label(row);
      check_label(batch.labels[b], kClasses, *d.reader, row);
    }
    batch.x.data = std::move(tok);
    return batch;
  }

 private:
  int latent_ = 0;
  Splits splits_;
};

class SyntheticListOpsTask : public Task {
 public:
  explicit SyntheticListOpsTask(TaskOptions& opt) {
    g_.max_depth = int(opt.integer("max_depth", g_.max_depth, 1, 1000));
    g_.max_args = int(opt.integer("max_args", g_.max_args, 2, 1000));
    g_.min_length = opt.integer("min_length", g_.min_length, 1, kListOpsMaxLength);
    g_.max_length = opt.integer("max_length", g_.max_length, 1, kListOpsMaxLength);
    g_.max_attempts = opt.integer("max_attempts", g_.max_attempts, 1, int64_t(1) << 40);
    length_ = int(opt.integer("seq_len", g_.max_length, 1, kListOpsMaxLength));
    counts_[0] = opt.integer("train_samples", 96000, 1, int64_t(1) << 40);
    counts_[1] = opt.integer("valid_samples", 2000, 1, int64_t(1) << 40);
    counts_[2] = opt.integer("test_samples", 2000, 1, int64_t(1) << 40);
    seed_ = uint64_t(opt.integer("seed", 0, 0, INT64_MAX));
    opt.finish();
    g_.validate("[task]");
  }
  std::string name() const override { return "synthetic_listops"; }
  InputKind input_kind() const override { return InputKind::Tokens; }
  int num_input() const override { return kListOpsVocabularySize; }
  int num_output() const override { return kListOpsClasses; }
  int64_t num_samples(Split s) const override { return counts_[split_number(s)]; }

  Batch make_batch(Split split, std::span<const int64_t> indices) const override {
    const int B = int(indices.size()), T = length_;
    Batch batch;
    batch.x = InputBatch{B, T, kListOpsVocabularySize, {}};
    TokenInput tok;
    tok.ids.assign(size_t(B) * T, -1);
    batch.labels.resize(B);
    for (int b = 0; b < B; ++b) {
      check_index(indices[b], num_samples(split), name(), split);
      const ListOpsSample s = generate_listops(g_, seed_ + split_number(split), uint64_t(indices[b]));
      const size_t n = std::min(s.tokens.size(), size_t(T));
      for (size_t t = 0; t < n; ++t) tok.ids[size_t(b) * T + t] = s.tokens[t];
      batch.labels[b] = s.label;
    }
    batch.x.data = std::move(tok);
    return batch;
  }

 private:
  ListOpsGeneratorOptions g_;
  int length_ = 0;
  int64_t counts_[3] = {};
  uint64_t seed_ = 0;
};

const TokenSpec* token_spec(const std::string& name) {
  static const TokenSpec specs[] = {
      {"listops", {"listops"}, kListOpsVocabularySize, 10, 2000, false, 0, true, 0},
      {"text", {"text"}, 256, 2, 4096, false, 0, true, 0.1},
      {"image", {"image"}, 256, 10, 1024, true, 16, false, 0},
      {"sfmnist", {"fmnist"}, 256, 10, 784, true, 16, false, 0, 28},
      {"pathfinder", {"pathfinder", "pathx"}, 256, 2, 0, true, 16, false, 0},
      {"pathx", {"pathx", "pathfinder"}, 256, 2, 16384, true, 8, false, 0},
  };
  for (const auto& s : specs)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace

const char* store_task_names() {
  return "synthetic_listops, shd, shd_adding, listops, text, retrieval, image, sfmnist, pathfinder, pathx";
}

std::unique_ptr<Task> make_store_task(const TaskConfig& config, const ElmConfig& model) {
  const std::string& name = config.name;
  TaskOptions opt(config.options, name);
  std::unique_ptr<Task> task;
  if (name == "shd" || name == "shd_adding") {
    const ShdOptions o = parse_shd_options(opt, name == "shd_adding", model);
    if (name == "shd") task = std::make_unique<ShdTask>(o);
    else task = std::make_unique<ShdAddingTask>(o);
  } else if (name == "retrieval") {
    task = std::make_unique<RetrievalTask>(opt, model);
  } else if (name == "synthetic_listops") {
    task = std::make_unique<SyntheticListOpsTask>(opt);
  } else if (const TokenSpec* spec = token_spec(name)) {
    task = std::make_unique<TokenStoreTask>(*spec, opt);
  } else {
    return nullptr;
  }
  if (name != "shd" && name != "shd_adding")
    ELM_CHECK(model.num_input == task->num_input(), "config key 'model.num_input' is ", model.num_input, " but task ",
              name, " has a vocabulary of ", task->num_input(), " tokens",
              (name == "image" || name == "sfmnist" || name == "pathfinder" || name == "pathx") ? " (task.gray_levels)" : "",
              ": set model.num_input = ", task->num_input());
  return task;
}

}  // namespace elm
