#include "train/two_tower.hpp"

#include <algorithm>
#include <cmath>

#include "backend/step_math.hpp"
#include "core/error.hpp"

namespace elm {

template <class T>
T two_tower_head(const ParamLayout& layout, const T* params, const T* y, int pairs, int steps,
                 const int64_t* labels, T* logits, T* dy, T* grad) {
  ELM_CHECK(layout.has_head(), "two_tower_head: the model has no head (config key 'model.head_hidden' is 0)");
  ELM_CHECK((dy == nullptr && grad == nullptr) || labels != nullptr, "two_tower_head: gradients need labels");
  ELM_CHECK(pairs >= 1 && steps >= 1, "two_tower_head: ", pairs, " pairs of ", steps, " steps");
  const auto& h = layout.head();
  const int L = h.latent, F = 4 * L, H = h.hidden, C = h.classes;
  const T* W0 = params + h.w0;  // [H, 4L]
  const T* b0 = params + h.b0;
  const T* W2 = params + h.w2;  // [C, H]
  const T* b2 = params + h.b2;
  const bool backprop = dy != nullptr || grad != nullptr;
  std::vector<T> f(F), pre(H), hid(H), p(C), dhid(H), df(F);
  double loss = 0;
  for (int b = 0; b < pairs; ++b) {
    const T* u = y + (size_t(b) * steps + steps - 1) * L;
    const T* v = y + (size_t(pairs + b) * steps + steps - 1) * L;
    for (int i = 0; i < L; ++i) {
      f[i] = u[i];
      f[L + i] = v[i];
      f[2 * L + i] = u[i] * v[i];
      f[3 * L + i] = u[i] - v[i];
    }
    for (int j = 0; j < H; ++j) {
      T s = b0[j];
      const T* w = W0 + size_t(j) * F;
      for (int i = 0; i < F; ++i) s += w[i] * f[i];
      pre[j] = s;
      hid[j] = s > T(0) ? s : T(0);
    }
    T* z = logits + size_t(b) * C;
    for (int c = 0; c < C; ++c) {
      T s = b2[c];
      const T* w = W2 + size_t(c) * H;
      for (int j = 0; j < H; ++j) s += w[j] * hid[j];
      z[c] = s;
    }
    if (labels == nullptr) continue;
    const int64_t label = labels[b];
    ELM_CHECK(label >= 0 && label < C, "two_tower_head: label ", label, " outside 0..", C - 1);
    // Cross-entropy with a stable log-sum-exp.
    const T zmax = z[step_math::argmax_of(z, C)];
    const T sum = step_math::sum_exp_shifted(z, C, zmax);
    loss += double(zmax + std::log(sum) - z[label]);
    if (!backprop) continue;
    // dL/dz = (softmax - onehot) / B.
    for (int c = 0; c < C; ++c) p[c] = (std::exp(z[c] - zmax) / sum - (c == label ? T(1) : T(0))) / T(pairs);
    std::fill(dhid.begin(), dhid.end(), T(0));
    for (int c = 0; c < C; ++c) {
      const T* w = W2 + size_t(c) * H;
      for (int j = 0; j < H; ++j) dhid[j] += w[j] * p[c];
    }
    for (int j = 0; j < H; ++j) dhid[j] = pre[j] > T(0) ? dhid[j] : T(0);  // relu
    if (grad != nullptr) {
      for (int c = 0; c < C; ++c) {
        T* g = grad + h.w2 + size_t(c) * H;
        for (int j = 0; j < H; ++j) g[j] += p[c] * hid[j];
        grad[h.b2 + c] += p[c];
      }
      for (int j = 0; j < H; ++j) {
        if (dhid[j] == T(0)) continue;
        T* g = grad + h.w0 + size_t(j) * F;
        for (int i = 0; i < F; ++i) g[i] += dhid[j] * f[i];
        grad[h.b0 + j] += dhid[j];
      }
    }
    if (dy != nullptr) {
      std::fill(df.begin(), df.end(), T(0));
      for (int j = 0; j < H; ++j) {
        if (dhid[j] == T(0)) continue;
        const T* w = W0 + size_t(j) * F;
        for (int i = 0; i < F; ++i) df[i] += w[i] * dhid[j];
      }
      T* du = dy + (size_t(b) * steps + steps - 1) * L;
      T* dv = dy + (size_t(pairs + b) * steps + steps - 1) * L;
      for (int i = 0; i < L; ++i) {
        du[i] = df[i] + df[2 * L + i] * v[i] + df[3 * L + i];
        dv[i] = df[L + i] + df[2 * L + i] * u[i] - df[3 * L + i];
      }
    }
  }
  return labels != nullptr ? T(loss / pairs) : T(0);
}

template float two_tower_head<float>(const ParamLayout&, const float*, const float*, int, int, const int64_t*, float*,
                                     float*, float*);
template double two_tower_head<double>(const ParamLayout&, const double*, const double*, int, int, const int64_t*,
                                       double*, double*, double*);

template <class T>
TwoTowerElm<T>::TwoTowerElm(CpuElm<T>& tower) : tower_(tower) {
  ELM_CHECK(tower.layout().has_head(),
            "the two-tower model needs a classifier head: set config key 'model.head_hidden' > 0");
}

template <class T>
T TwoTowerElm<T>::forward(const T* params, const InputBatch& x, std::span<const int64_t> labels) {
  const int B = int(labels.size());
  ELM_CHECK(B >= 1 && x.batch == 2 * B, "two-tower batch: ", x.batch, " input rows for ", B,
            " labels (expected 2 rows per pair: the A documents, then the B documents)");
  const int L = tower_.config().num_output;
  const size_t ny = size_t(x.batch) * x.steps * L;
  y_.resize(ny);
  // dy is nonzero only at the last step, which every backward overwrites: it is
  // zeroed only when its shape changes.
  if (dy_.size() != ny || steps_ != x.steps) dy_.assign(ny, T(0));
  pairs_ = B;
  steps_ = x.steps;
  params_ = params;
  labels_.assign(labels.begin(), labels.end());
  logits_.resize(size_t(B) * classes());
  tower_.forward(params, x, y_.data());
  return two_tower_head<T>(tower_.layout(), params, y_.data(), B, steps_, labels_.data(), logits_.data(), nullptr,
                           nullptr);
}

template <class T>
void TwoTowerElm<T>::backward(T* grad) {
  ELM_CHECK(params_ != nullptr, "TwoTowerElm::backward() called before forward()");
  // dL/dy first, then the tower; CpuElm::backward zero-fills grad, so the
  // head's gradient is added after it (the head is recomputed: it is tiny).
  two_tower_head<T>(tower_.layout(), params_, y_.data(), pairs_, steps_, labels_.data(), logits_.data(), dy_.data(),
                    nullptr);
  tower_.backward(dy_.data(), grad);
  two_tower_head<T>(tower_.layout(), params_, y_.data(), pairs_, steps_, labels_.data(), logits_.data(), nullptr,
                    grad);
}

template class TwoTowerElm<float>;
template class TwoTowerElm<double>;

}  // namespace elm
