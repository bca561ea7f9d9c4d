#include "train/trainer.hpp"

#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.hpp"
#include "train/run_lock.hpp"
#include "train/run_session.hpp"
#include "train/train_state.hpp"
#include "train/train_step.hpp"

namespace fs = std::filesystem;

namespace elm {

bool run_is_done(const std::string& run_dir) { return fs::exists(fs::path(run_dir) / "DONE"); }

void tidy_completed_run(const std::string& run_dir) {
  const fs::path checkpoints = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  if (!run_is_done(run_dir) || !fs::exists(checkpoints, ec)) return;
  std::string holder;
  if (auto lock = RunLock::try_acquire(run_dir, &holder)) fs::remove_all(checkpoints, ec);
}

std::string run_failure(const std::string& run_dir) {
  std::ifstream f(fs::path(run_dir) / "FAILED");
  if (!f) return "";
  std::string line;
  std::getline(f, line);
  return line.empty() ? "failed" : line;
}

namespace {

uint64_t params_checksum(const std::vector<float>& p) { return fnv1a64(std::as_bytes(std::span<const float>(p))); }

}  // namespace

void check_ranks_agree(Comm& comm, const std::vector<float>& params, int64_t step) {
  if (comm.size() == 1) return;
  const uint64_t mine = params_checksum(params);
  uint64_t root = mine;
  broadcast_value(comm, root, 0);
  double mismatches = root == mine ? 0.0 : 1.0;
  comm.allreduce_sum(std::span<double>(&mismatches, 1));
  ELM_CHECK(mismatches == 0, "parameters differ between the run's ranks after step ", step, " (", int(mismatches),
            " of ", comm.size(), " ranks disagree with rank 0's checksum): the data-parallel replicas drifted");
}

StepBackendOptions step_backend_options(const RunConfig& rc, const RunOptions& options) {
  StepBackendOptions where;
  where.kind = parse_backend_kind(rc.train.backend);
  where.threads = rc.train.threads;
  where.device = options.device;
  where.device_comm = options.device_comm;
  return where;
}

RunResult train_run(const RunConfig& rc, const std::string& run_dir, const RunOptions& options) {
  SerialComm serial;
  Comm& comm = options.comm ? *options.comm : serial;
  std::unique_ptr<RunSession> session;
  try {
    session = std::make_unique<RunSession>(rc, run_dir, options, comm);
    // Where the steps run; a GPU that cannot take the run fails in start(),
    // before anything is written.
    const ElmModel& model = session->model();
    const std::unique_ptr<StepBackend> backend =
        make_step_backend(model.config, model.routing, session->loss(), rc.optim, step_backend_options(rc, options));
    if (auto ended = session->start(*backend)) return std::move(*ended);
    while (session->training()) {
      const Batch& batch = session->begin_step();
      const StepResult r = train_step(*backend, batch, comm, session->settings(), session->next_batch());
      if (auto ended = session->after_step(r)) return std::move(*ended);
    }
    return session->finish();
  } catch (const std::exception& e) {
    if (session) session->abandon(e.what());
    throw;
  }
}

}  // namespace elm
