#pragma once
// Small dense products for the per-step MLP: a handful of batch rows times a
// weight matrix of a few hundred columns. Written so that the innermost loop
// runs over contiguous columns (vectorises without reassociating sums).
#include <cstdint>

namespace elm::cpu {

// y[b][o] = bias[o] + sum_i x[b][i] * wt[i][o];  wt is W transposed, [in][out].
template <class T>
inline void linear_rows(int rows, int in, int out, const T* x, int x_stride, const T* wt, const T* bias, T* y,
                        int y_stride) {
  for (int b = 0; b < rows; ++b) {
    T* __restrict yb = y + int64_t(b) * y_stride;
    const T* xb = x + int64_t(b) * x_stride;
    for (int o = 0; o < out; ++o) yb[o] = bias[o];
    for (int i = 0; i < in; ++i) {
      const T xi = xb[i];
      if (xi == T(0)) continue;  // ReLU outputs and spike traces are often exactly zero
      const T* __restrict w = wt + int64_t(i) * out;
      for (int o = 0; o < out; ++o) yb[o] += xi * w[o];
    }
  }
}

// dx[b][i] = sum_o dy[b][o] * w[o][i];  w is [out][in].
template <class T>
inline void linear_rows_backward_input(int rows, int in, int out, const T* dy, int dy_stride, const T* w, T* dx,
                                       int dx_stride) {
  for (int b = 0; b < rows; ++b) {
    T* __restrict dxb = dx + int64_t(b) * dx_stride;
    const T* dyb = dy + int64_t(b) * dy_stride;
    for (int i = 0; i < in; ++i) dxb[i] = T(0);
    for (int o = 0; o < out; ++o) {
      const T g = dyb[o];
      if (g == T(0)) continue;
      const T* __restrict wo = w + int64_t(o) * in;
      for (int i = 0; i < in; ++i) dxb[i] += g * wo[i];
    }
  }
}

// dw[o][i] += sum_b dy[b][o] * x[b][i];  db[o] += sum_b dy[b][o].
template <class T>
inline void linear_rows_backward_weight(int rows, int in, int out, const T* dy, int dy_stride, const T* x,
                                        int x_stride, T* dw, T* db) {
  for (int b = 0; b < rows; ++b) {
    const T* dyb = dy + int64_t(b) * dy_stride;
    const T* __restrict xb = x + int64_t(b) * x_stride;
    for (int o = 0; o < out; ++o) {
      const T g = dyb[o];
      if (g == T(0)) continue;
      db[o] += g;
      T* __restrict dwo = dw + int64_t(o) * in;
      for (int i = 0; i < in; ++i) dwo[i] += g * xb[i];
    }
  }
}

}  // namespace elm::cpu
