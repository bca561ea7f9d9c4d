#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "bench/workloads.hpp"
#include "cli/commands.hpp"
#include "core/error.hpp"

namespace po = boost::program_options;

namespace elm {

int bench_command(const std::vector<std::string>& args) {
  po::options_description opts("elmrun bench: time one training step (forward, loss, BPTT, Adam) per workload");
  std::vector<std::string> names;
  int threads = 1, min_steps = 3;
  double min_seconds = 2.0;
  bool include_gpu_sized = false;
  opts.add_options()("help,h", "show this help")(
      "workload,w", po::value(&names)->multitoken(),
      "workload name(s) from shared/docs/benchmarks.md, or 'all' (CPU-sized ones); default all")(
      "threads,t", po::value(&threads)->default_value(1), "CPU threads (samples of the batch split across them)")(
      "min-seconds", po::value(&min_seconds)->default_value(2.0), "time each workload for at least this long")(
      "min-steps", po::value(&min_steps)->default_value(3), "and for at least this many steps")(
      "include-gpu-sized", po::bool_switch(&include_gpu_sized), "with 'all', also run pathfinder/pathx on the CPU");
  po::variables_map vm = parse_command_line(args, opts);
  if (vm.count("help")) {
    std::cout << opts << "\nWorkloads:";
    for (const auto& w : bench_workloads()) std::cout << " " << w.name;
    std::cout << "\nOutput: one line per workload with ms_per_step=<float> and gflops=<float>.\n";
    return 0;
  }
  ELM_CHECK(threads >= 1 && threads <= 256, "--threads must be in [1, 256], got ", threads);
  ELM_CHECK(min_steps >= 1, "--min-steps must be >= 1");
  std::vector<const BenchWorkload*> run;
  if (names.empty() || (names.size() == 1 && names[0] == "all")) {
    for (const auto& w : bench_workloads())
      if (!w.gpu_sized || include_gpu_sized) run.push_back(&w);
  } else {
    for (const auto& n : names) run.push_back(&find_bench_workload(n));
  }
  for (const BenchWorkload* w : run) {
    const BenchResult r = run_bench(*w, threads, min_seconds, min_steps);
    std::printf(
        "workload=%s backend=cpu threads=%d batch=%d steps=%d ms_per_step=%.3f gflops=%.2f flop_per_step=%.4g "
        "sample_steps_per_s=%.4g timed_steps=%d traces=%s\n",
        r.name.c_str(), r.threads, w->batch, w->steps, r.ms_per_step, r.gflops, r.flop_per_step,
        r.sample_steps_per_s, r.steps_timed, r.branch_traces ? "branch" : "synapse");
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace elm
