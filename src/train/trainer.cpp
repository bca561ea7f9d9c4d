#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <numeric>
#include <ostream>

#include "build_config.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/neuronio_eval.hpp"
#include "data/neuronio_task.hpp"
#include "data/store/batch_prefetcher.hpp"
#include "data/store/dataset_store.hpp"
#include "data/store/sharded_sampler.hpp"
#include "data/store_tasks.hpp"
#include "io/hdf5_io.hpp"
#include "model/elm_model.hpp"
#include "train/classification_metrics.hpp"
#include "train/grad_clip.hpp"
#include "train/loss.hpp"
#include "train/two_tower.hpp"

namespace elm {

EvalResult evaluate_classification(CpuElm<float>& elm, const std::vector<float>& params, const Task& task,
                                   Split split, int batch_size) {
  EvalResult r;
  const int64_t n = task.num_samples(split);
  double loss_sum = 0, correct = 0;
  std::vector<int64_t> idx;
  std::vector<float> y, dy, last;
  // Pairs (retrieval): the two-tower model's cross-entropy and accuracy.
  const auto* paired = dynamic_cast<const PairedTask*>(&task);
  std::unique_ptr<TwoTowerElm<float>> two_tower;
  if (paired) two_tower = std::make_unique<TwoTowerElm<float>>(elm);
  for (int64_t b0 = 0; b0 < n; b0 += batch_size) {
    idx.resize(std::min<int64_t>(batch_size, n - b0));
    std::iota(idx.begin(), idx.end(), b0);
    const Batch batch = task.make_batch(split, idx);
    if (two_tower) {
      const int pairs = int(batch.labels.size());
      loss_sum += double(two_tower->forward(params.data(), batch.x, batch.labels)) * pairs;
      correct += accuracy_from_logits(two_tower->logits(), batch.labels, size_t(paired->num_classes())) * pairs;
      continue;
    }
    const int B = batch.x.batch, T = batch.x.steps, C = task.num_output();
    y.resize(size_t(B) * T * C);
    dy.resize(y.size());
    elm.forward(params.data(), batch.x, y.data());
    loss_sum += double(last_step_cross_entropy(y.data(), B, T, C, batch.labels.data(), dy.data())) * B;
    last.resize(size_t(B) * C);
    for (int b = 0; b < B; ++b)
      std::copy_n(y.data() + (size_t(b) * T + T - 1) * C, C, last.data() + size_t(b) * C);
    correct += accuracy_from_logits(last, batch.labels, C) * B;
  }
  r.samples = n;
  r.loss = loss_sum / n;
  r.accuracy = correct / n;
  return r;
}

Metrics evaluate_task(CpuElm<float>& elm, const std::vector<float>& params, const Task& task, Split split,
                      int batch_size, int64_t max_simulations) {
  if (auto* nio = dynamic_cast<const NeuronioTask*>(&task)) {
    const StoreReader store(nio->store_path(split));
    NeuronioEvalOptions opts;
    opts.max_simulations = max_simulations;
    const NeuronioEvalResult r = evaluate_neuronio_file(elm, params.data(), store, opts);
    Metrics m = r.metrics.named_values();
    m.emplace_back("simulations_kept", double(r.kept));
    return m;
  }
  const EvalResult r = evaluate_classification(elm, params, task, split, batch_size);
  return {{"loss", r.loss}, {"accuracy", r.accuracy}, {"samples", double(r.samples)}};
}

static std::string metrics_text(const Metrics& m) {
  std::string s;
  char buf[96];
  for (const auto& [name, value] : m) {
    std::snprintf(buf, sizeof buf, "%s%s %.4g", s.empty() ? "" : ", ", name.c_str(), value);
    s += buf;
  }
  return s;
}

RunRecord train_run(const RunConfig& rc, const std::string& out_dir, std::ostream& log) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const TrainConfig& tc = rc.train;
  auto task = make_task(rc.task, rc.model);
  const auto* neuronio = dynamic_cast<const NeuronioTask*>(task.get());
  ELM_CHECK((tc.loss == "neuronio") == (neuronio != nullptr), "config key 'train.loss' is '", tc.loss, "' but task ",
            task->name(), " needs ", neuronio ? "neuronio" : "last_step_ce");
  ElmModel model = ElmModel::initialized(rc.model, tc.seed);
  CpuElm<float> elm(model.config, model.routing, tc.threads);
  // Retrieval: one tower on both documents of each pair, the classifier head on top.
  std::unique_ptr<TwoTowerElm<float>> two_tower;
  if (dynamic_cast<const PairedTask*>(task.get())) two_tower = std::make_unique<TwoTowerElm<float>>(elm);
  auto opt = make_optimizer(rc.optim);
  LrSchedule schedule(rc.schedule);
  const int64_t n_train = task->num_samples(Split::Train);
  ELM_CHECK(n_train >= tc.batch_size, "train.batch_size (", tc.batch_size, ") exceeds the ", n_train,
            " training samples");

  RunRecord rec;
  rec.config = rc.resolved;
  rec.parameter_count = model.layout.num_trainable();
  log << "run: task " << task->name() << ", " << to_string(rc.model.variant) << " d_m=" << rc.model.num_memory
      << ", " << rec.parameter_count << " trainable parameters, " << tc.steps << " steps of batch " << tc.batch_size
      << ", " << tc.threads << " thread(s)\n";

  // DistributedSampler order (one rank for now): a permutation per epoch seeded
  // by (seed, epoch); batches are assembled ahead on a prefetch thread.
  TrainBatches sampler(n_train, tc.batch_size, 1, 0, tc.seed);
  const int64_t steps_per_epoch = sampler.steps_per_epoch();
  // The sampler moves into the producer: only the prefetch thread touches it.
  auto make_batch_for_step = [&, order = std::move(sampler)](int64_t step) mutable {
    const int64_t epoch = step / steps_per_epoch;
    if (order.epoch() != epoch) order.set_epoch(epoch);
    std::vector<int64_t> idx = order.batch(step % steps_per_epoch);
    // NeuronIO draws fresh windows every epoch, as the reference's loader does.
    if (neuronio)
      for (auto& i : idx) i = neuronio->train_window_key(epoch, i);
    // Step-dependent for tasks with training-only randomness (SHD input dropout, SHD-Adding pairs).
    return make_train_batch(*task, idx, step);
  };
  BatchPrefetcher<Batch> prefetcher(make_batch_for_step, 0, tc.steps);

  const std::span<float> trainable(model.params.data(), model.layout.num_trainable());
  std::vector<float> y, dy, grad(model.layout.num_trainable());
  double window_loss = 0, window_time = 0;
  int64_t window_steps = 0;
  for (int64_t step = 0; step < tc.steps; ++step) {
    const auto t0 = clock::now();
    const Batch batch = prefetcher.next();
    const int B = batch.x.batch, T = batch.x.steps, C = task->num_output();
    double loss = 0;
    if (two_tower) {
      loss = two_tower->forward(model.params.data(), batch.x, batch.labels);
    } else {
      y.resize(size_t(B) * T * C);
      dy.resize(y.size());
      elm.forward(model.params.data(), batch.x, y.data());
      loss = neuronio
                 ? neuronio_loss(y.data(), B, T, C, batch.target_spike.data(), batch.target_soma.data(), dy.data())
                 : last_step_cross_entropy(y.data(), B, T, C, batch.labels.data(), dy.data());
    }
    ELM_CHECK(std::isfinite(loss), "training diverged at step ", step, ": loss is ", loss);
    if (two_tower) two_tower->backward(grad.data());
    else elm.backward(dy.data(), grad.data());
    const double norm = tc.clip_norm > 0 ? clip_grad_norm(grad, tc.clip_norm) : grad_norm(grad);
    ELM_CHECK(std::isfinite(norm), "training diverged at step ", step, ": gradient norm is ", norm);
    const double lr = schedule.lr_at(step);
    opt->step(trainable, grad, lr);
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    rec.step_loss.push_back(loss);
    rec.step_lr.push_back(lr);
    rec.step_grad_norm.push_back(norm);
    rec.step_sample_steps_per_s.push_back(double(B) * T / dt);
    window_loss += loss;
    window_time += dt;
    ++window_steps;
    const bool last = step + 1 == tc.steps;
    if ((step + 1) % tc.log_every == 0 || last) {
      char line[256];
      std::snprintf(line, sizeof line, "step %6lld/%lld  loss %.4f  lr %.2e  grad_norm %.3g  %.3g sample-steps/s\n",
                    (long long)(step + 1), (long long)tc.steps, window_loss / window_steps, lr, norm,
                    double(B) * T * window_steps / window_time);
      log << line << std::flush;
      window_loss = window_time = 0;
      window_steps = 0;
    }
    if ((step + 1) % tc.eval_every == 0 || last) {
      const Metrics v = evaluate_task(elm, model.params, *task, Split::Valid, tc.batch_size, tc.eval_simulations);
      rec.eval_step.push_back(step + 1);
      rec.eval_metrics.push_back(v);
      log << "eval  step " << (step + 1) << "  valid " << metrics_text(v) << "\n" << std::flush;
    }
  }
  rec.test = evaluate_task(elm, model.params, *task, Split::Test, tc.batch_size, -1);
  rec.wall_seconds = std::chrono::duration<double>(clock::now() - t_start).count();
  char wall[64];
  std::snprintf(wall, sizeof wall, "%.1f", rec.wall_seconds);
  log << "test  " << metrics_text(rec.test) << ", wall time " << wall << " s\n";

  std::filesystem::create_directories(out_dir);
  write_checkpoint(model, out_dir + "/checkpoint.h5");
  write_run_results(rec, out_dir + "/results.h5");
  log << "wrote " << out_dir << "/results.h5 and " << out_dir << "/checkpoint.h5\n";
  return rec;
}

void write_run_results(const RunRecord& r, const std::string& path) {
  H5AtomicWriter w(path);
  w.write_attr("format", "elmrun-results-1");
  w.write_attr("git_revision", kGitRevision);
  w.write_attr("elmrun_version", kVersion);
  w.write_attr("config_json", to_flat_json(r.config));
  w.write_attr("world_size", double(r.world_size));
  w.write_attr("parameter_count", double(r.parameter_count));
  w.write_attr("wall_seconds", r.wall_seconds);
  auto series = [&](const std::string& name, const std::vector<double>& v) {
    w.write_double(name, v.data(), {int64_t(v.size())});
  };
  series("train/loss", r.step_loss);
  series("train/lr", r.step_lr);
  series("train/grad_norm", r.step_grad_norm);
  series("train/sample_steps_per_s", r.step_sample_steps_per_s);
  w.write_int64("valid/step", r.eval_step.data(), {int64_t(r.eval_step.size())});
  if (!r.eval_metrics.empty())
    for (size_t k = 0; k < r.eval_metrics[0].size(); ++k) {
      std::vector<double> v;
      for (const auto& m : r.eval_metrics) v.push_back(m[k].second);
      series("valid/" + r.eval_metrics[0][k].first, v);
    }
  for (const auto& [name, value] : r.test) w.write_double("test/" + name, &value, {});
  w.commit();
}

}  // namespace elm
