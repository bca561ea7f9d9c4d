#pragma once
// Small dense products for the MLP of the memory recurrence: a few batch rows
// times a weight matrix of a few hundred columns per time step, and one tall
// product per layer for the weight gradients after the backward sweep.
//
// Matrices are stored with their row stride padded to a multiple of kCols so
// that the micro-kernels run on whole register tiles without tail code; the
// fixed-size accumulator tiles stay in vector registers (the loops over a tile
// are compile-time sized and unrolled by the compiler).
#include <algorithm>
#include <cstdint>

namespace elm::cpu {

// Column tile: 16 scalars, held as 32-byte vectors (GCC/Clang vector extensions,
// so the tile shape is explicit instead of left to the auto-vectoriser).
template <class T>
inline constexpr int kCols = 16;

template <class T>
struct Vec32 {
  typedef T type __attribute__((vector_size(32)));
  static constexpr int lanes = 32 / sizeof(T);
  static type load(const T* p) {
    type v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(T* p, type v) { __builtin_memcpy(p, &v, sizeof v); }
};

inline int padded(int n, int tile) { return (n + tile - 1) / tile * tile; }

// y[r][o] = bias[o] + sum_i x[r][i] * m[i][o] for r < RB, o0 <= o < o0 + kCols.
// m is [in][m_stride], m_stride = padded(out) with zero padding; bias may be null.
template <class T, int RB>
inline void rows_times_matrix_tile(const T* x, int x_stride, int in, const T* m, int m_stride, int o0,
                                   const T* bias, int out, T* y, int y_stride) {
  using V = Vec32<T>;
  using v_t = typename V::type;
  constexpr int NV = kCols<T> / V::lanes;
  v_t acc[RB][NV];
  T b[kCols<T>];
  for (int q = 0; q < kCols<T>; ++q) b[q] = (bias && o0 + q < out) ? bias[o0 + q] : T(0);
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V::load(b + v * V::lanes);
  for (int i = 0; i < in; ++i) {
    const T* w = m + int64_t(i) * m_stride + o0;
    v_t wv[NV];
    for (int v = 0; v < NV; ++v) wv[v] = V::load(w + v * V::lanes);
    for (int r = 0; r < RB; ++r) {
      const T xr = x[int64_t(r) * x_stride + i];
      for (int v = 0; v < NV; ++v) acc[r][v] += xr * wv[v];
    }
  }
  const int n = std::min(kCols<T>, out - o0);
  for (int r = 0; r < RB; ++r) {
    T tmp[kCols<T>];
    for (int v = 0; v < NV; ++v) V::store(tmp + v * V::lanes, acc[r][v]);
    for (int q = 0; q < n; ++q) y[int64_t(r) * y_stride + o0 + q] = tmp[q];
  }
}

template <class T>
inline void rows_times_matrix(int rows, int in, int out, const T* x, int x_stride, const T* m, int m_stride,
                              const T* bias, T* y, int y_stride) {
  constexpr int C = kCols<T>;
  int r = 0;
  for (; r + 8 <= rows; r += 8)
    for (int o0 = 0; o0 < out; o0 += C)
      rows_times_matrix_tile<T, 8>(x + int64_t(r) * x_stride, x_stride, in, m, m_stride, o0, bias, out,
                                   y + int64_t(r) * y_stride, y_stride);
  for (; r + 4 <= rows; r += 4)
    for (int o0 = 0; o0 < out; o0 += C)
      rows_times_matrix_tile<T, 4>(x + int64_t(r) * x_stride, x_stride, in, m, m_stride, o0, bias, out,
                                   y + int64_t(r) * y_stride, y_stride);
  for (; r + 2 <= rows; r += 2)
    for (int o0 = 0; o0 < out; o0 += C)
      rows_times_matrix_tile<T, 2>(x + int64_t(r) * x_stride, x_stride, in, m, m_stride, o0, bias, out,
                                   y + int64_t(r) * y_stride, y_stride);
  for (; r < rows; ++r)
    for (int o0 = 0; o0 < out; o0 += C)
      rows_times_matrix_tile<T, 1>(x + int64_t(r) * x_stride, x_stride, in, m, m_stride, o0, bias, out,
                                   y + int64_t(r) * y_stride, y_stride);
}

// dw[o][i] += sum_n d[n][o] * x[n][i] and db[o] += sum_n d[n][o] over n < rows:
// the weight gradient of a linear layer for all (step, sample) rows at once.
// x rows must be readable up to padded(in) (x_stride >= padded(in, kCols)).
template <class T>
inline void accumulate_outer_products(int rows, int in, int out, const T* d, int d_stride, const T* x, int x_stride,
                                      T* dw, T* db) {
  constexpr int C = kCols<T>;
  constexpr int OB = 4;
  using V = Vec32<T>;
  using v_t = typename V::type;
  constexpr int NV = C / V::lanes;
  for (int n = 0; n < rows; ++n) {
    const T* dn = d + int64_t(n) * d_stride;
    for (int o = 0; o < out; ++o) db[o] += dn[o];
  }
  // A block of rows small enough that its x tile (NB x kCols) and d rows stay
  // in L1 while every output tile passes over them.
  constexpr int NB = 48;
  for (int n0 = 0; n0 < rows; n0 += NB) {
    const int n1 = std::min(rows, n0 + NB);
    for (int i0 = 0; i0 < in; i0 += C) {
      const int ni = std::min(C, in - i0);
      for (int o0 = 0; o0 < out; o0 += OB) {
        const int ob = std::min(OB, out - o0);
        v_t acc[OB][NV];
        for (int a = 0; a < OB; ++a)
          for (int v = 0; v < NV; ++v) acc[a][v] = v_t{};
        for (int n = n0; n < n1; ++n) {
          const T* xn = x + int64_t(n) * x_stride + i0;
          const T* dn = d + int64_t(n) * d_stride + o0;
          v_t xv[NV];
          for (int v = 0; v < NV; ++v) xv[v] = V::load(xn + v * V::lanes);
          for (int a = 0; a < OB; ++a) {
            const T g = a < ob ? dn[a] : T(0);
            for (int v = 0; v < NV; ++v) acc[a][v] += g * xv[v];
          }
        }
        for (int a = 0; a < ob; ++a) {
          T tmp[C];
          for (int v = 0; v < NV; ++v) V::store(tmp + v * V::lanes, acc[a][v]);
          T* dwo = dw + int64_t(o0 + a) * in + i0;
          for (int q = 0; q < ni; ++q) dwo[q] += tmp[q];
        }
      }
    }
  }
}

}  // namespace elm::cpu
