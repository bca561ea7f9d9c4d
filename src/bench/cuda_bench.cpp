#include "bench/cuda_bench.hpp"

#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "train/step_pack.hpp"
#ifdef ELM_HAVE_CUDA
#include "backend/cuda/elm_cuda.hpp"
#endif

namespace elm {

PaperSchedule paper_schedule(const std::string& workload) {
  // LRA Pathfinder / Path-X: 200k images each, 80/10/10 split; the ELM paper
  // trains 300 epochs (shared/docs/datasets.md, benchmarks.md: ~125k steps at batch 384).
  if (workload == "pathfinder_dm150" || workload == "pathx_dm150") return {160000, 300};
  return {};
}

double projected_training_hours(double ms_per_step, int batch, const PaperSchedule& s) {
  if (s.train_samples <= 0 || batch <= 0) return 0;
  const double steps = double(s.epochs) * double(s.train_samples / batch);
  return steps * ms_per_step / 3.6e6;
}

std::string format_cuda_bench(const CudaBenchResult& r) {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "workload=%s backend=cuda batch=%d steps=%d ms_per_step=%.3f sample_steps_per_s=%.4g gflops=%.1f "
                "flop_per_step=%.4g timed_steps=%d",
                r.name.c_str(), r.batch, r.steps, r.ms_per_step, r.sample_steps_per_s, r.gflops, r.flop_per_step,
                r.timed_steps);
  std::string s = buf;
  if (r.schedule.train_samples > 0) {
    std::snprintf(buf, sizeof buf, " projected_%d_epochs_h=%.2f (train_samples=%lld, %lld steps/epoch)",
                  r.schedule.epochs, r.projected_hours, (long long)r.schedule.train_samples,
                  (long long)(r.schedule.train_samples / r.batch));
    s += buf;
  }
  s += " " + r.plan + " device=\"" + r.device + "\"";
  return s;
}

namespace {

[[maybe_unused]] [[noreturn]] void fail_without_cuda(const BenchWorkload& w) {
  fail("bench --backend cuda: this elmrun was built without the CUDA backend (workload ", w.name, ")");
}

}  // namespace

CudaBenchResult run_cuda_bench(const BenchWorkload& w, double min_seconds, int min_steps) {
#ifdef ELM_HAVE_CUDA
  std::string why;
  ELM_CHECK(cuda_device_usable(&why), "bench --backend cuda: ", why);
  CudaBenchResult r = time_cuda_training_step(w, min_seconds, min_steps);
  r.name = w.name;
  r.batch = w.batch;
  r.steps = w.steps;
  r.sample_steps_per_s = double(w.batch) * w.steps / (r.ms_per_step * 1e-3);
  r.gflops = r.flop_per_step / (r.ms_per_step * 1e6);
  r.schedule = paper_schedule(w.name);
  r.projected_hours = projected_training_hours(r.ms_per_step, w.batch, r.schedule);
  return r;
#else
  (void)min_seconds;
  (void)min_steps;
  fail_without_cuda(w);
#endif
}

const char* cuda_pack_mode_name(CudaPackMode m) { return m == CudaPackMode::Indexed ? "indexed" : "streams"; }

std::vector<CudaPackBenchResult> run_cuda_pack_bench(const BenchWorkload& w, const std::vector<int>& models,
                                                     CudaPackMode mode, double min_seconds, int min_steps) {
  for (int k : models)
    ELM_CHECK(k >= 1 && k <= kMaxGpuPackMembers, "bench --pack: pack sizes on the GPU are 1..", kMaxGpuPackMembers,
              ", got ", k);
#ifdef ELM_HAVE_CUDA
  std::string why;
  ELM_CHECK(cuda_device_usable(&why), "bench --backend cuda: ", why);
  int single_steps = 0;
  const double single = time_cuda_pack_step(w, 1, mode, min_seconds, min_steps, &single_steps);
  const std::string device = cuda_device_description(0);
  std::vector<CudaPackBenchResult> out;
  for (int k : models) {
    CudaPackBenchResult r;
    r.name = w.name;
    r.device = device;
    r.mode = mode;
    r.models = k;
    r.timed_steps = single_steps;  // K = 1: the single run timed above
    r.ms_per_step = k == 1 ? single : time_cuda_pack_step(w, k, mode, min_seconds, min_steps, &r.timed_steps);
    r.single_ms_per_step = single;
    r.per_model_speedup = double(k) * single / r.ms_per_step;
    r.sample_steps_per_s = double(k) * w.batch * w.steps / (r.ms_per_step * 1e-3);
    out.push_back(r);
  }
  return out;
#else
  (void)mode;
  (void)min_seconds;
  (void)min_steps;
  fail_without_cuda(w);
#endif
}

std::string format_cuda_pack_bench(const BenchWorkload& w, const CudaPackBenchResult& r) {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "workload=%s backend=cuda pack=%d mode=%s batch=%d steps=%d ms_per_step=%.3f k1_ms_per_step=%.3f "
                "per_model_speedup=%.2f sample_steps_per_s=%.4g timed_steps=%d device=\"%s\"",
                r.name.c_str(), r.models, cuda_pack_mode_name(r.mode), w.batch, w.steps, r.ms_per_step, r.single_ms_per_step, r.per_model_speedup,
                r.sample_steps_per_s, r.timed_steps, r.device.c_str());
  return buf;
}

int cuda_pack_bench_command(const std::vector<const BenchWorkload*>& run, const std::vector<int>& models,
                            CudaPackMode mode, double min_seconds, int min_steps) {
  for (const BenchWorkload* w : run)
    for (const CudaPackBenchResult& r : run_cuda_pack_bench(*w, models, mode, min_seconds, min_steps)) {
      std::printf("%s\n", format_cuda_pack_bench(*w, r).c_str());
      std::fflush(stdout);
    }
  return 0;
}

int cuda_bench_command(const std::vector<const BenchWorkload*>& run, double min_seconds, int min_steps) {
  for (const BenchWorkload* w : run) {
    const CudaBenchResult r = run_cuda_bench(*w, min_seconds, min_steps);
    std::printf("%s\n", format_cuda_bench(r).c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace elm
