#pragma once
// `elmrun bench --backend cuda`: the trainer's training step (train_step on
// the CUDA StepBackend: forward, loss, BPTT with segment recomputation, Adam)
// of a workload on the GPU.
#include <cstdint>
#include <string>
#include <vector>

#include "bench/workloads.hpp"

namespace elm {

// The paper's schedule for a workload's task (train-set size, epochs), for the
// projected training time; samples == 0 where none is projected.
struct PaperSchedule {
  int64_t train_samples = 0;
  int epochs = 0;
};
PaperSchedule paper_schedule(const std::string& workload);
// Hours for `epochs` passes over `train_samples` in batches of `batch` (last partial batch dropped).
double projected_training_hours(double ms_per_step, int batch, const PaperSchedule& s);

struct CudaBenchResult {
  std::string name, device;
  std::string plan;  // segment plan and launch shape of the step's forward (StepBackend::plan_description)
  int batch = 0, steps = 0, timed_steps = 0;
  double ms_per_step = 0, sample_steps_per_s = 0, flop_per_step = 0, gflops = 0;
  PaperSchedule schedule;
  double projected_hours = 0;
};

// Throws ElmError (one line) when the build has no CUDA backend or no GPU is usable.
CudaBenchResult run_cuda_bench(const BenchWorkload& w, double min_seconds, int min_steps);
std::string format_cuda_bench(const CudaBenchResult& r);

// The CLI's `--backend cuda` path: one line per workload on stdout.
int cuda_bench_command(const std::vector<const BenchWorkload*>& run, double min_seconds, int min_steps);

// `elmrun bench --backend cuda --pack K...`: a step of K models of the
// workload trained together as a sweep's pack trains them on the GPU, timed
// next to one model through the same path; one result per K. Indexed: the
// sweep's pack (make_step_pack: recurrences in one launch with a model index);
// Streams: QueuedStepPack (each model's kernels on its own stream).
enum class CudaPackMode { Indexed, Streams };
const char* cuda_pack_mode_name(CudaPackMode m);
struct CudaPackBenchResult {
  std::string name, device;
  CudaPackMode mode = CudaPackMode::Indexed;
  int models = 0, timed_steps = 0;
  double ms_per_step = 0;         // the K models' step
  double single_ms_per_step = 0;  // one model's, same path, same session
  double per_model_speedup = 0;   // K * single / pack: the throughput of K models against one
  double sample_steps_per_s = 0;  // of all K models together
};
std::vector<CudaPackBenchResult> run_cuda_pack_bench(const BenchWorkload& w, const std::vector<int>& models,
                                                     CudaPackMode mode, double min_seconds, int min_steps);
std::string format_cuda_pack_bench(const BenchWorkload& w, const CudaPackBenchResult& r);
int cuda_pack_bench_command(const std::vector<const BenchWorkload*>& run, const std::vector<int>& models,
                            CudaPackMode mode, double min_seconds, int min_steps);

#ifdef ELM_HAVE_CUDA
// The timed steps (cuda_bench.cu); fills timing, device and plan fields.
CudaBenchResult time_cuda_training_step(const BenchWorkload& w, double min_seconds, int min_steps);
// Milliseconds per step of `models` packed models (cuda_bench.cu).
double time_cuda_pack_step(const BenchWorkload& w, int models, CudaPackMode mode, double min_seconds, int min_steps,
                           int* timed_steps);
#endif

}  // namespace elm
