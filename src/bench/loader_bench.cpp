#include "bench/loader_bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>

#include "bench/bench_clock.hpp"
#include "bench/workloads.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/neuronio_task.hpp"
#include "data/prep/shd_reader.hpp"
#include "data/store/dataset_store.hpp"
#include "data/store_tasks.hpp"
#include "data/synthetic/listops_generator.hpp"
#include "data/synthetic/synthetic_neuron.hpp"
#include "data/task.hpp"
#include "model/elm_model.hpp"
#include "train/run_config.hpp"

namespace elm {

namespace fs = std::filesystem;

namespace {

// ---- synthetic stores -------------------------------------------------------------

struct TokenLayout {
  std::string store_task;  // StoreInfo.task
  int vocabulary = 0;      // ids 0 .. vocabulary - 1 (LRA images: gray 0..255)
  int classes = 0;
  int64_t min_len = 0, max_len = 0;
};

void write_token_store(const std::string& dir, const TokenLayout& l, int64_t train_samples, uint64_t seed) {
  fs::create_directories(dir);
  const std::map<std::string, FieldType> fields{{"tokens", FieldType::UInt8}};
  const std::pair<const char*, int64_t> splits[] = {
      {"train", train_samples}, {"valid", std::max<int64_t>(8, train_samples / 16)}, {"test", 8}};
  uint64_t stream = 0;
  for (const auto& [split, n] : splits) {
    StoreInfo info;
    info.task = l.store_task;
    info.split = split;
    info.source = "elmrun bench --loader (random tokens)";
    info.input_kind = "tokens";
    info.channels = l.vocabulary;
    info.num_classes = l.classes;
    info.max_length = l.max_len;
    StoreWriter w((fs::path(dir) / (std::string(split) + ".h5")).string(), info, fields);
    RngStream rng(seed, stream++);
    std::vector<uint8_t> tokens;
    for (int64_t i = 0; i < n; ++i) {
      // The longest length once per split, so max_length is what the store says.
      const int64_t len = i == 0 ? l.max_len : l.min_len + int64_t(rng.below(uint64_t(l.max_len - l.min_len + 1)));
      tokens.resize(size_t(len));
      for (auto& t : tokens) t = static_cast<uint8_t>(rng.below(uint64_t(l.vocabulary)));
      w.append_u8("tokens", tokens);
      w.end_sample(int64_t(rng.below(uint64_t(l.classes))));
    }
    w.commit();
  }
}

void write_shd_store(const std::string& dir, int64_t train_samples, int min_spikes, int max_spikes, uint64_t seed) {
  fs::create_directories(dir);
  const std::map<std::string, FieldType> fields{{"event_time", FieldType::Float32},
                                                {"event_channel", FieldType::UInt16}};
  const std::pair<const char*, int64_t> splits[] = {
      {"train", train_samples}, {"valid", std::max<int64_t>(8, train_samples / 4)}, {"test", 8}};
  uint64_t stream = 0;
  for (const auto& [split, n] : splits) {
    StoreInfo info;
    info.task = "shd";
    info.split = split;
    info.source = "elmrun bench --loader (random spikes)";
    info.input_kind = "events";
    info.channels = kShdChannels;
    info.num_classes = kShdClasses;
    info.max_length = 1000;
    info.extra["event_time_unit"] = "s";
    StoreWriter w((fs::path(dir) / (std::string(split) + ".h5")).string(), info, fields);
    RngStream rng(seed, stream++);
    std::vector<float> times;
    std::vector<uint16_t> units;
    for (int64_t i = 0; i < n; ++i) {
      const int k = min_spikes + int(rng.below(uint64_t(max_spikes - min_spikes + 1)));
      times.resize(size_t(k));
      units.resize(size_t(k));
      for (auto& t : times) t = static_cast<float>(rng.uniform());  // [0, 1) s
      std::sort(times.begin(), times.end());
      for (auto& u : units) u = static_cast<uint16_t>(rng.below(kShdChannels));
      w.append_f32("event_time", times);
      w.append_u16("event_channel", units);
      w.end_sample(int64_t(rng.below(kShdClasses)));
    }
    w.commit();
  }
}

struct TaskPlan {
  std::string config;                  // file name under configs/
  std::string store;                   // synthetic store kind ("" = none)
  std::vector<std::string> overrides;  // besides task.store
  bool gpu_sized = false;
};

TaskPlan plan_for(const std::string& task, bool tiny) {
  TaskPlan p;
  if (task == "neuronio") p = {"neuronio.ini", "neuronio", {}, false};
  else if (task == "shd") p = {"shd.ini", "shd", {}, false};
  else if (task == "shd_adding") p = {"shd_adding.ini", "shd", {}, false};
  else if (task == "listops") p = {"listops.ini", "listops", {}, false};
  else if (task == "text") p = {"text.ini", "text", {}, false};
  else if (task == "image") p = {"image.ini", "image", {}, false};
  else if (task == "pathfinder32") p = {"pathfinder.ini", "pathfinder32", {}, false};
  else if (task == "pathx") p = {"pathx.ini", "pathx", {}, true};
  else if (task == "synthetic_listops") p = {"synthetic_listops.ini", "", {}, false};
  else {
    std::string known;
    for (const auto& t : loader_bench_tasks()) known += (known.empty() ? "" : ", ") + t;
    fail("bench --loader: unknown task '", task, "' (known: ", known, ")");
  }
  if (tiny) {
    if (task == "listops") p.overrides.push_back("task.seq_len=60");
    if (task == "text") p.overrides.push_back("task.seq_len=64");
    if (task == "neuronio") p.overrides.push_back("task.windows_per_epoch=64");
  }
  return p;
}

// Builds (once per work dir) the synthetic store of `kind`; returns its directory.
std::string ensure_store(const std::string& kind, const std::string& work_dir, bool tiny) {
  const std::string dir = (fs::path(work_dir) / kind).string();
  if (fs::exists(fs::path(dir) / "test.h5")) return dir;
  const int64_t n = tiny ? 32 : 2048;
  if (kind == "neuronio") {
    SyntheticNeuronOptions o;
    o.duration_ms = tiny ? 1200 : 6000;
    o.train_simulations = tiny ? 2 : 8;
    o.valid_simulations = o.test_simulations = 1;
    std::ostringstream quiet;
    write_synthetic_neuron_store(dir, o, quiet);
  } else if (kind == "shd") {
    write_shd_store(dir, n, tiny ? 50 : 1000, tiny ? 200 : 3000, 11);
  } else if (kind == "listops") {
    write_token_store(dir, {"listops", kListOpsVocabularySize, kListOpsClasses, tiny ? 20 : 500, tiny ? 60 : 2000}, n,
                      12);
  } else if (kind == "text") {
    const int64_t len = tiny ? 64 : 4096;
    write_token_store(dir, {"text", 256, 2, len, len}, n, 13);
  } else if (kind == "image") {
    write_token_store(dir, {"image", 256, 10, 1024, 1024}, n, 14);
  } else if (kind == "pathfinder32") {
    const int64_t len = tiny ? 64 : 1024;
    write_token_store(dir, {"pathfinder", 256, 2, len, len}, n, 15);
  } else if (kind == "pathx") {
    write_token_store(dir, {"pathx", 256, 2, 16384, 16384}, tiny ? 8 : 1024, 16);
  } else {
    fail("bench --loader: no synthetic store of kind '", kind, "'");
  }
  return dir;
}

int64_t store_train_samples(const std::string& dir) {
  if (dir.empty()) return 0;
  return StoreReader((fs::path(dir) / "train.h5").string()).num_samples();
}

// Model-ready bytes of a batch (what the trainer consumes).
double batch_bytes(const Batch& b) {
  double n = double(b.labels.size()) * sizeof(int64_t) +
             double(b.target_spike.size() + b.target_soma.size()) * sizeof(float);
  if (const auto* s = std::get_if<SpikeInput>(&b.x.data))
    n += double(s->offsets.size()) * sizeof(int64_t) + double(s->channel.size()) * sizeof(int32_t) +
         double(s->value.size()) * sizeof(float);
  else if (const auto* t = std::get_if<TokenInput>(&b.x.data))
    n += double(t->ids.size()) * sizeof(int32_t);
  return n;
}

std::vector<int64_t> random_indices(RngStream& rng, int n, int64_t num_samples) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (auto& i : idx) i = int64_t(rng.below(uint64_t(num_samples)));
  return idx;
}

// Removes a directory on scope exit (when owned).
struct ScratchDir {
  fs::path path;
  bool owned = false;
  ~ScratchDir() {
    if (!owned) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

const std::vector<std::string>& loader_bench_tasks() {
  static const std::vector<std::string> t{"neuronio", "shd",  "shd_adding", "listops",          "text",
                                          "image",    "pathfinder32", "pathx", "synthetic_listops"};
  return t;
}

std::string find_configs_dir() {
  std::error_code ec;
  if (fs::is_directory("configs", ec)) return fs::absolute("configs", ec).string();
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& rel : {fs::path("../configs"), fs::path("../share/elmrun/configs")}) {
      const fs::path p = exe.parent_path() / rel;
      if (fs::is_directory(p, ec)) return fs::weakly_canonical(p, ec).string();
    }
  }
  // This file lives at <source>/src/bench/loader_bench.cpp.
  return (fs::path(__FILE__).parent_path().parent_path().parent_path() / "configs").string();
}

LoaderBenchResult run_loader_bench(const std::string& task_name, const LoaderBenchOptions& o) {
  const TaskPlan plan = plan_for(task_name, o.tiny);
  ELM_CHECK(o.min_batches >= 1 && o.max_trainer_batch >= 1 && o.min_seconds >= 0,
            "bench --loader: bad timing options");
  const std::string configs = o.configs_dir.empty() ? find_configs_dir() : o.configs_dir;
  const std::string ini = (fs::path(configs) / plan.config).string();
  ELM_CHECK(fs::is_regular_file(ini), "bench --loader: config not found: ", ini, " (use --configs DIR)");

  ScratchDir scratch;
  if (o.work_dir.empty()) {
    scratch.path = fs::temp_directory_path() / ("elmrun-loader-bench-" + std::to_string(::getpid()));
    scratch.owned = true;
  } else {
    scratch.path = o.work_dir;
  }
  fs::create_directories(scratch.path);
  const std::string store = plan.store.empty() ? "" : ensure_store(plan.store, scratch.path.string(), o.tiny);

  std::vector<std::string> overrides = plan.overrides;
  if (!store.empty()) overrides.push_back("task.store=" + store);
  const RunConfig rc = RunConfig::load(ini, overrides);
  const std::unique_ptr<Task> task = make_task(rc.task, rc.model);
  const int64_t n_train = task->num_samples(Split::Train);

  LoaderBenchResult r;
  r.task = task_name;
  r.config = ini;
  r.batch = rc.train.batch_size;
  r.store_samples = store.empty() ? n_train : store_train_samples(store);

  // ---- loader: make_train_batch, one step after another -------------------------
  RngStream rng(rc.train.seed + 101, 0x6c6f6164ULL);
  {
    const Batch warm = task->make_train_batch(random_indices(rng, r.batch, n_train), 0, 0);
    r.steps = warm.x.steps;
  }
  double bytes = 0;
  const TimedLoop timed = time_until(o.min_batches, o.min_seconds, [&](int64_t n) {
    const std::vector<int64_t> idx = random_indices(rng, r.batch, n_train);
    const Batch b = task->make_train_batch(idx, n + 1, 0);
    bytes += batch_bytes(b);
  });
  r.loader_batches = static_cast<int>(timed.steps);
  r.loader_samples_per_s = double(timed.steps) * r.batch / timed.seconds;
  r.loader_mb_per_s = bytes / timed.seconds / 1e6;

  // ---- trainer: one CPU step of the config's model on a batch of this task -------
  if (!o.trainer) {
    r.note = "trainer not timed (--no-trainer)";
    return r;
  }
  if (plan.gpu_sized && !o.include_gpu_sized) {
    r.note = "trainer skipped: GPU-sized on the CPU (--include-gpu-sized times it on 1 sample)";
    return r;
  }
  r.trainer_batch = plan.gpu_sized ? 1 : std::min(r.batch, o.max_trainer_batch);
  if (r.trainer_batch < r.batch)
    r.note = "trainer timed on " + std::to_string(r.trainer_batch) + " of the batch's " + std::to_string(r.batch) +
             " samples (CPU step linear in the batch)";
  const Batch tb = task->make_train_batch(random_indices(rng, r.trainer_batch, n_train), 0, 0);
  ElmModel model = ElmModel::initialized(rc.model, rc.train.seed);
  const TaskLoss loss = rc.train.loss == "neuronio" ? TaskLoss::Neuronio : TaskLoss::LastStepCrossEntropy;
  const int threads = o.threads > 0 ? o.threads : rc.train.threads;
  const StepTiming st = time_training_step(model, tb.x, loss, tb.labels, tb.target_spike, tb.target_soma, rc.optim,
                                           threads, o.min_seconds, plan.gpu_sized ? 1 : o.min_batches);
  r.trainer_timed = true;
  r.trainer_steps = st.steps_timed;
  r.trainer_samples_per_s = r.trainer_batch / st.seconds_per_step;
  r.ratio = r.loader_samples_per_s / r.trainer_samples_per_s;
  return r;
}

std::string format_loader_bench(const LoaderBenchResult& r) {
  std::ostringstream s;
  s << "task=" << r.task << " loader_samples_per_s=" << fmt(r.loader_samples_per_s)
    << " trainer_samples_per_s=" << (r.trainer_timed ? fmt(r.trainer_samples_per_s) : "skipped")
    << " ratio=" << (r.trainer_timed ? fmt(r.ratio) : "n/a") << " batch=" << r.batch << " steps=" << r.steps
    << " trainer_batch=" << r.trainer_batch << " loader_batches=" << r.loader_batches
    << " trainer_steps=" << r.trainer_steps << " loader_mb_per_s=" << fmt(r.loader_mb_per_s)
    << " store_samples=" << r.store_samples;
  if (!r.note.empty()) s << " note=\"" << r.note << "\"";
  return s.str();
}

std::string loader_bench_verdict(const std::vector<LoaderBenchResult>& results, double required_ratio) {
  std::string slow, skipped;
  double min_ratio = INFINITY;
  std::string min_task;
  for (const auto& r : results) {
    if (!r.trainer_timed) {
      skipped += (skipped.empty() ? "" : ",") + r.task;
      continue;
    }
    if (r.ratio < min_ratio) {
      min_ratio = r.ratio;
      min_task = r.task;
    }
    if (!(r.ratio >= required_ratio)) slow += (slow.empty() ? "" : ",") + r.task;
  }
  std::ostringstream s;
  s << "verdict=" << (slow.empty() ? "PASS" : "FAIL") << " required_ratio=" << fmt(required_ratio);
  if (!min_task.empty()) s << " min_ratio=" << fmt(min_ratio) << " min_task=" << min_task;
  if (!slow.empty()) s << " below=" << slow;
  if (!skipped.empty()) s << " loader_only=" << skipped;
  return s.str();
}

}  // namespace elm
