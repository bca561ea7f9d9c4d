#include <boost/program_options.hpp>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "bench/conversion_bench.hpp"
#include "bench/cuda_bench.hpp"
#include "bench/loader_bench.hpp"
#include "bench/rank_bench.hpp"
#include "cli/collective_timeout.hpp"
#include "bench/workloads.hpp"
#include "train/step_pack.hpp"
#include "cli/commands.hpp"
#include "core/error.hpp"
#include "backend/cpu/cpu_isa.hpp"
#include "backend/cpu/elm_cpu_pack.hpp"
#include "dist/mpi_comm.hpp"

namespace po = boost::program_options;

namespace elm {

int bench_command(const std::vector<std::string>& args) {
  po::options_description opts("elmrun bench: time one training step (forward, loss, BPTT, Adam) per workload");
  std::vector<std::string> names;
  int threads = 1, min_steps = 3, batch = 0;
  double min_seconds = 2.0;
  bool include_gpu_sized = false;
  bool loader = false, no_trainer = false;
  std::vector<std::string> loader_tasks;
  std::string configs_dir, store_dir, convert_pickle;
  int convert_copies = 4, convert_jobs = 0;
  int max_trainer_batch = 16;
  std::string backend = "cpu";
  bool ranks = false;
  int global_batch = 16, rounds = 3;
  std::vector<int> pack_models;
  std::string pack_mode = "auto";
  int pack_lanes = 0;
  bool fma_peak = false;
  opts.add_options()("help,h", "show this help")(
      "backend", po::value(&backend)->default_value("cpu"), "cpu or cuda (cuda: 'all' includes the GPU-sized workloads)")(
      "workload,w", po::value(&names)->multitoken(),
      "workload name(s) from shared/docs/benchmarks.md, or 'all' (CPU-sized ones); default all")(
      "threads,t", po::value(&threads)->default_value(1), "CPU threads (samples of the batch split across them)")(
      "batch", po::value(&batch)->default_value(0),
      "samples per step instead of the workload's own (0: the workload's; the workload name is printed with "
      "_b<batch>)")(
      "min-seconds", po::value(&min_seconds)->default_value(2.0), "time each workload for at least this long")(
      "min-steps", po::value(&min_steps)->default_value(3), "and for at least this many steps")(
      "include-gpu-sized", po::bool_switch(&include_gpu_sized), "with 'all', also run pathfinder/pathx on the CPU; with --loader, also time the pathx trainer")(
      "loader", po::bool_switch(&loader),
      "loader bench: per task, make_train_batch samples/s on a synthetic store next to one CPU training step's")(
      "task", po::value(&loader_tasks)->multitoken(), "with --loader: task name(s); default all")(
      "configs", po::value(&configs_dir), "with --loader: directory of <task>.ini (default: ./configs, found)")(
      "store-dir", po::value(&store_dir),
      "with --loader: build (and keep) the synthetic stores here, reusing existing ones (default: a temp dir)")(
      "max-trainer-batch", po::value(&max_trainer_batch)->default_value(16),
      "with --loader: time the trainer on at most this many samples (LRA's batch 384)")(
      "no-trainer", po::bool_switch(&no_trainer), "with --loader: loader side only")(
      "ranks", po::bool_switch(&ranks),
      "data-parallel scaling: run under mpirun -n W; times the step on --global-batch split over 1 and W ranks, "
      "and the gradient all-reduce (algbw/busbw); default workload neuronio_dm15")(
      "global-batch", po::value(&global_batch)->default_value(16), "with --ranks: the global batch")(
      "rounds", po::value(&rounds)->default_value(3),
      "with --ranks: alternate 1-rank and W-rank timings this often, report each size's fastest; with --pack: "
      "alternate one model's and the K models' timings this often, likewise")(
      "pack", po::value(&pack_models)->multitoken(),
      "time one training step of K models trained together (CpuElmPack; with --backend cuda the sweep's GPU "
      "pack) next to one model's step, for each K given (1-16; GPU 1-64), per workload; prints "
      "per_model_speedup = K * t1 / tK")(
      "pack-mode", po::value(&pack_mode)->default_value("auto"),
      "with --pack: auto, lanes (always in vector lanes) or per-model (one model after another); with --backend "
      "cuda: auto or indexed (the sweep's pack: recurrences in one launch) or streams (one stream per model)")(
      "lanes", po::value(&pack_lanes)->default_value(0), "with --pack: lanes per vector group (4, 8, 16; 0: auto)")(
      "fma-peak", po::bool_switch(&fma_peak),
      "measure this core's FMA peak (GFLOP/s, independent vector FMAs at the kernels' level) and print it; "
      "--pack prints it too")(
      "convert-neuronio", po::value(&convert_pickle),
      "time `elmrun prep neuronio` on --copies links to this NeuronIO pickle with 1 and --jobs converters, next "
      "to reading it from disk (O_DIRECT) and unpickling alone")(
      "copies", po::value(&convert_copies)->default_value(4), "with --convert-neuronio: files per conversion")(
      "jobs", po::value(&convert_jobs)->default_value(0),
      "with --convert-neuronio: converter processes of the second run (0: one per core, at most 8)");
  po::variables_map vm = parse_command_line(args, opts);
  if (vm.count("help")) {
    std::cout << opts << "\nWorkloads:";
    for (const auto& w : bench_workloads()) std::cout << " " << w.name;
    std::cout << "\nOutput: one line per workload with ms_per_step=<float> and gflops=<float>.\n";
    std::cout << "With --pack K...: a line fma_peak_gflops=<float>, then per workload and K: pack=K lanes=<per "
                 "group, 0: per model> ms_per_step=<K models' step> k1_ms_per_step=<one model's> "
                 "per_model_speedup=<K*t1/tK> gflops=<K models' flop/s> peak_fraction=<gflops/peak>; with "
                 "--backend cuda the same without the CPU's lanes, gflops and peak.\n";
    std::cout << "With --loader (tasks:";
    for (const auto& t : loader_bench_tasks()) std::cout << " " << t;
    std::cout << "): one line per task, task=NAME loader_samples_per_s=X trainer_samples_per_s=Y ratio=X/Y "
                 "batch=B steps=T ..., then verdict=PASS|FAIL (ratio >= 10 for every timed task).\n";
    return 0;
  }
  ELM_CHECK(threads >= 1 && threads <= 256, "--threads must be in [1, 256], got ", threads);
  ELM_CHECK(min_steps >= 1, "--min-steps must be >= 1");
  if (!convert_pickle.empty()) {
    const std::string dir = store_dir.empty() ? convert_pickle + ".bench" : store_dir;
    ConversionBenchOptions co;
    co.copies = convert_copies;
    co.jobs = {1, convert_jobs};
    const ConversionBenchResult r = run_neuronio_conversion_bench(convert_pickle, dir, co, std::cerr);
    std::printf("%s\n", format_conversion_bench(r).c_str());
    if (store_dir.empty()) std::filesystem::remove_all(dir);
    return 0;
  }
  if (ranks) {
    if (names.empty()) names = {"neuronio_dm15"};
    WorldSession session;
    return session.run_or_abort("bench", [&]() -> int {
      for (const auto& n : names) {
        const auto results = run_rank_bench(session.world(), find_bench_workload(n), global_batch, threads,
                                            min_seconds, min_steps, rounds, collective_timeout_seconds());
        if (session.world().rank() == 0)
          for (const auto& r : results) std::printf("%s\n", format_rank_bench(r).c_str());
        std::fflush(stdout);
      }
      return 0;
    });
  }
  if (loader) {
    ELM_CHECK(names.empty(), "--loader takes --task, not --workload");
    LoaderBenchOptions lo;
    lo.configs_dir = configs_dir;
    lo.work_dir = store_dir;
    lo.threads = vm["threads"].defaulted() ? 0 : threads;
    lo.min_seconds = min_seconds;
    lo.min_batches = min_steps;
    lo.max_trainer_batch = max_trainer_batch;
    lo.include_gpu_sized = include_gpu_sized;
    lo.trainer = !no_trainer;
    ELM_CHECK(max_trainer_batch >= 1, "--max-trainer-batch must be >= 1");
    if (loader_tasks.empty() || (loader_tasks.size() == 1 && loader_tasks[0] == "all"))
      loader_tasks = loader_bench_tasks();
    // One scratch directory for the whole run (shd and shd_adding share a store).
    struct Scratch {
      std::string path;
      ~Scratch() {
        std::error_code ec;
        if (!path.empty()) std::filesystem::remove_all(path, ec);
      }
    } scratch;
    if (lo.work_dir.empty()) {
      const std::string base = (std::filesystem::temp_directory_path() / "elmrun-loader-bench-XXXXXX").string();
      std::vector<char> buf(base.begin(), base.end());
      buf.push_back('\0');
      ELM_CHECK(::mkdtemp(buf.data()), "cannot create a temporary directory like ", base);
      scratch.path = lo.work_dir = buf.data();
    }
    std::vector<LoaderBenchResult> results;
    for (const auto& t : loader_tasks) {
      results.push_back(run_loader_bench(t, lo));
      std::printf("%s\n", format_loader_bench(results.back()).c_str());
      std::fflush(stdout);
    }
    std::printf("%s\n", loader_bench_verdict(results).c_str());
    return 0;
  }
  std::vector<const BenchWorkload*> run;
  if (names.empty() || (names.size() == 1 && names[0] == "all")) {
    for (const auto& w : bench_workloads())
      if (!w.gpu_sized || include_gpu_sized || backend == "cuda") run.push_back(&w);
  } else {
    for (const auto& n : names) run.push_back(&find_bench_workload(n));
  }
  // --batch: copies of the workloads at that batch (how a step's rate depends
  // on the rows it has per time step).
  ELM_CHECK(batch >= 0, "--batch must be >= 0, got ", batch);
  std::vector<BenchWorkload> resized;
  if (batch > 0) {
    resized.reserve(run.size());
    for (const BenchWorkload* w : run) {
      resized.push_back(*w);
      resized.back().batch = batch;
      resized.back().name += "_b" + std::to_string(batch);
    }
    for (size_t i = 0; i < run.size(); ++i) run[i] = &resized[i];
  }
  ELM_CHECK(backend == "cpu" || backend == "cuda", "--backend must be cpu or cuda, got '", backend, "'");
  if (backend == "cuda" && !pack_models.empty()) {
    request_queues_for_gpu_packs();  // before the first CUDA call
    CudaPackMode mode = CudaPackMode::Indexed;
    if (pack_mode == "streams")
      mode = CudaPackMode::Streams;
    else
      ELM_CHECK(pack_mode == "auto" || pack_mode == "indexed",
                "--pack-mode with --backend cuda must be auto, indexed or streams, got '", pack_mode, "'");
    return cuda_pack_bench_command(run, pack_models, mode, min_seconds, min_steps);
  }
  if (backend == "cuda") return cuda_bench_command(run, min_seconds, min_steps);
  double peak = 0;
  if (fma_peak || !pack_models.empty()) {
    const CpuIsa isa = chosen_cpu_isa();
    for (int run = 0; run < 5; ++run) peak = std::max(peak, cpu_fma_peak_gflops(isa, 0.1));  // best of 5: a shared core
    std::printf("fma_peak_gflops=%.1f cpu_isa=%s threads=1\n", peak, cpu_isa_name(isa));
    std::fflush(stdout);
    if (pack_models.empty() && names.empty()) return 0;  // --fma-peak alone
  }
  if (!pack_models.empty()) {
    PackBenchOptions po_;
    po_.models = pack_models;
    po_.threads = threads;
    po_.min_seconds = min_seconds;
    po_.min_steps = min_steps;
    po_.lanes = pack_lanes;
    po_.rounds = rounds;
    if (pack_mode == "auto")
      po_.mode = CpuElmPack::Mode::Auto;
    else if (pack_mode == "lanes")
      po_.mode = CpuElmPack::Mode::Lanes;
    else if (pack_mode == "per-model")
      po_.mode = CpuElmPack::Mode::PerModel;
    else
      fail("--pack-mode must be auto, lanes or per-model, got '", pack_mode, "'");
    for (const BenchWorkload* w : run)
      for (const PackBenchResult& r : run_pack_bench(*w, po_)) {
        std::printf(
            "workload=%s backend=cpu pack=%d threads=%d lanes=%d batch=%d steps=%d ms_per_step=%.3f "
            "k1_ms_per_step=%.3f per_model_speedup=%.2f gflops=%.2f fma_peak_gflops=%.1f peak_fraction=%.3f "
            "timed_steps=%d cpu_isa=%s\n",
            r.name.c_str(), r.models, r.threads, r.lanes, w->batch, w->steps, r.ms_per_step, r.single_ms_per_step,
            r.per_model_speedup, r.gflops, peak, peak > 0 ? r.gflops / peak : 0.0, r.steps_timed, r.cpu_isa.c_str());
        std::fflush(stdout);
      }
    return 0;
  }
  for (const BenchWorkload* w : run) {
    const BenchResult r = run_bench(*w, threads, min_seconds, min_steps);
    std::printf(
        "workload=%s backend=cpu threads=%d batch=%d steps=%d ms_per_step=%.3f gflops=%.2f flop_per_step=%.4g "
        "sample_steps_per_s=%.4g timed_steps=%d traces=%s cpu_isa=%s\n",
        r.name.c_str(), r.threads, w->batch, w->steps, r.ms_per_step, r.gflops, r.flop_per_step,
        r.sample_steps_per_s, r.steps_timed, r.branch_traces ? "branch" : "synapse", r.cpu_isa.c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace elm
