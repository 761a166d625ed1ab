// Forward/backward pairs of every op of the reward model, over explicit buffers (internal).
//
// llm.c style: each op is a pair of free functions `<op>_forward` / `<op>_backward` with a shape
// comment; backward functions ACCUMULATE (+=) into their gradient outputs, so a tensor used twice
// (a residual stream, a shared prefix attended by two responses) just receives two contributions.
// They are templates over the scalar type: float is what training runs (where no faster kernel
// exists), double is what tests/train/test_ops.cpp checks against central finite differences.
// Derivations: docs/training.md.
//
// Shapes: N rows (tokens), C hidden size, D head dim, F intermediate size, Hq query heads,
// Hkv key/value heads. A "qkv row" is [q heads (Hq*D) | k heads (Hkv*D) | v heads (Hkv*D)].
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace synpref::kernels::ops {

// ---------------------------------------------------------------- embedding

// out (N, C) = table[ids[n]] ; table (V, C)
template <typename T>
void embedding_forward(T* out, const int32_t* ids, int64_t n_rows, const T* table, int64_t C) {
  for (int64_t n = 0; n < n_rows; ++n) {
    const T* src = table + static_cast<int64_t>(ids[n]) * C;
    for (int64_t c = 0; c < C; ++c) out[n * C + c] = src[c];
  }
}
// dtable[ids[n]] += dout[n] for n ascending (deterministic order), columns [c_begin, c_end).
template <typename T>
void embedding_backward(T* dtable, const T* dout, const int32_t* ids, int64_t n_rows, int64_t C,
                        int64_t c_begin, int64_t c_end) {
  for (int64_t n = 0; n < n_rows; ++n) {
    T* dst = dtable + static_cast<int64_t>(ids[n]) * C;
    for (int64_t c = c_begin; c < c_end; ++c) dst[c] += dout[n * C + c];
  }
}

// ---------------------------------------------------------------- RMSNorm

// out[n] = weight * (inp[n] * rstd[n]), rstd[n] = 1 / sqrt(mean(inp[n]^2) + eps); N rows of C.
// Rows are `inp_stride` / `out_stride` apart (QK-norm normalizes the heads inside a qkv row).
template <typename T>
void rmsnorm_forward(T* out, int64_t out_stride, const T* inp, int64_t inp_stride, const T* weight,
                     int64_t n_rows, int64_t C, T eps) {
  for (int64_t n = 0; n < n_rows; ++n) {
    const T* x = inp + n * inp_stride;
    T ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += x[c] * x[c];
    const T rstd = T(1) / std::sqrt(ss / static_cast<T>(C) + eps);
    for (int64_t c = 0; c < C; ++c) out[n * out_stride + c] = weight[c] * (x[c] * rstd);
  }
}
// With xhat = x * rstd and g = dout * weight:
//   dinp += rstd * (g - xhat * mean(g * xhat)) ; dweight += sum_n dout * xhat.
// (accumulate = false writes dinp instead of adding.) dweight may be null (frozen).
template <typename T>
void rmsnorm_backward(T* dinp, int64_t dinp_stride, T* dweight, const T* dout, int64_t dout_stride,
                      const T* inp, int64_t inp_stride, const T* weight, int64_t n_rows, int64_t C, T eps,
                      bool accumulate = true) {
  for (int64_t n = 0; n < n_rows; ++n) {
    const T* x = inp + n * inp_stride;
    const T* dy = dout + n * dout_stride;
    T* dx = dinp + n * dinp_stride;
    T ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += x[c] * x[c];
    const T rstd = T(1) / std::sqrt(ss / static_cast<T>(C) + eps);
    T dot = 0;  // sum_c g_c * xhat_c
    for (int64_t c = 0; c < C; ++c) dot += dy[c] * weight[c] * (x[c] * rstd);
    const T mean_dot = dot / static_cast<T>(C);
    for (int64_t c = 0; c < C; ++c) {
      const T xhat = x[c] * rstd;
      const T g = dy[c] * weight[c];
      const T v = rstd * (g - xhat * mean_dot);
      dx[c] = accumulate ? dx[c] + v : v;
      if (dweight) dweight[c] += dy[c] * xhat;
    }
  }
}

// ---------------------------------------------------------------- RoPE (rotate_half)

// In place on one row of H heads of D: x1 = x[:D/2], x2 = x[D/2:];
//   x1' = x1 cos - x2 sin ; x2' = x2 cos + x1 sin   (transformers' q*cos + rotate_half(q)*sin)
// cos/sin: (D/2) values for this row's position.
template <typename T, typename A>
void rope_forward(T* x, const A* cos, const A* sin, int64_t n_heads, int64_t D) {
  const int64_t half = D / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    T* xh = x + h * D;
    for (int64_t i = 0; i < half; ++i) {
      const T x1 = xh[i], x2 = xh[i + half];
      const T c = static_cast<T>(cos[i]), s = static_cast<T>(sin[i]);
      xh[i] = x1 * c + (-x2) * s;
      xh[i + half] = x2 * c + x1 * s;
    }
  }
}
// The rotation's transpose, in place on the gradient: dx1 = dy1 cos + dy2 sin ; dx2 = dy2 cos - dy1 sin.
template <typename T, typename A>
void rope_backward(T* dx, const A* cos, const A* sin, int64_t n_heads, int64_t D) {
  const int64_t half = D / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    T* g = dx + h * D;
    for (int64_t i = 0; i < half; ++i) {
      const T d1 = g[i], d2 = g[i + half];
      const T c = static_cast<T>(cos[i]), s = static_cast<T>(sin[i]);
      g[i] = d1 * c + d2 * s;
      g[i + half] = d2 * c - d1 * s;
    }
  }
}

// ---------------------------------------------------------------- causal GQA attention

struct AttnDims {
  int64_t n_head = 0, n_head_kv = 0, head_dim = 0;
  int64_t qkv_width() const { return (n_head + 2 * n_head_kv) * head_dim; }
};

// One sequence of `n_own` rows that continues a shared context of `n_prefix` rows (0 = none).
// Own row i has logical position n_prefix + i and attends to keys 0..n_prefix + i: the context's
// rows first, then its own. Query head h uses key/value head h / (Hq / Hkv) (GQA).
//   out (n_own, Hq*D) = softmax(q k^T * scale + causal mask) v       for kv heads [g_begin, g_end)
template <typename T>
void attention_forward(T* out, int64_t out_stride, const T* qkv_own, const T* qkv_prefix, int64_t n_own,
                       int64_t n_prefix, int64_t qkv_stride, const AttnDims& dims, T scale, int64_t g_begin,
                       int64_t g_end) {
  const int64_t D = dims.head_dim, Hq = dims.n_head, Hkv = dims.n_head_kv, n_rep = Hq / Hkv;
  std::vector<T> p(static_cast<size_t>(n_prefix + n_own));
  auto key_row = [&](int64_t j) {
    return j < n_prefix ? qkv_prefix + j * qkv_stride : qkv_own + (j - n_prefix) * qkv_stride;
  };
  for (int64_t g = g_begin; g < g_end; ++g) {
    for (int64_t r = 0; r < n_rep; ++r) {
      const int64_t h = g * n_rep + r;
      for (int64_t i = 0; i < n_own; ++i) {
        const T* q = qkv_own + i * qkv_stride + h * D;
        const int64_t n_keys = n_prefix + i + 1;
        T m = -INFINITY;
        for (int64_t j = 0; j < n_keys; ++j) {
          const T* k = key_row(j) + (Hq + g) * D;
          T s = 0;
          for (int64_t d = 0; d < D; ++d) s += q[d] * k[d];
          p[static_cast<size_t>(j)] = s * scale;
          m = std::max(m, p[static_cast<size_t>(j)]);
        }
        T l = 0;
        for (int64_t j = 0; j < n_keys; ++j)
          l += (p[static_cast<size_t>(j)] = std::exp(p[static_cast<size_t>(j)] - m));
        T* o = out + i * out_stride + h * D;
        for (int64_t d = 0; d < D; ++d) o[d] = 0;
        for (int64_t j = 0; j < n_keys; ++j) {
          const T* v = key_row(j) + (Hq + Hkv + g) * D;
          const T pj = p[static_cast<size_t>(j)] / l;
          for (int64_t d = 0; d < D; ++d) o[d] += pj * v[d];
        }
      }
    }
  }
}
// With P = softmax(S), S = q k^T * scale: dV += P^T dO ; dP = dO V^T ; dS = P (dP - rowsum(P dP));
// dQ += scale dS K ; dK += scale dS^T Q. Gradients go to the q/k/v columns of dqkv_own (own rows)
// and the k/v columns of dqkv_prefix (context rows), for kv heads [g_begin, g_end).
template <typename T>
void attention_backward(T* dqkv_own, T* dqkv_prefix, const T* dout, int64_t dout_stride, const T* qkv_own,
                        const T* qkv_prefix, int64_t n_own, int64_t n_prefix, int64_t qkv_stride,
                        const AttnDims& dims, T scale, int64_t g_begin, int64_t g_end) {
  const int64_t D = dims.head_dim, Hq = dims.n_head, Hkv = dims.n_head_kv, n_rep = Hq / Hkv;
  std::vector<T> p(static_cast<size_t>(n_prefix + n_own)), dp(p.size());
  auto key_row = [&](int64_t j) {
    return j < n_prefix ? qkv_prefix + j * qkv_stride : qkv_own + (j - n_prefix) * qkv_stride;
  };
  auto dkey_row = [&](int64_t j) {
    return j < n_prefix ? dqkv_prefix + j * qkv_stride : dqkv_own + (j - n_prefix) * qkv_stride;
  };
  for (int64_t g = g_begin; g < g_end; ++g) {
    for (int64_t r = 0; r < n_rep; ++r) {
      const int64_t h = g * n_rep + r;
      for (int64_t i = 0; i < n_own; ++i) {
        const T* q = qkv_own + i * qkv_stride + h * D;
        const T* dO = dout + i * dout_stride + h * D;
        const int64_t n_keys = n_prefix + i + 1;
        T m = -INFINITY;
        for (int64_t j = 0; j < n_keys; ++j) {
          const T* k = key_row(j) + (Hq + g) * D;
          T s = 0;
          for (int64_t d = 0; d < D; ++d) s += q[d] * k[d];
          p[static_cast<size_t>(j)] = s * scale;
          m = std::max(m, p[static_cast<size_t>(j)]);
        }
        T l = 0;
        for (int64_t j = 0; j < n_keys; ++j)
          l += (p[static_cast<size_t>(j)] = std::exp(p[static_cast<size_t>(j)] - m));
        T sum_pdp = 0;
        for (int64_t j = 0; j < n_keys; ++j) {
          p[static_cast<size_t>(j)] /= l;
          const T* v = key_row(j) + (Hq + Hkv + g) * D;
          T s = 0;
          for (int64_t d = 0; d < D; ++d) s += dO[d] * v[d];
          dp[static_cast<size_t>(j)] = s;
          sum_pdp += p[static_cast<size_t>(j)] * s;
        }
        T* dq = dqkv_own + i * qkv_stride + h * D;
        for (int64_t j = 0; j < n_keys; ++j) {
          const T pj = p[static_cast<size_t>(j)];
          const T ds = pj * (dp[static_cast<size_t>(j)] - sum_pdp) * scale;
          const T* k = key_row(j) + (Hq + g) * D;
          T* dk = dkey_row(j) + (Hq + g) * D;
          T* dv = dkey_row(j) + (Hq + Hkv + g) * D;
          for (int64_t d = 0; d < D; ++d) {
            dq[d] += ds * k[d];
            dk[d] += ds * q[d];
            dv[d] += pj * dO[d];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- SwiGLU

// out (N, F) = silu(gate) * up with gate_up (N, 2F) = [gate | up], silu(x) = x * sigmoid(x).
template <typename T>
void swiglu_forward(T* out, const T* gate_up, int64_t n_rows, int64_t F) {
  for (int64_t n = 0; n < n_rows; ++n) {
    const T* g = gate_up + n * 2 * F;
    const T* u = g + F;
    for (int64_t f = 0; f < F; ++f) out[n * F + f] = g[f] / (T(1) + std::exp(-g[f])) * u[f];
  }
}
// dgate = dout * up * sigmoid(g) * (1 + g * (1 - sigmoid(g))) ; dup = dout * silu(g). Writes (=).
template <typename T>
void swiglu_backward(T* dgate_up, const T* dout, const T* gate_up, int64_t n_rows, int64_t F) {
  for (int64_t n = 0; n < n_rows; ++n) {
    const T* g = gate_up + n * 2 * F;
    const T* u = g + F;
    T* dg = dgate_up + n * 2 * F;
    T* du = dg + F;
    for (int64_t f = 0; f < F; ++f) {
      const T sig = T(1) / (T(1) + std::exp(-g[f]));
      const T dy = dout[n * F + f];
      dg[f] = dy * u[f] * sig * (T(1) + g[f] * (T(1) - sig));
      du[f] = dy * g[f] * sig;
    }
  }
}

// ---------------------------------------------------------------- linear (reference)

// out (N, OC) = inp (N, IC) @ w^T (+ bias) ; w (OC, IC) (transformers' Linear layout).
template <typename T>
void matmul_forward(T* out, const T* inp, const T* w, const T* bias, int64_t n_rows, int64_t IC, int64_t OC) {
  for (int64_t n = 0; n < n_rows; ++n) {
    for (int64_t o = 0; o < OC; ++o) {
      T s = 0;
      for (int64_t i = 0; i < IC; ++i) s += inp[n * IC + i] * w[o * IC + i];
      out[n * OC + o] = bias ? s + bias[o] : s;
    }
  }
}
// dinp += dout @ w ; dw += dout^T @ inp ; dbias += colsum(dout). Null outputs are skipped.
template <typename T>
void matmul_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, int64_t n_rows,
                     int64_t IC, int64_t OC) {
  for (int64_t n = 0; n < n_rows; ++n) {
    for (int64_t o = 0; o < OC; ++o) {
      const T d = dout[n * OC + o];
      if (dinp)
        for (int64_t i = 0; i < IC; ++i) dinp[n * IC + i] += d * w[o * IC + i];
      if (dw)
        for (int64_t i = 0; i < IC; ++i) dw[o * IC + i] += d * inp[n * IC + i];
      if (dbias) dbias[o] += d;
    }
  }
}

// ---------------------------------------------------------------- Bradley-Terry loss

// loss_p = -log sigmoid(z_p), z_p = r_chosen[p] - r_rejected[p] - margin[p] (margin may be null).
// Computed stably as softplus(-z). Returns the sum over pairs.
template <typename T>
T bt_loss_forward(T* losses, const T* r_chosen, const T* r_rejected, const T* margin, int64_t n_pairs) {
  T total = 0;
  for (int64_t p = 0; p < n_pairs; ++p) {
    const T z = r_chosen[p] - r_rejected[p] - (margin ? margin[p] : T(0));
    const T l = z > 0 ? std::log1p(std::exp(-z)) : -z + std::log1p(std::exp(z));
    if (losses) losses[p] = l;
    total += l;
  }
  return total;
}
// The gradient seed of backward. For L = scale * sum_p loss_p:
//   dL/dr_chosen[p] = -scale * sigmoid(-z_p) ; dL/dr_rejected[p] = +scale * sigmoid(-z_p).
// (d/dz -log sigmoid(z) = -(1 - sigmoid(z)) = -sigmoid(-z).) Writes (=).
template <typename T>
void bt_loss_backward(T* dr_chosen, T* dr_rejected, const T* r_chosen, const T* r_rejected, const T* margin,
                      int64_t n_pairs, T scale) {
  for (int64_t p = 0; p < n_pairs; ++p) {
    const T z = r_chosen[p] - r_rejected[p] - (margin ? margin[p] : T(0));
    const T sig_neg = z >= 0 ? std::exp(-z) / (T(1) + std::exp(-z)) : T(1) / (T(1) + std::exp(z));
    dr_chosen[p] = -scale * sig_neg;
    dr_rejected[p] = scale * sig_neg;
  }
}

}  // namespace synpref::kernels::ops
