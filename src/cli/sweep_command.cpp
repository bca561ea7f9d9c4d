#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>

#include "cli/collective_timeout.hpp"
#include "cli/commands.hpp"
#include "cli/gpu_ranks.hpp"
#include "train/step_backend.hpp"
#include "core/did_you_mean.hpp"
#include "core/error.hpp"
#include "core/stop_request.hpp"
#include "core/test_hold.hpp"
#include "dist/mpi_comm.hpp"
#include "train/train_state.hpp"
#include "sweep/pack_plan.hpp"
#include "train/step_pack.hpp"
#include "sweep/sweep_checks.hpp"
#include "sweep/sweep_dir.hpp"
#include "sweep/sweep_job.hpp"
#include "sweep/sweep_runner.hpp"
#include "sweep/sweep_suite.hpp"
#include "sweep/sweep_summary.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace elm {

namespace {

// One sweep of the command: a job file alone, or one job of a suite.
struct SweepPlan {
  SweepJob job;
  std::vector<SweepRun> runs;
  std::string out_dir;
  int pack_size = 1;
  std::vector<Pack> packs;
  std::vector<int64_t> indices;  // --run-index and the runs of --pack-index; empty: every run
};

struct SweepCliOptions {
  std::vector<std::string> overrides;
  std::vector<int64_t> indices, pack_indices;
  std::string pack;
  double progress_seconds = 30;
  bool list = false, collect_only = false;
};

SweepPlan plan_sweep(const std::string& job_path, const std::string& out_dir, const SweepCliOptions& o) {
  SweepPlan p;
  p.job = read_sweep_job(job_path, o.overrides);
  p.runs = expand_sweep(p.job);
  p.out_dir = out_dir.empty() ? "runs/" + p.job.name : out_dir;
  p.indices = o.indices;
  for (int64_t i : p.indices)
    ELM_CHECK(i >= 0 && i < int64_t(p.runs.size()), "--run-index ", i, " is outside the manifest of ", p.runs.size(),
              " runs (0..", p.runs.size() - 1, ")");
  p.pack_size = parse_pack_size(o.pack.empty() ? p.job.pack : o.pack, p.runs.front().config,
                                o.pack.empty() ? "sweep.pack" : "--pack", o.pack.empty() ? p.job.path : "elmrun sweep");
  p.packs = plan_packs(p.runs, p.pack_size);
  for (int64_t k : o.pack_indices) {
    ELM_CHECK(k >= 0 && k < int64_t(p.packs.size()), "--pack-index ", k, " is outside the ", p.packs.size(),
              " packs (0..", p.packs.size() - 1, ") of packs.tsv");
    for (int64_t i : p.packs[size_t(k)].runs) p.indices.push_back(i);
  }
  return p;
}

// Runs (or lists, or only summarises) one planned sweep on every rank.
// Returns kExitInterrupted when a stop signal left runs unfinished, else 0.
int run_planned_sweep(WorldSession& session, const SweepPlan& p, const SweepCliOptions& o) {
  Comm& world = session.world();
  if (world.rank() == 0) {
    prepare_sweep_dir(p.out_dir, p.job, p.runs);
    write_text_atomic(p.out_dir + "/packs.tsv", packs_text(p.packs));
  }
  world.barrier();
  if (o.list) {
    if (world.rank() == 0) {
      std::cout << manifest_text(p.job, p.runs) << std::flush;
      // On stderr: stdout stays the manifest alone, for scripts that read it.
      std::cerr << "elmrun sweep: wrote " << p.out_dir << "/manifest.tsv and " << p.out_dir
                << "/packs.tsv; nothing run\n";
    }
    return 0;
  }
  SweepOutcome outcome;
  int64_t all_done = 0;
  if (!o.collect_only) {
    auto counter = session.make_work_counter();
    SweepOptions so;
    so.only_indices = p.indices;
    so.pack_size = p.pack_size;
    so.progress_seconds = o.progress_seconds;
    so.collective_timeout_s = collective_timeout_seconds();
    if (std::any_of(p.runs.begin(), p.runs.end(), [](const SweepRun& r) { return r.config.train.backend == "cuda"; })) {
      so.device = gpu_of_this_rank();
      so.device_comm_for_group = [&so](Comm& group) { return device_comm_for(group, so.device); };
    }
    outcome = run_sweep(world, *counter, p.out_dir, p.job, p.runs, so, std::cout);
  }
  if (world.rank() == 0) {
    test_hold("summary");
    const SweepSummary summary = collect_sweep(p.out_dir, p.job, p.runs);
    write_sweep_summary(summary, p.out_dir);
    int64_t done = 0;
    for (const auto& r : summary.rows) done += r.status == "done";
    std::cout << "\n" << summary_table_text(summary) << "\n"
              << done << "/" << p.runs.size() << " runs done; table in " << p.out_dir << "/summary.h5 and "
              << p.out_dir << "/summary.csv\n";
    if (outcome.interrupted && done < int64_t(p.runs.size()))
      std::cout << "interrupted by a signal: rerun the same command to resume\n";
    if (outcome.held_elsewhere > 0)
      std::cout << outcome.held_elsewhere << " run(s) skipped: held by another job (elmrun status " << p.out_dir
                << ")\n";
    all_done = done == int64_t(p.runs.size()) ? 1 : 0;
  }
  broadcast_value(world, all_done, 0);
  world.barrier();
  // Interrupted with nothing left to do (the stop came between the last run
  // and the summary) is a finished sweep.
  return outcome.interrupted && !all_done ? kExitInterrupted : 0;
}

}  // namespace

int sweep_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "elmrun sweep JOB.ini: train every run of a grid (docs/sweeps.md).\n"
      "elmrun sweep SUITE.ini: every job of a suite ([suite] jobs = ...), each into DIR/<sweep name>/.\n"
      "Under mpirun/srun the ranks form groups of sweep.ranks_per_run; each group takes the next unfinished run.\n"
      "Runs holding DONE are skipped and interrupted runs resume, so rerunning a sweep does only what is missing");
  std::string job_path, out_dir;
  std::vector<std::string> only;
  SweepCliOptions o;
  opts.add_options()("help,h", "show this help")("job", po::value(&job_path),
                                                 "sweep job file (INI: [sweep] [set] [grid]) or suite file ([suite])")(
      "out,o", po::value(&out_dir),
      "sweep directory (default: runs/<sweep name>); for a suite the suite directory (default: runs/<suite name>)")(
      "only", po::value(&only)->multitoken()->composing(),
      "suite: run only these jobs (by sweep name or job file name)")(
      "set", po::value(&o.overrides)->composing(),
      "override one key for every run: --set section.key=value (an axis key fixes that axis)")(
      "run-index", po::value(&o.indices)->multitoken()->composing(),
      "run only these manifest rows")(
      "pack", po::value(&o.pack),
      "train up to K runs of one shape together, or 'auto' (overrides sweep.pack; 1: one at a time)")(
      "pack-index", po::value(&o.pack_indices)->multitoken()->composing(),
      "run only the runs of these packs (packs.tsv; e.g. $SLURM_ARRAY_TASK_ID)")(
      "progress-every", po::value(&o.progress_seconds)->default_value(30),
      "seconds between a running run's progress lines (step, elapsed, ETA)")(
      "list", po::bool_switch(&o.list), "write the manifest, print it and run nothing")(
      "collect", po::bool_switch(&o.collect_only), "only rewrite and print the summary table");
  const po::variables_map vm = parse_command_line(args, opts, "job");
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  ELM_CHECK(!job_path.empty(), "elmrun sweep needs a job file: elmrun sweep JOB.ini [--out DIR]");
  ELM_CHECK(fs::is_regular_file(job_path), job_path, ": no such sweep job file");

  // A suite is its jobs, each into SUITE_DIR/<sweep name>; a job file is one sweep.
  std::optional<SweepSuite> suite;
  std::string suite_dir;
  std::vector<SweepPlan> plans;
  if (is_suite_file(job_path)) {
    suite = read_sweep_suite(job_path);
    const std::vector<SuiteJob> selected = select_suite_jobs(*suite, only);
    ELM_CHECK(selected.size() == 1 || (o.indices.empty() && o.pack_indices.empty()),
              "--run-index and --pack-index name rows of one sweep: with suite ", job_path,
              " add --only JOB (jobs: ", [&] {
                std::vector<std::string> names;
                for (const auto& j : selected) names.push_back(j.name);
                return join_names(names);
              }(), ")");
    suite_dir = out_dir.empty() ? "runs/" + suite->name : out_dir;
    for (const SuiteJob& j : selected) plans.push_back(plan_sweep(j.path, suite_dir + "/" + j.name, o));
  } else {
    ELM_CHECK(only.empty(), "--only selects jobs of a suite, and ", job_path, " is a sweep job ([sweep]), not a suite");
    plans.push_back(plan_sweep(job_path, out_dir, o));
  }

  // Every run's inputs, before anything is written, run or queued.
  if (!o.collect_only) {
    bool bad = false;
    for (const SweepPlan& p : plans)
      for (const auto& problem : sweep_input_problems(p.runs)) {
        std::cerr << "elmrun sweep: " << p.job.path << ": " << problem << "\n";
        bad = true;
      }
    if (bad) return 1;
  }
  // Where the runs compute, only where they will (the manifest and the summary
  // are written on login nodes without a GPU).
  if (!o.collect_only && !o.list) {
    std::set<std::string> backends;
    bool gpu_packs = false;
    for (const SweepPlan& p : plans)
      for (const SweepRun& r : p.runs) {
        backends.insert(r.config.train.backend);
        gpu_packs |= r.config.train.backend == "cuda" && p.pack_size > 1;
      }
    if (gpu_packs) request_queues_for_gpu_packs();  // before the first CUDA call
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
    if (suite && session.world().rank() == 0) {
      fs::create_directories(suite_dir);
      write_text_atomic(suite_dir + "/suite.tsv", suite_record_text(*suite));
    }
    for (size_t k = 0; k < plans.size(); ++k) {
      const SweepPlan& p = plans[k];
      if (suite && session.world().rank() == 0)
        std::cout << (k ? "\n" : "") << "== suite " << suite->name << ": sweep " << p.job.name << " (" << k + 1
                  << "/" << plans.size() << ") in " << p.out_dir << "\n";
      const int status = run_planned_sweep(session, p, o);
      if (status != 0) return status;  // a stop signal: the rest of the suite waits for the rerun
    }
    return 0;
  });
}

}  // namespace elm
