#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include "cli/commands.hpp"
#include "cli/gpu_ranks.hpp"
#include "train/step_backend.hpp"
#include "core/error.hpp"
#include "core/stop_request.hpp"
#include "core/test_hold.hpp"
#include "dist/mpi_comm.hpp"
#include "train/train_state.hpp"
#include "sweep/pack_plan.hpp"
#include "sweep/sweep_checks.hpp"
#include "sweep/sweep_dir.hpp"
#include "sweep/sweep_job.hpp"
#include "sweep/sweep_runner.hpp"
#include "sweep/sweep_summary.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace elm {

int sweep_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "elmrun sweep JOB.ini: train every run of a grid (docs/sweeps.md).\n"
      "Under mpirun/srun the ranks form groups of sweep.ranks_per_run; each group takes the next unfinished run.\n"
      "Runs holding DONE are skipped and interrupted runs resume, so rerunning a sweep does only what is missing");
  std::string job_path, out_dir;
  std::vector<std::string> overrides;
  std::vector<int64_t> indices, pack_indices;
  std::string pack;
  double progress_seconds = 30;
  bool list = false, collect_only = false;
  opts.add_options()("help,h", "show this help")("job", po::value(&job_path), "sweep job file (INI: [sweep] [set] [grid])")(
      "out,o", po::value(&out_dir), "sweep directory (default: runs/<sweep name>)")(
      "set", po::value(&overrides)->composing(),
      "override one key for every run: --set section.key=value (an axis key fixes that axis)")(
      "run-index", po::value(&indices)->multitoken()->composing(),
      "run only these manifest rows")(
      "pack", po::value(&pack),
      "train up to K runs of one shape together, or 'auto' (overrides sweep.pack; 1: one at a time)")(
      "pack-index", po::value(&pack_indices)->multitoken()->composing(),
      "run only the runs of these packs (packs.tsv; e.g. $SLURM_ARRAY_TASK_ID)")(
      "progress-every", po::value(&progress_seconds)->default_value(30),
      "seconds between a running run's progress lines (step, elapsed, ETA)")(
      "list", po::bool_switch(&list), "write the manifest, print it and run nothing")(
      "collect", po::bool_switch(&collect_only), "only rewrite and print the summary table");
  const po::variables_map vm = parse_command_line(args, opts, "job");
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  ELM_CHECK(!job_path.empty(), "elmrun sweep needs a job file: elmrun sweep JOB.ini [--out DIR]");
  const SweepJob job = read_sweep_job(job_path, overrides);
  const std::vector<SweepRun> runs = expand_sweep(job);
  if (out_dir.empty()) out_dir = "runs/" + job.name;
  for (int64_t i : indices)
    ELM_CHECK(i >= 0 && i < int64_t(runs.size()), "--run-index ", i, " is outside the manifest of ", runs.size(),
              " runs (0..", runs.size() - 1, ")");

  const int pack_size = parse_pack_size(pack.empty() ? job.pack : pack, runs.front().config,
                                        pack.empty() ? "sweep.pack" : "--pack", pack.empty() ? job.path : "elmrun sweep");
  const std::vector<Pack> packs = plan_packs(runs, pack_size);
  for (int64_t p : pack_indices) {
    ELM_CHECK(p >= 0 && p < int64_t(packs.size()), "--pack-index ", p, " is outside the ", packs.size(),
              " packs (0..", packs.size() - 1, ") of packs.tsv");
    for (int64_t i : packs[size_t(p)].runs) indices.push_back(i);
  }

  // Every run's inputs, before anything is written, run or queued.
  if (!collect_only) {
    const std::vector<std::string> problems = sweep_input_problems(runs);
    if (!problems.empty()) {
      for (const auto& p : problems) std::cerr << "elmrun sweep: " << job_path << ": " << p << "\n";
      return 1;
    }
  }
  // Where the runs compute, only where they will (the manifest and the summary
  // are written on login nodes without a GPU).
  if (!collect_only && !list) {
    std::set<std::string> backends;
    for (const SweepRun& r : runs) backends.insert(r.config.train.backend);
    for (const std::string& b : backends) {
      StepBackendOptions where;
      where.kind = parse_backend_kind(b);
      require_backend_usable(where);
    }
  }

  // Before MPI and the first run: a preemption signal that comes early is
  // recorded (and honoured at the first step) instead of killing the rank.
  StopRequest::install();
  WorldSession session;
  return session.run_or_abort("sweep", [&]() -> int {
    Comm& world = session.world();
    if (world.rank() == 0) {
      prepare_sweep_dir(out_dir, job, runs);
      write_text_atomic(out_dir + "/packs.tsv", packs_text(packs));
    }
    world.barrier();
    if (list) {
      if (world.rank() == 0) std::cout << manifest_text(job, runs);
      return 0;
    }
    SweepOutcome outcome;
    int64_t all_done = 0;
    if (!collect_only) {
      auto counter = session.make_work_counter();
      SweepOptions so;
      so.only_indices = indices;
      so.pack_size = pack_size;
      so.progress_seconds = progress_seconds;
      if (std::any_of(runs.begin(), runs.end(), [](const SweepRun& r) { return r.config.train.backend == "cuda"; })) {
        so.device = gpu_of_this_rank();
        so.device_comm_for_group = [&so](Comm& group) { return device_comm_for(group, so.device); };
      }
      outcome = run_sweep(world, *counter, out_dir, job, runs, so, std::cout);
    }
    if (world.rank() == 0) {
      test_hold("summary");
      const SweepSummary summary = collect_sweep(out_dir, job, runs);
      write_sweep_summary(summary, out_dir);
      int64_t done = 0;
      for (const auto& r : summary.rows) done += r.status == "done";
      std::cout << "\n" << summary_table_text(summary) << "\n"
                << done << "/" << runs.size() << " runs done; table in " << out_dir << "/summary.h5 and "
                << out_dir << "/summary.csv\n";
      if (outcome.interrupted && done < int64_t(runs.size()))
        std::cout << "interrupted by a signal: rerun the same command to resume\n";
      if (outcome.held_elsewhere > 0)
        std::cout << outcome.held_elsewhere << " run(s) skipped: held by another job (elmrun status " << out_dir
                  << ")\n";
      all_done = done == int64_t(runs.size()) ? 1 : 0;
    }
    broadcast_value(world, all_done, 0);
    world.barrier();
    // Interrupted with nothing left to do (the stop came between the last run
    // and the summary) is a finished sweep.
    return outcome.interrupted && !all_done ? kExitInterrupted : 0;
  });
}

}  // namespace elm
