#include "train/loss.hpp"

#include <algorithm>
#include <cmath>

#include "backend/step_math.hpp"
#include "core/error.hpp"

namespace elm {

template <class T>
T last_step_cross_entropy(const T* y, int batch, int steps, int classes, const int64_t* labels, T* dy) {
  std::fill(dy, dy + int64_t(batch) * steps * classes, T(0));
  double total = 0;
  for (int b = 0; b < batch; ++b) {
    ELM_CHECK(labels[b] >= 0 && labels[b] < classes, "label ", labels[b], " of sample ", b, " is outside [0, ",
              classes, ")");
    const T* logits = y + (int64_t(b) * steps + steps - 1) * classes;
    T* g = dy + (int64_t(b) * steps + steps - 1) * classes;
    const T log_z = step_math::log_sum_exp(logits, classes);
    total += double(log_z - logits[labels[b]]);
    for (int k = 0; k < classes; ++k) g[k] = std::exp(logits[k] - log_z) / T(batch);
    g[labels[b]] -= T(1) / T(batch);
  }
  return T(total / batch);
}

template <class T>
T neuronio_loss(const T* y, int batch, int steps, int outputs, const T* target_spike, const T* target_soma, T* dy) {
  ELM_CHECK(outputs >= 2, "the NeuronIO loss needs 2 outputs (spike, soma), the model has ", outputs);
  const int64_t n = int64_t(batch) * steps;
  std::fill(dy, dy + n * outputs, T(0));
  double bce = 0, mse = 0;
  for (int64_t r = 0; r < n; ++r) {
    const T x = y[r * outputs], s = target_spike[r];
    bce += double(step_math::bce_with_logits(x, s));
    const T sig = step_math::sigmoid(x);
    dy[r * outputs] = T(0.5) * (sig - s) / T(n);
    const T d = y[r * outputs + 1] - target_soma[r];
    mse += double(d) * double(d);
    dy[r * outputs + 1] = T(0.5) * T(2) * d / T(n);
  }
  return T(0.5 * bce / double(n) + 0.5 * mse / double(n));
}

template float last_step_cross_entropy<float>(const float*, int, int, int, const int64_t*, float*);
template double last_step_cross_entropy<double>(const double*, int, int, int, const int64_t*, double*);
template float neuronio_loss<float>(const float*, int, int, int, const float*, const float*, float*);
template double neuronio_loss<double>(const double*, int, int, int, const double*, const double*, double*);

}  // namespace elm
