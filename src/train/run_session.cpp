#include "train/run_session.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/duration_text.hpp"
#include "core/error.hpp"
#include "core/number_text.hpp"
#include "core/stop_request.hpp"
#include "core/test_hold.hpp"
#include "data/store/sharded_sampler.hpp"
#include "io/output_dir.hpp"
#include "train/train_state.hpp"

namespace fs = std::filesystem;

namespace elm {

RunSession::RunSession(const RunConfig& rc, std::string run_dir, const RunOptions& options, Comm& comm)
    : rc_(rc),
      run_dir_(std::move(run_dir)),
      options_(options),
      comm_(comm),
      W_(comm.size()),
      writer_(comm.rank() == 0),
      t_start_(clock::now()),
      null_log_(&null_buffer_),
      log_((writer_ && options.log) ? *options.log : null_log_),
      // Opens every split the run will read (store tasks check each header), so a
      // missing or foreign store fails the run before the first step.
      task_(make_task(rc.task, rc.model)),
      model_(ElmModel::initialized(rc.model, rc.train.seed)),
      opt_(make_optimizer(rc.optim)),
      schedule_(rc.schedule) {
  const bool neuronio = task_->loss() == TaskLoss::Neuronio;
  ELM_CHECK(tc().loss.empty() || (tc().loss == "neuronio") == neuronio, "config key 'train.loss' is '", tc().loss,
            "' but task ", task_->name(), " trains with ", to_string(task_->loss()),
            " (the task decides the loss: remove the key)");
  // From here the ranks move in lock step: a long wait in a collective is a lost peer.
  comm_.set_wait_limit(options.collective_timeout_s);
}

RunSession::~RunSession() = default;

void RunSession::abandon(const std::string& what) {
  if (heartbeat_ && !ended_) heartbeat_->finish("interrupted", "ended by an error: " + what);
  ended_ = true;
}

std::optional<RunResult> RunSession::start(StepBackend& backend) {
  backend_ = &backend;
  const TrainConfig& tc = this->tc();
  if (backend.kind() != BackendKind::Cpu) {
    // This rank's batches are B/W samples of the task's length: refuse a GPU
    // that cannot hold one step, before the run directory is touched.
    std::vector<int64_t> first(size_t(std::max(1, tc.batch_size / W_)));
    for (size_t i = 0; i < first.size(); ++i)
      first[i] = int64_t(i) % std::max<int64_t>(1, task_->num_samples(Split::Train));
    backend.require_fits(task_->make_batch(Split::Train, first));
  }
  int64_t n_train = task_->num_samples(Split::Train);
  if (tc.train_samples > 0) n_train = std::min(n_train, tc.train_samples);
  ELM_CHECK(n_train >= tc.batch_size, "train.batch_size (", tc.batch_size, ") exceeds the ", n_train,
            " training samples");
  ELM_CHECK(tc.batch_size % W_ == 0, "train.batch_size (", tc.batch_size, ") must be a multiple of the ", W_,
            " ranks that train this run");

  identity_ = run_identity_json(rc_);
  int64_t start_step = 0;
  if (writer_) {
    make_output_dir(run_dir_, "run directory");
    remove_leftover_temporaries(run_dir_);  // of writers killed mid-file; this run is ours now
    fs::remove(fs::path(run_dir_) / "FAILED");  // a new attempt
  }
  heartbeat_ = std::make_unique<RunHeartbeat>(run_dir_, writer_, tc.steps, 0,
                                              writer_ ? latest_checkpoint_step(run_dir_) : 0);
  // The same state on every rank: rank 0's initial parameters, or the checkpoint.
  if (!options_.resume && writer_) remove_checkpoints(run_dir_);
  comm_.barrier();
  if (auto ckpt = options_.resume ? latest_checkpoint(run_dir_) : std::nullopt) {
    TrainState st = read_train_state(*ckpt);
    ELM_CHECK(st.identity == identity_, *ckpt, ": checkpoint of a different configuration; remove ", run_dir_,
              "/checkpoints or choose another run directory");
    ELM_CHECK(st.params.size() == model_.params.size(), *ckpt, ": parameter count differs from the model's");
    model_.params = st.params;
    restore_optimizer(st, *opt_);
    rec_ = std::move(st.record);
    start_step = st.step;
    log_ << "resuming " << run_dir_ << " from step " << start_step << " (written by " << rec_.world_size
         << " rank(s), now " << W_ << ")\n";
  }
  broadcast_values(comm_, std::span<float>(model_.params), 0);
  backend.set_params(model_.params);
  backend.set_optimizer_state(*opt_);
  heartbeat_->set_step(start_step);
  rec_.config = rc_.resolved;
  rec_.parameter_count = model_.layout.num_trainable();
  rec_.world_size = W_;
  wall_before_ = rec_.wall_seconds;
  step_ = checkpointed_step_ = start_step;
  log_ << "run: task " << task_->name() << ", " << to_string(rc_.model.variant) << " d_m=" << rc_.model.num_memory
       << ", " << rec_.parameter_count << " trainable parameters, " << tc.steps << " steps of batch "
       << tc.batch_size << " on " << W_ << " rank(s), " << backend.description() << "\n";

  // DistributedSampler order: a permutation per epoch seeded by (seed, epoch),
  // this rank's B/W samples of each global batch, assembled ahead on a
  // prefetch thread. A batch depends only on (seed, step), so a resumed run
  // sees exactly the batches of the uninterrupted one.
  TrainBatches sampler(n_train, tc.batch_size, W_, comm_.rank(), tc.seed);
  const int64_t steps_per_epoch = sampler.steps_per_epoch();
  auto make_batch_for_step = [this, steps_per_epoch, order = std::move(sampler)](int64_t step) mutable {
    const int64_t epoch = step / steps_per_epoch;
    if (order.epoch() != epoch) order.set_epoch(epoch);
    // Step- or epoch-dependent for tasks with training-only randomness (SHD
    // input dropout, SHD-Adding pairs, NeuronIO windows).
    return task_->make_train_batch(order.batch(step % steps_per_epoch), step, epoch);
  };
  prefetcher_ = std::make_unique<BatchPrefetcher<Batch>>(make_batch_for_step, start_step, tc.steps);

  // A checkpoint taken where a validation was due but cut short by a stop:
  // the resumed run validates first, so its record equals the uninterrupted one's.
  if (start_step > 0 && eval_due(start_step) && (rec_.eval_step.empty() || rec_.eval_step.back() != start_step) &&
      !validate(start_step))
    return interrupted("during the validation at step " + std::to_string(start_step));
  if (training()) slots_[step_ % 2] = prefetcher_->next();
  steps_t0_ = last_progress_ = clock::now();
  first_step_ = step_;
  return std::nullopt;
}

const Batch& RunSession::begin_step() {
  step_t0_ = clock::now();
  next_ = nullptr;
  // The step's batch and the next one, which a GPU uploads during the step.
  if (step_ + 1 < tc().steps) {
    slots_[(step_ + 1) % 2] = prefetcher_->next();
    next_ = &slots_[(step_ + 1) % 2];
  }
  return slots_[step_ % 2];
}

StepSettings RunSession::settings(std::optional<bool> stop_sample) {
  StepSettings s;
  s.lr = schedule_.lr_at(step_);
  s.clip_norm = tc().clip_norm;
  stop_sample_ = stop_sample;
  s.want_stop = [this] {
    if (stop_sample_) return *stop_sample_ || step_ == options_.stop_at_step;
    test_hold("step", step_ + 1);
    return StopRequest::pending() != 0 || step_ == options_.stop_at_step;
  };
  return s;
}

void RunSession::save_state(int64_t steps_done) {
  rec_.wall_seconds = wall_before_ + std::chrono::duration<double>(clock::now() - t_start_).count();
  rec_.steps_completed = steps_done;
  backend_->get_params(model_.params);
  backend_->get_optimizer_state(*opt_);
  if (writer_) save_checkpoint(run_dir_, capture_train_state(steps_done, identity_, model_.params, *opt_, rec_));
  comm_.barrier();  // nobody leaves before the checkpoint is complete
  checkpointed_step_ = steps_done;
  heartbeat_->set_checkpoint(steps_done);
}

// The run's result; the record is moved out, as the run ends with it.
RunResult RunSession::result(RunOutcome outcome, std::string reason) {
  ended_ = true;
  return RunResult{outcome, std::move(reason), std::move(rec_)};
}

RunResult RunSession::fail_run(const std::string& reason) {
  if (writer_) write_text_atomic(run_dir_ + "/FAILED", reason + "\n");
  heartbeat_->finish("failed", reason);
  log_ << "run failed: " << reason << "\n" << std::flush;
  comm_.barrier();
  return result(RunOutcome::diverged, reason);
}

// A stop: every finished step is in the checkpoint at `checkpointed_step_`.
RunResult RunSession::interrupted(const std::string& where) {
  const int sig = StopRequest::pending();
  const std::string what = "signal " + std::to_string(sig) + " " + where;
  heartbeat_->finish("interrupted", what);
  log_ << "stop requested (signal " << sig << ") " << where << ": checkpoint at step " << checkpointed_step_
       << " in " << run_dir_ << "/checkpoints; run again to resume\n"
       << std::flush;
  return result(RunOutcome::interrupted, "stopped at step " + std::to_string(checkpointed_step_));
}

RunResult RunSession::stop_with_pack(const std::string& why) {
  if (checkpointed_step_ != step_) save_state(step_);
  return interrupted(why + " at step " + std::to_string(step_));
}

bool RunSession::eval_due(int64_t steps_done) const {
  return steps_done > 0 && (steps_done % tc().eval_every == 0 || steps_done == tc().steps);
}

// The validation after `steps_done` steps; false when a stop cut it short.
bool RunSession::validate(int64_t steps_done) {
  test_hold("eval", steps_done);
  const EvalStopCheck want_stop = [] { return StopRequest::pending() != 0; };
  const auto v = evaluate_task_until_stop(*backend_, *task_, Split::Valid, tc().batch_size / W_,
                                          tc().eval_simulations, comm_, tc().valid_samples, want_stop);
  if (!v) return false;
  rec_.eval_step.push_back(steps_done);
  rec_.eval_metrics.push_back(*v);
  log_ << "eval  step " << steps_done << "  valid " << metrics_text(*v) << "\n" << std::flush;
  return true;
}

std::optional<RunResult> RunSession::after_step(const StepResult& r) {
  if (options_.each_step) options_.each_step();
  const TrainConfig& tc = this->tc();
  const int64_t step = step_;
  const int T = slots_[step % 2].x.steps;
  const double lr = schedule_.lr_at(step);
  const double loss = r.loss, norm = r.grad_norm;
  if (!std::isfinite(loss)) return fail_run("loss is " + std::to_string(loss) + " at step " + std::to_string(step + 1));
  if (!std::isfinite(norm))
    return fail_run("gradient norm is " + std::to_string(norm) + " at step " + std::to_string(step + 1));
  const double dt = std::chrono::duration<double>(clock::now() - step_t0_).count();
  rec_.step_loss.push_back(loss);
  rec_.step_lr.push_back(lr);
  rec_.step_grad_norm.push_back(norm);
  rec_.step_sample_steps_per_s.push_back(double(tc.batch_size) * T / dt);
  step_ = step + 1;
  heartbeat_->set_step(step_);
  window_loss_ += loss;
  window_time_ += dt;
  ++window_steps_;
  const bool last = step_ == tc.steps;
  if (step_ % tc.checksum_every == 0 || last || r.stop) {
    backend_->get_params(model_.params);
    check_ranks_agree(comm_, model_.params, step_);
  }
  const auto now = clock::now();
  // Elapsed over every attempt; the estimate from this attempt's steps.
  const double elapsed = wall_before_ + std::chrono::duration<double>(now - t_start_).count();
  const double eta = eta_seconds(std::chrono::duration<double>(now - steps_t0_).count(), double(step_ - first_step_),
                                 double(tc.steps - first_step_));
  if (step_ % tc.log_every == 0 || last) {
    char step[64];
    std::snprintf(step, sizeof step, "step %6lld/%lld", (long long)step_, (long long)tc.steps);
    log_ << step << "  loss " << measured_text(window_loss_ / window_steps_) << " (mean of " << window_steps_
         << ")  lr " << measured_text(lr) << "  grad_norm " << measured_text(norm) << "  "
         << measured_text(double(tc.batch_size) * T * window_steps_ / window_time_) << " sample-steps/s  elapsed "
         << duration_text(elapsed) << "  ETA " << duration_text(eta) << "\n"
         << std::flush;
    window_loss_ = window_time_ = 0;
    window_steps_ = 0;
  }
  if (writer_ && options_.progress &&
      (std::chrono::duration<double>(now - last_progress_).count() >= options_.progress_seconds || last)) {
    last_progress_ = now;
    *options_.progress << options_.progress_label << ": step " << step_ << "/" << tc.steps << " ("
                       << 100 * step_ / tc.steps << "%), elapsed " << duration_text(elapsed) << ", ETA "
                       << duration_text(eta) << "\n"
                       << std::flush;
  }
  // A stop is honoured before the step's validation: the checkpoint holds
  // every finished step, and the resumed run validates first.
  if (r.stop) {
    save_state(step_);
    return interrupted("at step " + std::to_string(step_));
  }
  if (eval_due(step_) && !validate(step_)) {
    save_state(step_);
    return interrupted("during the validation at step " + std::to_string(step_));
  }
  if (tc.checkpoint_every > 0 && step_ % tc.checkpoint_every == 0 && !last) save_state(step_);
  return std::nullopt;
}

RunResult RunSession::finish() {
  const TrainConfig& tc = this->tc();
  // The trained model is kept before the final evaluation and the result
  // files, so a stop, a corrupt test split or a full disk there costs only
  // the evaluation.
  if (checkpointed_step_ != tc.steps) save_state(tc.steps);
  test_hold("test_eval", tc.steps);
  const EvalStopCheck want_stop = [] { return StopRequest::pending() != 0; };
  const auto test = evaluate_task_until_stop(*backend_, *task_, Split::Test, tc.batch_size / W_, -1, comm_,
                                             tc.test_samples, want_stop);
  if (!test) return interrupted("during the test evaluation");
  rec_.test = *test;
  rec_.steps_completed = tc.steps;
  rec_.wall_seconds = wall_before_ + std::chrono::duration<double>(clock::now() - t_start_).count();
  log_ << "test  " << metrics_text(rec_.test) << ", wall time " << measured_text(rec_.wall_seconds) << " s\n";
  // From here on a signal waits: the run ends DONE within a few file writes.
  backend_->get_params(model_.params);
  if (writer_) {
    write_checkpoint(model_, run_dir_ + "/checkpoint.h5");
    test_hold("results", tc.steps);
    write_run_results(rec_, run_dir_ + "/results.h5");
    test_hold("done_marker", tc.steps);
    write_text_atomic(run_dir_ + "/DONE",
                      "steps " + std::to_string(tc.steps) + ", test " + metrics_text(rec_.test) + "\n");
    heartbeat_->finish("done");
    test_hold("after_done", tc.steps);
    remove_checkpoints(run_dir_);
    log_ << "wrote " << run_dir_ << "/results.h5 and " << run_dir_ << "/checkpoint.h5\n";
  }
  comm_.barrier();
  return result(RunOutcome::completed, "");
}

}  // namespace elm
