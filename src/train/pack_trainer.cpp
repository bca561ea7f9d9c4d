#include "train/pack_trainer.hpp"

#include <memory>
#include <optional>

#include "core/error.hpp"
#include "core/stop_request.hpp"
#include "core/test_hold.hpp"
#include "train/step_pack.hpp"
#include "train/run_session.hpp"

namespace elm {

std::vector<RunResult> train_pack(std::span<const PackRun> runs, const RunOptions& options) {
  ELM_CHECK(!runs.empty(), "train_pack: no runs");
  SerialComm serial;
  Comm& comm = options.comm ? *options.comm : serial;
  const size_t K = runs.size();
  for (const PackRun& r : runs)
    ELM_CHECK(r.config->train.backend == runs[0].config->train.backend &&
                  r.config->train.threads == runs[0].config->train.threads,
              "train_pack: runs of a pack train on one backend with equal train.threads");
  std::vector<std::unique_ptr<RunSession>> sessions(K);
  std::vector<std::optional<RunResult>> results(K);
  const std::unique_ptr<StepPack> packed = make_step_pack(step_backend_options(*runs[0].config, options));
  StepPack& pack = *packed;
  try {
    for (size_t k = 0; k < K; ++k) {
      RunOptions o = options;
      o.log = runs[k].log;
      o.progress_label = runs[k].progress_label;
      sessions[k] = std::make_unique<RunSession>(*runs[k].config, runs[k].run_dir, o, comm);
      const ElmModel& m = sessions[k]->model();
      pack.add_member(m.config, m.routing, sessions[k]->loss(), runs[k].config->optim);
    }
    // Every run of a pack stops at the same step: when one is stopped (a stop
    // during its validation), the others checkpoint where they are.
    auto stop_the_rest = [&](bool stopped) {
      if (!stopped) return;
      for (size_t k = 0; k < K; ++k)
        if (!results[k]) results[k] = sessions[k]->stop_with_pack("stopped with its pack");
    };
    bool stopped = false;
    for (size_t k = 0; k < K; ++k)
      if (auto ended = sessions[k]->start(pack.member(int(k)))) {
        stopped |= ended->outcome == RunOutcome::interrupted;
        results[k] = std::move(*ended);
      }
    stop_the_rest(stopped);
    std::vector<int> active;
    std::vector<StepResult> step(K);
    while (true) {
      active.clear();
      for (size_t k = 0; k < K; ++k)
        if (!results[k] && sessions[k]->training()) active.push_back(int(k));
      if (active.empty()) break;
      for (int k : active) pack.member(k).stage(sessions[size_t(k)]->begin_step());
      test_hold("step", sessions[size_t(active[0])]->step() + 1);
      // One reading of the stop request for the whole pack (each run's
      // all-reduce then agrees on it across the ranks, as alone).
      const bool stop = StopRequest::pending() != 0;
      pack.forward_backward(active);
      for (int k : active)
        step[size_t(k)] = reduce_and_update(pack.member(k), comm, sessions[size_t(k)]->settings(stop));
      for (int k : active)
        if (auto ended = sessions[size_t(k)]->after_step(step[size_t(k)])) {
          stopped |= ended->outcome == RunOutcome::interrupted;
          results[size_t(k)] = std::move(*ended);
        }
      stop_the_rest(stopped);
    }
    for (size_t k = 0; k < K; ++k)
      if (!results[k]) results[k] = sessions[k]->finish();
  } catch (const std::exception& e) {
    for (auto& s : sessions)
      if (s) s->abandon(e.what());
    throw;
  }
  std::vector<RunResult> out;
  for (auto& r : results) out.push_back(std::move(*r));
  return out;
}

}  // namespace elm
