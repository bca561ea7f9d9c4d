// The timed GPU training step of `elmrun bench --backend cuda`: forward, loss,
// BPTT and Adam, all on the device; only the step count crosses to the host.
#include <chrono>
#include <cmath>
#include <vector>

#include "backend/cuda/cuda_check.cuh"
#include "bench/bench_clock.hpp"
#include "backend/cuda/elm_cuda.hpp"
#include "bench/cuda_bench.hpp"
#include "core/rng.hpp"
#include "model/elm_model.hpp"

namespace elm {

namespace {

__global__ void last_step_ce_kernel(const float* y, int B, int T, int C, const int32_t* labels, float* dy) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  const float* lg = y + (size_t(b) * T + T - 1) * C;
  float* g = dy + (size_t(b) * T + T - 1) * C;
  float mx = lg[0];
  for (int c = 1; c < C; ++c) mx = fmaxf(mx, lg[c]);
  float sum = 0.0f;
  for (int c = 0; c < C; ++c) sum += expf(lg[c] - mx);
  const float log_z = mx + logf(sum);
  for (int c = 0; c < C; ++c) g[c] = (expf(lg[c] - log_z) - (c == labels[b] ? 1.0f : 0.0f)) / float(B);
}

__global__ void neuronio_loss_kernel(const float* y, int64_t n, int d_o, const float* spike, const float* soma,
                                     float* dy) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= n) return;
  const float x = y[r * d_o];
  const float sig = 1.0f / (1.0f + expf(-x));
  dy[r * d_o] = 0.5f * (sig - spike[r]) / float(n);
  dy[r * d_o + 1] = (y[r * d_o + 1] - soma[r]) / float(n);
}

__global__ void adam_kernel(float* p, const float* g, float* m, float* v, int64_t n, float lr, float c1, float c2) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float gi = g[i];
  const float mi = 0.9f * m[i] + 0.1f * gi, vi = 0.999f * v[i] + 0.001f * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] -= lr * (mi / c1) / (sqrtf(vi / c2) + 1e-8f);
}


}  // namespace

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
  DeviceFloats params(np), grad(nt), adam_m(nt), adam_v(nt), y(size_t(B) * T * d_o), dy(y.size());
  DeviceFloats d_spike(spike.size()), d_soma(soma.size()), d_labels(B);
  params.upload(model.params.data(), np);
  adam_m.zero();
  adam_v.zero();
  dy.zero();
  d_spike.upload(spike.data(), spike.size());
  d_soma.upload(soma.data(), soma.size());
  d_labels.upload(reinterpret_cast<const float*>(labels.data()), labels.size());  // int32 bits
  elm.upload_input(x);
  const float lr = 1e-4f;
  int adam_t = 0;
  auto one_step = [&] {
    elm.forward(params.data(), y.data());
    if (w.loss == TaskLoss::Neuronio) {
      const int64_t n = int64_t(B) * T;
      neuronio_loss_kernel<<<unsigned((n + 255) / 256), 256>>>(y.data(), n, d_o, d_spike.data(), d_soma.data(),
                                                               dy.data());
    } else {
      last_step_ce_kernel<<<(B + 127) / 128, 128>>>(y.data(), B, T, d_o,
                                                    reinterpret_cast<const int32_t*>(d_labels.data()), dy.data());
    }
    CUDA_CHECK_LAUNCH();
    elm.backward(dy.data(), grad.data());
    ++adam_t;
    const float c1 = 1.0f - std::pow(0.9f, float(adam_t)), c2 = 1.0f - std::pow(0.999f, float(adam_t));
    adam_kernel<<<unsigned((nt + 255) / 256), 256>>>(params.data(), grad.data(), adam_m.data(), adam_v.data(), nt, lr,
                                                     c1, c2);
    CUDA_CHECK_LAUNCH();
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
