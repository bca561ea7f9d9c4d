#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/collective_timeout.hpp"
#include "cli/commands.hpp"
#include "cli/gpu_ranks.hpp"
#include "core/error.hpp"
#include "dist/mpi_comm.hpp"
#include "core/stop_request.hpp"
#include "train/run_lock.hpp"
#include "train/step_backend.hpp"
#include "train/train_state.hpp"
#include "train/trainer.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace elm {

int train_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "elmrun train: train one ELM neuron (without --config: a short run on the built-in synthetic task).\n"
      "Under mpirun/srun every rank trains the same run data parallel (train.batch_size is the global batch).\n"
      "An unfinished run in --out resumes from its newest checkpoint; SIGTERM/SIGUSR2 checkpoint and exit 75");
  std::string config_path, out_dir;
  std::vector<std::string> overrides;
  bool overwrite = false;
  opts.add_options()("help,h", "show this help")("config,c", po::value(&config_path),
                                                 "INI config file (sections [model] [task] [train] [optim])")(
      "set", po::value(&overrides)->composing(), "override one key: --set section.key=value (repeatable)")(
      "out,o", po::value(&out_dir)->default_value("runs/train"),
      "run directory: results.h5, checkpoint.h5, DONE (checkpoints/ while running)")(
      "overwrite", po::bool_switch(&overwrite), "start over: replace a completed run or its checkpoints in --out");
  po::variables_map vm = parse_command_line(args, opts);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  const RunConfig rc = RunConfig::load(config_path, overrides);
  // A GPU run that cannot start here says so before the run directory exists.
  StepBackendOptions where;
  where.kind = parse_backend_kind(rc.train.backend);
  require_backend_usable(where);
  // Before MPI and the run: an early preemption signal is honoured at the first step.
  StopRequest::install();
  WorldSession session;
  return session.run_or_abort("train", [&]() -> int {
    Comm& world = session.world();
    // Rank 0 holds the run directory for the whole run; the others learn
    // whether it could.
    std::optional<RunLock> lock;
    std::string holder;
    double held = 1;
    if (world.rank() == 0) {
      tidy_completed_run(out_dir);
      lock = RunLock::try_acquire(out_dir, &holder);
      held = lock ? 1 : 0;
    }
    broadcast_value(world, held, 0);
    broadcast_vector(world, holder, 0);
    ELM_CHECK(held > 0, run_in_use_message(out_dir, holder));
    // DONE alone marks a finished run: results.h5 without it was cut short
    // while being written, and the run resumes from its last checkpoint.
    ELM_CHECK(overwrite || !run_is_done(out_dir), out_dir,
              " already holds a completed run (DONE); pass --overwrite or choose another --out");
    if (overwrite && world.rank() == 0)
      for (const char* f : {"DONE", "results.h5", "checkpoint.h5", "status"}) fs::remove(fs::path(out_dir) / f);
    world.barrier();
    RunOptions ro;
    std::unique_ptr<DeviceComm> device_comm;
    if (where.kind == BackendKind::Cuda) {
      ro.device = gpu_of_this_rank();
      device_comm = device_comm_for(world, ro.device);
      ro.device_comm = device_comm.get();
    }
    ro.comm = &world;
    ro.collective_timeout_s = collective_timeout_seconds();
    ro.log = &std::cout;
    ro.resume = !overwrite;
    const RunResult r = train_run(rc, out_dir, ro);
    if (r.outcome == RunOutcome::interrupted) return kExitInterrupted;
    ELM_CHECK(r.outcome != RunOutcome::diverged, "training diverged: ", r.reason, " (", out_dir, "/FAILED)");
    return 0;
  });
}

}  // namespace elm
