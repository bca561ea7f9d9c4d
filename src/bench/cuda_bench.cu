// The timed GPU training step of `elmrun bench --backend cuda`: forward, loss,
// BPTT and Adam, all on the device (the training kernels of
// backend/cuda/train_kernels.cuh, held to the CPU versions by the GPU tests);
// only the step count crosses to the host.
#include <vector>

#include "backend/cuda/cuda_check.cuh"
#include "bench/bench_clock.hpp"
#include "backend/cuda/elm_cuda.hpp"
#include "backend/cuda/train_kernels.cuh"
#include "bench/cuda_bench.hpp"
#include "core/rng.hpp"
#include "model/elm_model.hpp"
#include "train/cuda_optimizer_step.cuh"
#include "train/optimizer.hpp"

namespace elm {

CudaBenchResult time_cuda_training_step(const BenchWorkload& w, double min_seconds, int min_steps) {
  ElmModel model = ElmModel::initialized(w.model, 1);
  const InputBatch x = make_bench_input(w, 2);
  const int B = w.batch, T = w.steps, d_o = w.model.num_output;
  std::vector<int32_t> labels(B);
  std::vector<float> spike(size_t(B) * T), soma(spike.size());
  RngStream rng(3, 7);
  for (auto& l : labels) l = static_cast<int32_t>(rng.below(d_o));
  for (size_t i = 0; i < spike.size(); ++i) {
    spike[i] = rng.uniform() < 0.01 ? 1.0f : 0.0f;
    soma[i] = static_cast<float>(rng.normal());
  }
  CudaElm elm(w.model, model.routing);
  const int64_t np = model.layout.num_params(), nt = model.layout.num_trainable();
  DeviceFloats params(np), grad(nt), exp_avg(nt), exp_avg_sq(nt), y(size_t(B) * T * d_o), dy(y.size());
  DeviceFloats d_spike(spike.size()), d_soma(soma.size()), d_labels(B), loss(1);
  params.upload(model.params.data(), np);
  exp_avg.zero();
  exp_avg_sq.zero();
  dy.zero();  // the losses write only the entries they look at
  d_spike.upload(spike.data(), spike.size());
  d_soma.upload(soma.data(), soma.size());
  d_labels.upload(reinterpret_cast<const float*>(labels.data()), labels.size());  // int32 bits
  elm.upload_input(x);
  OptimizerConfig adam;  // adam, default betas and eps
  adam.lr = 1e-4;
  int64_t adam_step = 0;
  // The legacy default stream orders these launches after CudaElm's (blocking) stream.
  const cudaStream_t stream = nullptr;
  auto one_step = [&] {
    elm.forward(params.data(), y.data());
    if (w.loss == TaskLoss::Neuronio) {
      cuda::launch_neuronio_loss(y.data(), B, T, d_o, d_spike.data(), d_soma.data(), dy.data(), loss.data(), stream);
    } else {
      cuda::launch_last_step_ce(y.data(), B, T, d_o, reinterpret_cast<const int32_t*>(d_labels.data()), dy.data(),
                                loss.data(), stream);
    }
    elm.backward(dy.data(), grad.data());
    cuda::launch_optimizer_step(adam, adam.lr, ++adam_step, params.data(), grad.data(), exp_avg.data(),
                                exp_avg_sq.data(), nt, stream);
  };
  one_step();  // warm-up: allocations, first launches
  CUDA_CHECK(cudaDeviceSynchronize());
  const TimedLoop timed = time_until(min_steps, min_seconds, [&](int64_t) {
    one_step();
    CUDA_CHECK(cudaDeviceSynchronize());
  });
  CudaBenchResult r;
  r.device = cuda_device_description(0);
  r.launch = cuda::describe(elm.launch_shape());
  r.segments = cuda::describe(elm.segment_plan());
  r.timed_steps = static_cast<int>(timed.steps);
  r.ms_per_step = 1e3 * timed.seconds / static_cast<double>(timed.steps);
  r.flop_per_step = step_flops(w, x, model);
  return r;
}

}  // namespace elm
