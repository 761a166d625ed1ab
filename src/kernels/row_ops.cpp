// Row-wise backward kernels (see row_ops.h). Compiled with -O3 so that the fixed-width loops
// vectorize.
#include "kernels/row_ops.h"

#include <algorithm>
#include <cmath>

namespace synpref::kernels::row_ops {

namespace {

constexpr int kW = 16;  // partial sums per reduction

float tree16(const float* p) {
  float a[8];
  for (int i = 0; i < 8; ++i) a[i] = p[i] + p[i + 8];
  for (int i = 0; i < 4; ++i) a[i] = a[i] + a[i + 4];
  return (a[0] + a[2]) + (a[1] + a[3]);
}

// sum_i a[i] * b[i] * (c ? c[i] : 1) in kW partial sums: element i goes to sum i % kW.
float dot(const float* __restrict a, const float* __restrict b, const float* __restrict c, int64_t n) {
  float acc[kW] = {};
  int64_t i = 0;
  if (c) {
    for (; i + kW <= n; i += kW)
      for (int j = 0; j < kW; ++j) acc[j] += a[i + j] * b[i + j] * c[i + j];
    for (; i < n; ++i) acc[i % kW] += a[i] * b[i] * c[i];
  } else {
    for (; i + kW <= n; i += kW)
      for (int j = 0; j < kW; ++j) acc[j] += a[i + j] * b[i + j];
    for (; i < n; ++i) acc[i % kW] += a[i] * b[i];
  }
  return tree16(acc);
}

}  // namespace

void rmsnorm_backward(float* dinp, int64_t dinp_stride, float* dweight, const float* dout,
                      int64_t dout_stride, const float* inp, int64_t inp_stride, const float* weight,
                      int64_t n_rows, int64_t C, float eps, bool accumulate) {
  for (int64_t n = 0; n < n_rows; ++n) {
    const float* __restrict x = inp + n * inp_stride;
    const float* __restrict dy = dout + n * dout_stride;
    float* __restrict dx = dinp + n * dinp_stride;
    const float rstd = 1.0f / std::sqrt(dot(x, x, nullptr, C) / static_cast<float>(C) + eps);
    const float mean_dot = dot(dy, weight, x, C) * rstd / static_cast<float>(C);  // mean(g * xhat)
    if (accumulate) {
      for (int64_t c = 0; c < C; ++c) dx[c] += rstd * (dy[c] * weight[c] - x[c] * rstd * mean_dot);
    } else {
      for (int64_t c = 0; c < C; ++c) dx[c] = rstd * (dy[c] * weight[c] - x[c] * rstd * mean_dot);
    }
    if (dweight) {
      float* __restrict dw = dweight;
      for (int64_t c = 0; c < C; ++c) dw[c] += dy[c] * (x[c] * rstd);
    }
  }
}

void swiglu_backward(const KernelSet* ks, float* dgate_up, const float* dout, const float* gate_up,
                     int64_t n_rows, int64_t F, float* scratch) {
  for (int64_t n = 0; n < n_rows; ++n) {
    const float* __restrict g = gate_up + n * 2 * F;
    const float* __restrict u = g + F;
    const float* __restrict dy = dout + n * F;
    float* __restrict dg = dgate_up + n * 2 * F;
    float* __restrict du = dg + F;
    float* __restrict e = scratch;
    for (int64_t f = 0; f < F; ++f) e[f] = -g[f];
    ks->exp(e, e, F);  // e = exp(-g)
    for (int64_t f = 0; f < F; ++f) {
      const float sig = 1.0f / (1.0f + e[f]);
      dg[f] = dy[f] * u[f] * sig * (1.0f + g[f] * (1.0f - sig));
      du[f] = dy[f] * g[f] * sig;
    }
  }
}

void softmax_scaled(const KernelSet* ks, float* row, int64_t visible, int64_t n, float scale) {
  float* __restrict r = row;
  float mx[kW];
  for (int j = 0; j < kW; ++j) mx[j] = -INFINITY;
  int64_t i = 0;
  for (; i + kW <= visible; i += kW)
    for (int j = 0; j < kW; ++j) {
      r[i + j] *= scale;
      mx[j] = std::max(mx[j], r[i + j]);
    }
  for (; i < visible; ++i) {
    r[i] *= scale;
    mx[i % kW] = std::max(mx[i % kW], r[i]);
  }
  float m = mx[0];
  for (int j = 1; j < kW; ++j) m = std::max(m, mx[j]);  // max is exact: any order gives the same
  for (int64_t j = 0; j < visible; ++j) r[j] -= m;
  ks->exp(r, r, visible);
  float acc[kW] = {};
  i = 0;
  for (; i + kW <= visible; i += kW)
    for (int j = 0; j < kW; ++j) acc[j] += r[i + j];
  for (; i < visible; ++i) acc[i % kW] += r[i];
  const float inv = 1.0f / tree16(acc);
  for (int64_t j = 0; j < visible; ++j) r[j] *= inv;
  for (int64_t j = visible; j < n; ++j) r[j] = 0.0f;
}

void softmax_backward(const float* p, float* dp, int64_t visible, int64_t n, float scale) {
  const float s = dot(p, dp, nullptr, visible);
  float* __restrict d = dp;
  const float* __restrict pp = p;
  for (int64_t j = 0; j < visible; ++j) d[j] = pp[j] * (d[j] - s) * scale;
  for (int64_t j = visible; j < n; ++j) d[j] = 0.0f;
}

}  // namespace synpref::kernels::row_ops
