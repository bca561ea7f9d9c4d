#include "train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <sstream>

#include "core/error.hpp"
#include "core/test_hold.hpp"
#include "io/output_dir.hpp"
#include "data/store/batch_prefetcher.hpp"
#include "data/store/sharded_sampler.hpp"
#include "model/elm_model.hpp"
#include "train/run_heartbeat.hpp"
#include "core/stop_request.hpp"
#include "train/train_state.hpp"
#include "train/train_step.hpp"

namespace fs = std::filesystem;

namespace elm {

bool run_is_done(const std::string& run_dir) { return fs::exists(fs::path(run_dir) / "DONE"); }

std::string run_failure(const std::string& run_dir) {
  std::ifstream f(fs::path(run_dir) / "FAILED");
  if (!f) return "";
  std::string line;
  std::getline(f, line);
  return line.empty() ? "failed" : line;
}

namespace {

// Null stream for ranks that do not log.
struct NullBuffer : std::streambuf {
  int overflow(int c) override { return c; }
};

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

namespace {

// The body of train_run. `heartbeat_slot` receives rank 0's status file once
// the run's inputs are known good, so bad input leaves the directory as it was.
RunResult train_run_steps(const RunConfig& rc, const std::string& run_dir, const RunOptions& options, Comm& comm,
                          std::unique_ptr<RunHeartbeat>& heartbeat_slot) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const int W = comm.size();
  const bool writer = comm.rank() == 0;
  NullBuffer null_buffer;
  std::ostream null_log(&null_buffer);
  std::ostream& log = (writer && options.log) ? *options.log : null_log;

  const TrainConfig& tc = rc.train;
  // Opens every split the run will read (store tasks check each header), so a
  // missing or foreign store fails the run before the first step.
  auto task = make_task(rc.task, rc.model);
  const bool neuronio = task->loss() == TaskLoss::Neuronio;
  ELM_CHECK(tc.loss.empty() || (tc.loss == "neuronio") == neuronio, "config key 'train.loss' is '", tc.loss,
            "' but task ", task->name(), " trains with ", to_string(task->loss()),
            " (the task decides the loss: remove the key)");
  ElmModel model = ElmModel::initialized(rc.model, tc.seed);
  // Where the steps run; a GPU that cannot take the run fails here, before
  // anything is written.
  StepBackendOptions where;
  where.kind = parse_backend_kind(tc.backend);
  where.threads = tc.threads;
  where.device = options.device;
  where.device_comm = options.device_comm;
  const std::unique_ptr<StepBackend> backend =
      make_step_backend(model.config, model.routing, task->loss(), rc.optim, where);
  if (backend->kind() != BackendKind::Cpu) {
    // This rank's batches are B/W samples of the task's length: refuse a GPU
    // that cannot hold one step, before the run directory is touched.
    std::vector<int64_t> first(size_t(std::max(1, tc.batch_size / W)));
    for (size_t i = 0; i < first.size(); ++i) first[i] = int64_t(i) % std::max<int64_t>(1, task->num_samples(Split::Train));
    backend->require_fits(task->make_batch(Split::Train, first));
  }
  // The host's copy of the optimizer state, for checkpoints.
  auto opt = make_optimizer(rc.optim);
  LrSchedule schedule(rc.schedule);
  int64_t n_train = task->num_samples(Split::Train);
  if (tc.train_samples > 0) n_train = std::min(n_train, tc.train_samples);
  ELM_CHECK(n_train >= tc.batch_size, "train.batch_size (", tc.batch_size, ") exceeds the ", n_train,
            " training samples");
  ELM_CHECK(tc.batch_size % W == 0, "train.batch_size (", tc.batch_size, ") must be a multiple of the ", W,
            " ranks that train this run");

  const std::string identity = run_identity_json(rc);
  RunRecord rec;
  int64_t start_step = 0;
  if (writer) {
    make_output_dir(run_dir, "run directory");
    remove_leftover_temporaries(run_dir);  // of writers killed mid-file; this run is ours now
    fs::remove(fs::path(run_dir) / "FAILED");  // a new attempt
  }
  heartbeat_slot = std::make_unique<RunHeartbeat>(run_dir, writer, tc.steps, 0,
                                                  writer ? latest_checkpoint_step(run_dir) : 0);
  RunHeartbeat& heartbeat = *heartbeat_slot;
  // The same state on every rank: rank 0's initial parameters, or the checkpoint.
  if (!options.resume && writer) remove_checkpoints(run_dir);
  comm.barrier();
  if (auto ckpt = options.resume ? latest_checkpoint(run_dir) : std::nullopt) {
    TrainState st = read_train_state(*ckpt);
    ELM_CHECK(st.identity == identity, *ckpt, ": checkpoint of a different configuration; remove ", run_dir,
              "/checkpoints or choose another run directory");
    ELM_CHECK(st.params.size() == model.params.size(), *ckpt, ": parameter count differs from the model's");
    model.params = st.params;
    restore_optimizer(st, *opt);
    rec = std::move(st.record);
    start_step = st.step;
    log << "resuming " << run_dir << " from step " << start_step << " (written by " << rec.world_size
        << " rank(s), now " << W << ")\n";
  }
  broadcast_values(comm, std::span<float>(model.params), 0);
  backend->set_params(model.params);
  backend->set_optimizer_state(*opt);
  heartbeat.set_step(start_step);
  rec.config = rc.resolved;
  rec.parameter_count = model.layout.num_trainable();
  rec.world_size = W;
  const double wall_before = rec.wall_seconds;
  log << "run: task " << task->name() << ", " << to_string(rc.model.variant) << " d_m=" << rc.model.num_memory
      << ", " << rec.parameter_count << " trainable parameters, " << tc.steps << " steps of batch " << tc.batch_size
      << " on " << W << " rank(s), " << backend->description() << "\n";

  // DistributedSampler order: a permutation per epoch seeded by (seed, epoch),
  // this rank's B/W samples of each global batch, assembled ahead on a
  // prefetch thread. A batch depends only on (seed, step), so a resumed run
  // sees exactly the batches of the uninterrupted one.
  TrainBatches sampler(n_train, tc.batch_size, W, comm.rank(), tc.seed);
  const int64_t steps_per_epoch = sampler.steps_per_epoch();
  auto make_batch_for_step = [&, order = std::move(sampler)](int64_t step) mutable {
    const int64_t epoch = step / steps_per_epoch;
    if (order.epoch() != epoch) order.set_epoch(epoch);
    // Step- or epoch-dependent for tasks with training-only randomness (SHD
    // input dropout, SHD-Adding pairs, NeuronIO windows).
    return task->make_train_batch(order.batch(step % steps_per_epoch), step, epoch);
  };
  BatchPrefetcher<Batch> prefetcher(make_batch_for_step, start_step, tc.steps);

  int64_t checkpointed_step = start_step;  // newest complete checkpoint on disk
  auto save_state = [&](int64_t steps_done) {
    rec.wall_seconds = wall_before + std::chrono::duration<double>(clock::now() - t_start).count();
    rec.steps_completed = steps_done;
    backend->get_params(model.params);
    backend->get_optimizer_state(*opt);
    if (writer) save_checkpoint(run_dir, capture_train_state(steps_done, identity, model.params, *opt, rec));
    comm.barrier();  // nobody leaves before the checkpoint is complete
    checkpointed_step = steps_done;
    heartbeat.set_checkpoint(steps_done);
  };
  // The run's result; the record is moved out, as the run ends with it.
  auto result = [&](RunOutcome outcome, std::string reason) {
    return RunResult{outcome, std::move(reason), std::move(rec)};
  };
  auto fail_run = [&](const std::string& reason) {
    if (writer) write_text_atomic(run_dir + "/FAILED", reason + "\n");
    heartbeat.finish("failed", reason);
    log << "run failed: " << reason << "\n" << std::flush;
    comm.barrier();
    return result(RunOutcome::diverged, reason);
  };
  // A stop: every finished step is in the checkpoint at `checkpointed_step`.
  auto interrupted = [&](const std::string& where) {
    const int sig = StopRequest::pending();
    const std::string what = "signal " + std::to_string(sig) + " " + where;
    heartbeat.finish("interrupted", what);
    log << "stop requested (signal " << sig << ") " << where << ": checkpoint at step " << checkpointed_step << " in "
        << run_dir << "/checkpoints; run again to resume\n"
        << std::flush;
    return result(RunOutcome::interrupted, "stopped at step " + std::to_string(checkpointed_step));
  };
  const EvalStopCheck want_stop = [] { return StopRequest::pending() != 0; };
  auto eval_due = [&](int64_t steps_done) {
    return steps_done > 0 && (steps_done % tc.eval_every == 0 || steps_done == tc.steps);
  };
  // The validation after `steps_done` steps; false when a stop cut it short.
  auto validate = [&](int64_t steps_done) {
    test_hold("eval", steps_done);
    const auto v = evaluate_task_until_stop(*backend, *task, Split::Valid, tc.batch_size / W,
                                            tc.eval_simulations, comm, tc.valid_samples, want_stop);
    if (!v) return false;
    rec.eval_step.push_back(steps_done);
    rec.eval_metrics.push_back(*v);
    log << "eval  step " << steps_done << "  valid " << metrics_text(*v) << "\n" << std::flush;
    return true;
  };
  // A checkpoint taken where a validation was due but cut short by a stop:
  // the resumed run validates first, so its record equals the uninterrupted one's.
  if (start_step > 0 && eval_due(start_step) && (rec.eval_step.empty() || rec.eval_step.back() != start_step) &&
      !validate(start_step))
    return interrupted("during the validation at step " + std::to_string(start_step));

  StepSettings settings;
  settings.clip_norm = tc.clip_norm;
  int64_t step = start_step;
  settings.want_stop = [&] {
    test_hold("step", step + 1);
    return StopRequest::pending() != 0 || step == options.stop_at_step;
  };
  double window_loss = 0, window_time = 0;
  int64_t window_steps = 0;
  // The step's batch and the next one, which a GPU uploads during the step.
  Batch slots[2];
  if (step < tc.steps) slots[step % 2] = prefetcher.next();
  for (; step < tc.steps; ++step) {
    const auto t0 = clock::now();
    const Batch& batch = slots[step % 2];
    const Batch* next = nullptr;
    if (step + 1 < tc.steps) {
      slots[(step + 1) % 2] = prefetcher.next();
      next = &slots[(step + 1) % 2];
    }
    const int T = batch.x.steps;
    const double lr = schedule.lr_at(step);
    settings.lr = lr;
    const StepResult r = train_step(*backend, batch, comm, settings, next);
    const double loss = r.loss, norm = r.grad_norm;
    const bool stop = r.stop;
    if (!std::isfinite(loss)) return fail_run("loss is " + std::to_string(loss) + " at step " + std::to_string(step + 1));
    if (!std::isfinite(norm))
      return fail_run("gradient norm is " + std::to_string(norm) + " at step " + std::to_string(step + 1));
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    rec.step_loss.push_back(loss);
    rec.step_lr.push_back(lr);
    rec.step_grad_norm.push_back(norm);
    rec.step_sample_steps_per_s.push_back(double(tc.batch_size) * T / dt);
    heartbeat.set_step(step + 1);
    window_loss += loss;
    window_time += dt;
    ++window_steps;
    const bool last = step + 1 == tc.steps;
    if ((step + 1) % tc.checksum_every == 0 || last || stop) {
      backend->get_params(model.params);
      check_ranks_agree(comm, model.params, step + 1);
    }
    if ((step + 1) % tc.log_every == 0 || last) {
      char line[256];
      std::snprintf(line, sizeof line, "step %6lld/%lld  loss %.4f  lr %.2e  grad_norm %.3g  %.3g sample-steps/s\n",
                    (long long)(step + 1), (long long)tc.steps, window_loss / window_steps, lr, norm,
                    double(tc.batch_size) * T * window_steps / window_time);
      log << line << std::flush;
      window_loss = window_time = 0;
      window_steps = 0;
    }
    // A stop is honoured before the step's validation: the checkpoint holds
    // every finished step, and the resumed run validates first.
    if (stop) {
      save_state(step + 1);
      return interrupted("at step " + std::to_string(step + 1));
    }
    if (eval_due(step + 1) && !validate(step + 1)) {
      save_state(step + 1);
      return interrupted("during the validation at step " + std::to_string(step + 1));
    }
    if (tc.checkpoint_every > 0 && (step + 1) % tc.checkpoint_every == 0 && !last) save_state(step + 1);
  }
  // The trained model is kept before the final evaluation and the result
  // files, so a stop, a corrupt test split or a full disk there costs only
  // the evaluation.
  if (checkpointed_step != tc.steps) save_state(tc.steps);
  test_hold("test_eval", tc.steps);
  const auto test = evaluate_task_until_stop(*backend, *task, Split::Test, tc.batch_size / W, -1, comm,
                                             tc.test_samples, want_stop);
  if (!test) return interrupted("during the test evaluation");
  rec.test = *test;
  rec.steps_completed = tc.steps;
  rec.wall_seconds = wall_before + std::chrono::duration<double>(clock::now() - t_start).count();
  char wall[64];
  std::snprintf(wall, sizeof wall, "%.1f", rec.wall_seconds);
  log << "test  " << metrics_text(rec.test) << ", wall time " << wall << " s\n";
  // From here on a signal waits: the run ends DONE within a few file writes.
  backend->get_params(model.params);
  if (writer) {
    write_checkpoint(model, run_dir + "/checkpoint.h5");
    test_hold("results", tc.steps);
    write_run_results(rec, run_dir + "/results.h5");
    test_hold("done_marker", tc.steps);
    write_text_atomic(run_dir + "/DONE", "steps " + std::to_string(tc.steps) + ", test " + metrics_text(rec.test) + "\n");
    heartbeat.finish("done");
    remove_checkpoints(run_dir);
    log << "wrote " << run_dir << "/results.h5 and " << run_dir << "/checkpoint.h5\n";
  }
  comm.barrier();
  return result(RunOutcome::completed, "");
}

}  // namespace

RunResult train_run(const RunConfig& rc, const std::string& run_dir, const RunOptions& options) {
  SerialComm serial;
  Comm& comm = options.comm ? *options.comm : serial;
  std::unique_ptr<RunHeartbeat> heartbeat;
  try {
    return train_run_steps(rc, run_dir, options, comm, heartbeat);
  } catch (const std::exception& e) {
    if (heartbeat) heartbeat->finish("interrupted", std::string("ended by an error: ") + e.what());
    throw;
  }
}

}  // namespace elm
