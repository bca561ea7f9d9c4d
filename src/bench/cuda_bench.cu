// The timed GPU training step of `elmrun bench --backend cuda`: the trainer's
// own step, train_step on a CUDA StepBackend (forward, loss, BPTT, one
// all-reduce on one rank, norm, Adam), all on the device. Each step reads its
// loss and gradient norm back, as training does, so that synchronisation is
// part of the time. With --pack K, K models trained as a sweep's pack trains
// them (make_step_pack: their recurrences in one launch), or with --pack-mode
// streams each on its own stream (QueuedStepPack).
#include <vector>

#include "backend/cuda/elm_cuda.hpp"
#include "bench/bench_clock.hpp"
#include "bench/cuda_bench.hpp"
#include "core/rng.hpp"
#include "model/elm_model.hpp"
#include "train/step_backend.hpp"
#include "train/step_pack.hpp"
#include "train/train_step.hpp"

namespace elm {

namespace {

// The CPU bench's input, labels and targets (run_bench in workloads.cpp): the same draws in the same order.
Batch bench_batch(const BenchWorkload& w) {
  Batch batch;
  batch.x = make_bench_input(w, 2);
  const int B = w.batch, T = w.steps, d_o = w.model.num_output;
  batch.labels.resize(B);
  batch.target_spike.resize(size_t(B) * T);
  batch.target_soma.resize(batch.target_spike.size());
  RngStream rng(3, 7);
  for (auto& l : batch.labels) l = static_cast<int64_t>(rng.below(d_o));
  for (size_t i = 0; i < batch.target_spike.size(); ++i) {
    batch.target_spike[i] = rng.uniform() < 0.01 ? 1.0f : 0.0f;
    batch.target_soma[i] = static_cast<float>(rng.normal());
  }
  return batch;
}

OptimizerConfig bench_adam() {
  OptimizerConfig adam;  // adam, default betas and eps
  adam.lr = 1e-4;
  return adam;
}

StepBackendOptions on_gpu0() {
  StepBackendOptions options;
  options.kind = BackendKind::Cuda;
  options.device = 0;
  return options;
}

}  // namespace

CudaBenchResult time_cuda_training_step(const BenchWorkload& w, double min_seconds, int min_steps) {
  const ElmModel model = ElmModel::initialized(w.model, 1);
  const Batch batch = bench_batch(w);
  const OptimizerConfig adam = bench_adam();
  const std::unique_ptr<StepBackend> backend = make_step_backend(w.model, model.routing, w.loss, adam, on_gpu0());
  backend->set_params(model.params);
  SerialComm serial;
  StepSettings settings;
  settings.lr = adam.lr;
  auto one_step = [&] { train_step(*backend, batch, serial, settings); };
  one_step();  // warm-up: allocations, first launches
  const TimedLoop timed = time_until(min_steps, min_seconds, [&](int64_t) { one_step(); });
  CudaBenchResult r;
  r.device = cuda_device_description(0);
  r.plan = backend->plan_description();
  r.timed_steps = static_cast<int>(timed.steps);
  r.ms_per_step = 1e3 * timed.seconds / static_cast<double>(timed.steps);
  r.flop_per_step = step_flops(w, batch.x, model);
  return r;
}

double time_cuda_pack_step(const BenchWorkload& w, int models, CudaPackMode mode, double min_seconds, int min_steps,
                           int* timed_steps) {
  const Batch batch = bench_batch(w);
  const OptimizerConfig adam = bench_adam();
  const std::unique_ptr<StepPack> made = mode == CudaPackMode::Streams ? std::make_unique<QueuedStepPack>(on_gpu0())
                                                                       : make_step_pack(on_gpu0());
  StepPack& pack = *made;
  std::vector<int> everyone;
  for (int k = 0; k < models; ++k) {
    const ElmModel model = ElmModel::initialized(w.model, 1 + uint64_t(k));  // each run its own initialisation
    pack.add_member(w.model, model.routing, w.loss, adam).set_params(model.params);
    everyone.push_back(k);
  }
  SerialComm serial;
  StepSettings settings;
  settings.lr = adam.lr;
  // A step of the pack trainer (train/pack_trainer.cpp): stage, the pack's
  // forward and backward, then each run's all-reduce, clipping and Adam.
  auto one_step = [&] {
    for (int k : everyone) pack.member(k).stage(batch);
    pack.forward_backward(everyone);
    for (int k : everyone) reduce_and_update(pack.member(k), serial, settings);
  };
  one_step();  // warm-up: allocations, first launches
  const TimedLoop timed = time_until(min_steps, min_seconds, [&](int64_t) { one_step(); });
  if (timed_steps) *timed_steps = static_cast<int>(timed.steps);
  return 1e3 * timed.seconds / static_cast<double>(timed.steps);
}

}  // namespace elm
