#pragma once
// `elmrun bench --loader`: does batch assembly keep up with training?
//
// For each task, a synthetic dataset store is written in a temporary directory in
// exactly that task's store layout and at realistic per-sample sizes (below), the
// task's configs/<config>.ini is loaded with task.store pointed at it, and
//   loader   make_train_batch (the trainer's call, on one thread as the prefetch
//            thread runs it) is timed for the config's batch size over random
//            training indices, one step after another (fresh dropout / fresh
//            SHD-Adding pairs per step); warm page cache, the store is small;
//   trainer  one CPU training step of the config's model (forward, the config's
//            loss, BPTT, the config's optimizer: time_training_step, shared with
//            `elmrun bench`) on a batch built by the same task.
// Both are reported in samples/s; ratio = loader / trainer must be >= 10.
//
// Tasks with LRA's batch 384 time the trainer on a batch of max_trainer_batch
// (default 16) samples and report that batch's samples/s: the CPU step is linear
// in the batch (each thread walks its samples one after another), so samples/s do
// not depend on the batch size on one thread. Path-X (T = 16384, d_m 150) is
// GPU-sized: its trainer side is skipped unless include_gpu_sized, and then timed
// on a batch of one sample.
//
// Synthetic stores (the layouts of src/data/prep and src/data/synthetic):
//   neuronio      the built-in synthetic neuron, 1278 channels x 6000 ms, 8 train
//                 simulations (about 2 Hz per input channel)
//   shd           events: uniform 1000..3000 spikes per sample over 1 s (float32
//                 seconds, sorted), channels uniform in 0..699, 20 classes; 2048
//                 train samples; shd_adding reads the same store
//   listops       tokens 0..14, length uniform in [500, 2000] (LRA), 10 classes
//   text          4096 bytes per sample (LRA's cut; real reviews are shorter)
//   image         1024 gray bytes; pathfinder32 1024; pathx 16384
//   synthetic_listops  no store: generated on the fly (its config as it is)
// Random bytes / tokens: the loader's cost depends on sizes, not on contents.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace elm {

struct LoaderBenchOptions {
  std::string configs_dir;      // empty: find_configs_dir()
  std::string work_dir;         // empty: a fresh directory under the temp dir, removed afterwards
  int threads = 0;              // trainer threads; 0: the config's train.threads
  double min_seconds = 2.0;     // each side is timed at least this long
  int min_batches = 3;          // and over at least this many batches / steps
  int max_trainer_batch = 16;   // trainer batch = min(config batch, this)
  bool include_gpu_sized = false;  // also time the Path-X trainer (batch 1)
  bool trainer = true;          // false: loader only
  // Test sizes: few samples, short sequences where the task allows it (listops,
  // text, pathfinder32 8x8, SHD 50..200 spikes, NeuronIO 1200 ms).
  bool tiny = false;
};

struct LoaderBenchResult {
  std::string task;
  std::string config;              // the .ini used
  int batch = 0;                   // config's train.batch_size (the loader's batch)
  int steps = 0;                   // T of a sample
  int64_t store_samples = 0;       // training samples in the synthetic store
  int loader_batches = 0;          // batches timed
  double loader_samples_per_s = 0;
  double loader_mb_per_s = 0;      // model-ready batch bytes (InputBatch + targets) per second
  bool trainer_timed = false;
  int trainer_batch = 0;
  int trainer_steps = 0;
  double trainer_samples_per_s = 0;  // 0 when not timed
  double ratio = 0;                  // loader / trainer; 0 when not timed
  std::string note;                  // why the trainer was skipped or scaled
};

// The tasks in the order `bench --loader` runs them.
const std::vector<std::string>& loader_bench_tasks();

// configs/ in the working directory, else beside the executable (../configs),
// else in the source tree this library was built from.
std::string find_configs_dir();

// Runs one task (name from loader_bench_tasks()); ElmError for an unknown one.
LoaderBenchResult run_loader_bench(const std::string& task, const LoaderBenchOptions& options);

// "task=... loader_samples_per_s=... trainer_samples_per_s=... ratio=... batch=... steps=..." and details.
std::string format_loader_bench(const LoaderBenchResult& r);
// "verdict=PASS|FAIL ..." over the results with a timed trainer (ratio >= required).
std::string loader_bench_verdict(const std::vector<LoaderBenchResult>& results, double required_ratio = 10.0);

}  // namespace elm
