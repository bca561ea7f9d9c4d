#pragma once
// One run's life around its training steps, shared by a run trained alone
// (train_run) and the runs of a pack (train_pack): the task, the model, resume
// from the newest checkpoint, the batches of each step, the record, logging,
// validation, checkpoints, divergence and stop handling, and the final test and
// result files. The steps themselves are the caller's (train_step, or a
// packed step for many runs).
#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "data/store/batch_prefetcher.hpp"
#include "data/task.hpp"
#include "model/elm_model.hpp"
#include "train/lr_schedule.hpp"
#include "train/run_heartbeat.hpp"
#include "train/train_step.hpp"
#include "train/trainer.hpp"

namespace elm {

class RunSession {
 public:
  // Opens every split the run reads and builds the model; writes nothing.
  RunSession(const RunConfig& config, std::string run_dir, const RunOptions& options, Comm& comm);
  ~RunSession();
  RunSession(const RunSession&) = delete;
  RunSession& operator=(const RunSession&) = delete;

  const ElmModel& model() const { return model_; }
  TaskLoss loss() const { return task_->loss(); }
  const std::string& run_dir() const { return run_dir_; }

  // Takes the run's backend, checks it can hold a step, makes the run
  // directory and restores the newest checkpoint. A result when the run ends
  // before its first step (a stop during the resumed validation).
  std::optional<RunResult> start(StepBackend& backend);

  // Steps remain to be trained.
  bool training() const { return step_ < tc().steps; }
  int64_t step() const { return step_; }
  // The current step's batch and the next step's (nullptr after the last);
  // both stay valid until after_step.
  const Batch& begin_step();
  const Batch* next_batch() const { return next_; }
  // The step's settings. stop_sample: the stop request as a pack read it
  // once for all its runs; absent: read at the step's stop point.
  StepSettings settings(std::optional<bool> stop_sample = std::nullopt);
  // Records the step; a result when the run ends there (diverged, stopped).
  std::optional<RunResult> after_step(const StepResult& r);
  // After the last step: the test evaluation and the result files.
  RunResult finish();
  // A pack whose other run was stopped: checkpoint every finished step, stop.
  RunResult stop_with_pack(const std::string& why);
  // An error ends the run: its status says so.
  void abandon(const std::string& what);

 private:
  using clock = std::chrono::steady_clock;
  const TrainConfig& tc() const { return rc_.train; }
  void save_state(int64_t steps_done);
  RunResult result(RunOutcome outcome, std::string reason);
  RunResult fail_run(const std::string& reason);
  RunResult interrupted(const std::string& where);
  bool eval_due(int64_t steps_done) const;
  bool validate(int64_t steps_done);

  struct NullBuffer : std::streambuf {
    int overflow(int c) override { return c; }
  };

  const RunConfig& rc_;
  const std::string run_dir_;
  const RunOptions options_;
  Comm& comm_;
  const int W_;
  const bool writer_;
  const clock::time_point t_start_;
  NullBuffer null_buffer_;
  std::ostream null_log_;
  std::ostream& log_;
  std::unique_ptr<Task> task_;
  ElmModel model_;
  std::unique_ptr<Optimizer> opt_;  // the host's copy of the optimizer state, for checkpoints
  LrSchedule schedule_;
  std::string identity_;
  RunRecord rec_;
  std::unique_ptr<RunHeartbeat> heartbeat_;
  StepBackend* backend_ = nullptr;
  std::unique_ptr<BatchPrefetcher<Batch>> prefetcher_;
  double wall_before_ = 0;
  int64_t step_ = 0;
  int64_t checkpointed_step_ = 0;  // newest complete checkpoint on disk
  Batch slots_[2];
  const Batch* next_ = nullptr;
  clock::time_point step_t0_;
  std::optional<bool> stop_sample_;
  clock::time_point steps_t0_, last_progress_;  // this attempt's first step; the last progress line
  int64_t first_step_ = 0;                       // this attempt's first step
  double window_loss_ = 0, window_time_ = 0;
  int64_t window_steps_ = 0;
  bool ended_ = false;
};

}  // namespace elm
