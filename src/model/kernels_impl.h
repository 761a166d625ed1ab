// The kernels, written once over the vector type of simd.h (internal).
//
// Included by kernels_avx512.cpp, kernels_avx2.cpp and kernels_generic.cpp after simd.h and after
// defining the blocking constants:
//   kMR, kNV  GEMM micro-tile: kMR rows x (kNV * kLanes) columns of accumulators
//   kRG       attention rows per register group
//   kCV, kDV  attention vectors per group along keys (QK^T) and along head_dim (PV)
// Blocking never changes results: every output element is the same chain of IEEE operations (see
// kernels.h), which is what makes the three builds agree bitwise.
#pragma once

#include "kernels.h"

namespace {

using synpref::model::kernels::AttnArgs;
using synpref::model::kernels::GemmArgs;
using synpref::model::kernels::kAttnBlock;
using synpref::model::kernels::PackedMatrix;
using synpref::model::kernels::WType;

constexpr int kNR = kNV * kLanes;

SP_INLINE int64_t min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}
SP_INLINE int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

// ---------------------------------------------------------------- GEMM

template <WType T>
SP_INLINE V load_w(const uint8_t* p);
template <>
SP_INLINE V load_w<WType::f32>(const uint8_t* p) {
  return vload(reinterpret_cast<const float*>(p));
}
template <>
SP_INLINE V load_w<WType::bf16>(const uint8_t* p) {
  return vload_bf16(reinterpret_cast<const uint16_t*>(p));
}
template <>
SP_INLINE V load_w<WType::f16>(const uint8_t* p) {
  return vload_f16(reinterpret_cast<const uint16_t*>(p));
}

template <WType T>
constexpr int64_t elem_bytes() {
  return T == WType::f32 ? 4 : 2;
}

// A (rows, K) row-major -> (K, kMR) k-major, rows beyond `rows` zero. A zero row costs a few
// wasted FMAs at the M edge and changes nothing for the real rows.
void pack_a(const float* a, int64_t lda, int64_t rows, int64_t k_dim, float* out) {
  for (int i = 0; i < kMR; ++i) {
    if (i < rows) {
      const float* src = a + i * lda;
      for (int64_t k = 0; k < k_dim; ++k) out[k * kMR + i] = src[k];
    } else {
      for (int64_t k = 0; k < k_dim; ++k) out[k * kMR + i] = 0.0f;
    }
  }
}

// ctile (kMR, kNR) = A_tile (kMR, K) @ panel (K, kNR): acc = fma(a[i][k], w[k][j], acc), k ascending.
template <WType T>
SP_INLINE void micro_tile(const float* ap, const uint8_t* bp, int64_t k_dim, float* ctile) {
  constexpr int64_t es = elem_bytes<T>();
  V acc[kMR][kNV];
#pragma GCC unroll 32
  for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < kNV; ++v) acc[i][v] = vzero();
  for (int64_t k = 0; k < k_dim; ++k) {
    V b[kNV];
#pragma GCC unroll 16
    for (int v = 0; v < kNV; ++v) b[v] = load_w<T>(bp + (k * kNR + v * kLanes) * es);
#pragma GCC unroll 32
    for (int i = 0; i < kMR; ++i) {
      const V a = vset1(ap[k * kMR + i]);
#pragma GCC unroll 16
      for (int v = 0; v < kNV; ++v) acc[i][v] = vfma(a, b[v], acc[i][v]);
    }
  }
#pragma GCC unroll 32
  for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < kNV; ++v) vstore(ctile + i * kNR + v * kLanes, acc[i][v]);
}

// Writes the valid part of a tile: C = tile (+ bias), or C = C + (tile (+ bias)).
SP_INLINE void store_tile(const GemmArgs& g, const float* ctile, int64_t m0, int64_t rows, int64_t n0,
                          int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    float* crow = g.c + (m0 + i) * g.ldc + n0;
    const float* t = ctile + i * kNR;
    if (g.bias) {
      const float* b = g.bias + n0;
      if (g.accumulate) {
        for (int64_t j = 0; j < cols; ++j) crow[j] = crow[j] + (t[j] + b[j]);
      } else {
        for (int64_t j = 0; j < cols; ++j) crow[j] = t[j] + b[j];
      }
    } else if (g.accumulate) {
      for (int64_t j = 0; j < cols; ++j) crow[j] = crow[j] + t[j];
    } else {
      for (int64_t j = 0; j < cols; ++j) crow[j] = t[j];
    }
  }
}

template <WType T>
void gemm_block_t(const GemmArgs& g, int64_t m_begin, int64_t m_end, int64_t p_begin, int64_t p_end,
                  float* a_pack) {
  const PackedMatrix& w = *g.w;
  const int64_t k_dim = w.k;
  const int64_t n_tiles = (m_end - m_begin + kMR - 1) / kMR;
  for (int64_t t = 0; t < n_tiles; ++t) {
    const int64_t m0 = m_begin + t * kMR;
    pack_a(g.a + m0 * g.lda, g.lda, min64(kMR, m_end - m0), k_dim, a_pack + t * kMR * k_dim);
  }
  alignas(64) float ctile[kMR * kNR];
  // A tile (kMR x K) stays in L1 across the panels of this block; the panels stay in L2 across tiles.
  for (int64_t t = 0; t < n_tiles; ++t) {
    const int64_t m0 = m_begin + t * kMR;
    const int64_t rows = min64(kMR, m_end - m0);
    for (int64_t p = p_begin; p < p_end; ++p) {
      micro_tile<T>(a_pack + t * kMR * k_dim, w.panel(p), k_dim, ctile);
      const int64_t n0 = p * kNR;
      store_tile(g, ctile, m0, rows, n0, min64(kNR, w.n - n0));
    }
  }
}

void gemm_block(const GemmArgs& g, int64_t m_begin, int64_t m_end, int64_t p_begin, int64_t p_end,
                float* a_pack) {
  if (g.w->nr != kNR) __builtin_trap();  // weights packed for another kernel set: a bug
  switch (g.w->type) {
    case WType::f32:
      gemm_block_t<WType::f32>(g, m_begin, m_end, p_begin, p_end, a_pack);
      break;
    case WType::bf16:
      gemm_block_t<WType::bf16>(g, m_begin, m_end, p_begin, p_end, a_pack);
      break;
    case WType::f16:
      gemm_block_t<WType::f16>(g, m_begin, m_end, p_begin, p_end, a_pack);
      break;
  }
}

// ---------------------------------------------------------------- row ops

constexpr int kSumWidth = 16;  // partial sums of RMSNorm, independent of kLanes
constexpr int kSumVecs = kSumWidth / kLanes;

void rmsnorm_rows(float* out, int64_t out_stride, const float* in, int64_t in_stride, const float* weight,
                  int64_t rows, int64_t cols, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = in + r * in_stride;
    float* y = out + r * out_stride;
    V acc[kSumVecs];
    for (int u = 0; u < kSumVecs; ++u) acc[u] = vzero();
    for (int64_t c = 0; c < cols; c += kSumWidth) {
      for (int u = 0; u < kSumVecs; ++u) {
        const int64_t base = c + u * kLanes;
        const int64_t n = cols - base;
        if (n <= 0) break;
        const V xv = n >= kLanes ? vload(x + base) : vload_n(x + base, static_cast<int>(n));
        acc[u] = vfma(xv, xv, acc[u]);
      }
    }
    alignas(64) float part[kSumWidth];
    for (int u = 0; u < kSumVecs; ++u) vstore(part + u * kLanes, acc[u]);
    const float mean = tree_sum(part, kSumWidth) / static_cast<float>(cols);
    const V inv = vset1(1.0f / __builtin_sqrtf(mean + eps));
    int64_t c = 0;
    for (; c + kLanes <= cols; c += kLanes) vstore(y + c, vmul(vload(weight + c), vmul(vload(x + c), inv)));
    if (c < cols) {
      const int n = static_cast<int>(cols - c);
      vstore_n(y + c, vmul(vload_n(weight + c, n), vmul(vload_n(x + c, n), inv)), n);
    }
  }
}

SP_INLINE V silu_mul_v(V g, V u) {
  const V e = vexp(vsub(vzero(), g));
  return vmul(vdiv(g, vadd(vset1(1.0f), e)), u);
}

void silu_mul(float* out, const float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) vstore(out + i, silu_mul_v(vload(gate + i), vload(up + i)));
  if (i < n) {
    const int r = static_cast<int>(n - i);
    vstore_n(out + i, silu_mul_v(vload_n(gate + i, r), vload_n(up + i, r)), r);
  }
}

void exp_array(float* out, const float* in, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) vstore(out + i, vexp(vload(in + i)));
  if (i < n) {
    const int r = static_cast<int>(n - i);
    vstore_n(out + i, vexp(vload_n(in + i, r)), r);
  }
}

SP_INLINE float exp1(float x) {
  alignas(64) float t[kLanes];
  vstore(t, vexp(vset1(x)));
  return t[0];
}

// ---------------------------------------------------------------- attention

constexpr int kBK = kAttnBlock;
constexpr int kDpMultiple = kDV * kLanes;
static_assert(kBK % (kCV * kLanes) == 0, "key block must split into kCV-vector chunks");

struct AttnLayout {
  int64_t rows, rows_padded, dp;
};
SP_INLINE AttnLayout attn_layout(int64_t n_query_rows, int head_dim, int n_rep) {
  const int64_t rows = n_query_rows * n_rep;
  return {rows, round_up(rows, kRG) + kRG, round_up(head_dim, kDpMultiple)};
}

size_t attention_scratch_floats(int64_t n_query_rows, int head_dim, int n_rep) {
  const AttnLayout l = attn_layout(n_query_rows, head_dim, n_rep);
  return static_cast<size_t>(l.rows_padded * (head_dim + l.dp + 2 * kBK + 2) + head_dim * kBK + kBK * l.dp +
                             64);
}

// s (kRG, kBK) = q (kRG, D) @ kt (D, kBK): fma over d ascending.
SP_INLINE void qk_group(const float* q, int d_dim, const float* kt, float* s) {
  for (int c0 = 0; c0 < kBK / kLanes; c0 += kCV) {
    V acc[kRG][kCV];
#pragma GCC unroll 8
    for (int i = 0; i < kRG; ++i)
#pragma GCC unroll 8
      for (int u = 0; u < kCV; ++u) acc[i][u] = vzero();
    for (int d = 0; d < d_dim; ++d) {
      V k[kCV];
#pragma GCC unroll 8
      for (int u = 0; u < kCV; ++u) k[u] = vload(kt + d * kBK + (c0 + u) * kLanes);
#pragma GCC unroll 8
      for (int i = 0; i < kRG; ++i) {
        const V qa = vset1(q[i * d_dim + d]);
#pragma GCC unroll 8
        for (int u = 0; u < kCV; ++u) acc[i][u] = vfma(qa, k[u], acc[i][u]);
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < kRG; ++i)
#pragma GCC unroll 8
      for (int u = 0; u < kCV; ++u) vstore(s + i * kBK + (c0 + u) * kLanes, acc[i][u]);
  }
}

// o (kRG, Dp) = o * corr + p (kRG, nj) @ vb (nj, Dp): fma over keys ascending.
SP_INLINE void pv_group(float* o, int64_t dp, const float* p, const float* corr, const float* vb,
                        int64_t nj) {
  for (int64_t d0 = 0; d0 < dp / kLanes; d0 += kDV) {
    V acc[kRG][kDV];
#pragma GCC unroll 8
    for (int i = 0; i < kRG; ++i) {
      const V c = vset1(corr[i]);
#pragma GCC unroll 8
      for (int u = 0; u < kDV; ++u) acc[i][u] = vmul(vload(o + i * dp + (d0 + u) * kLanes), c);
    }
    for (int64_t j = 0; j < nj; ++j) {
      V v[kDV];
#pragma GCC unroll 8
      for (int u = 0; u < kDV; ++u) v[u] = vload(vb + j * dp + (d0 + u) * kLanes);
#pragma GCC unroll 8
      for (int i = 0; i < kRG; ++i) {
        const V pa = vset1(p[i * kBK + j]);
#pragma GCC unroll 8
        for (int u = 0; u < kDV; ++u) acc[i][u] = vfma(pa, v[u], acc[i][u]);
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < kRG; ++i)
#pragma GCC unroll 8
      for (int u = 0; u < kDV; ++u) vstore(o + i * dp + (d0 + u) * kLanes, acc[i][u]);
  }
}

// Flash-style causal attention with online softmax over key blocks of kBK (see AttnArgs). A row
// visits only the blocks holding keys at or before its position: fully masked blocks are skipped,
// and memory is O(rows * head_dim), linear in sequence length.
// Per row and block: m' = max(m, max_j s_j); c = exp(m - m'); p_j = exp(s_j - m');
// l[j mod kBK] = l[j mod kBK] * c + p_j (fused); o = o * c + sum_j p_j v_j. At the end
// out = o / tree_sum(l). Masked keys enter as p = 0, which leaves o unchanged exactly.
void attention(const AttnArgs& a, float* scratch) {
  const int d_dim = a.head_dim;
  const int n_rep = a.n_rep;
  const AttnLayout lay = attn_layout(a.q_end - a.q_begin, d_dim, n_rep);
  const int64_t rows = lay.rows, rows_p = lay.rows_padded, dp = lay.dp;
  float* q = scratch;                 // (rows_p, D)
  float* o = q + rows_p * d_dim;      // (rows_p, Dp)
  float* s = o + rows_p * dp;         // (rows_p, kBK): scores, then probabilities
  float* lsum = s + rows_p * kBK;     // (rows_p, kBK): softmax denominators, lane-wise
  float* mrow = lsum + rows_p * kBK;  // (rows_p)
  float* corr = mrow + rows_p;        // (rows_p)
  float* kt = corr + rows_p;          // (D, kBK): key block, transposed
  float* vb = kt + d_dim * kBK;       // (kBK, Dp): value block

  for (int64_t r = 0; r < rows_p; ++r) {
    float* dst = q + r * d_dim;
    if (r < rows) {
      const float* src = a.q + (a.q_begin + r / n_rep) * a.q_stride + (r % n_rep) * d_dim;
      for (int d = 0; d < d_dim; ++d) dst[d] = src[d];
    } else {
      for (int d = 0; d < d_dim; ++d) dst[d] = 0.0f;
    }
    mrow[r] = -__builtin_inff();
    corr[r] = 1.0f;
  }
  for (int64_t i = 0; i < rows_p * dp; ++i) o[i] = 0.0f;
  for (int64_t i = 0; i < rows_p * kBK; ++i) lsum[i] = 0.0f, s[i] = 0.0f;

  const int64_t first_pos = a.n_prefix + a.q_begin;
  const int64_t last_pos = a.n_prefix + a.q_end - 1;
  for (int64_t j0 = 0; j0 <= last_pos; j0 += kBK) {
    const int64_t nj = min64(kBK, last_pos + 1 - j0);
    for (int64_t j = 0; j < kBK; ++j) {
      if (j < nj) {
        const int64_t pos = j0 + j;
        const float* krow =
            pos < a.n_prefix ? a.k_prefix + pos * a.kv_stride : a.k_own + (pos - a.n_prefix) * a.kv_stride;
        const float* vrow =
            pos < a.n_prefix ? a.v_prefix + pos * a.kv_stride : a.v_own + (pos - a.n_prefix) * a.kv_stride;
        for (int d = 0; d < d_dim; ++d) kt[d * kBK + j] = krow[d];
        for (int d = 0; d < d_dim; ++d) vb[j * dp + d] = vrow[d];
        for (int64_t d = d_dim; d < dp; ++d) vb[j * dp + d] = 0.0f;
      } else {
        for (int d = 0; d < d_dim; ++d) kt[d * kBK + j] = 0.0f;
        for (int64_t d = 0; d < dp; ++d) vb[j * dp + d] = 0.0f;
      }
    }
    // Rows are ordered by position; rows before this block's first key skip it entirely.
    const int64_t r0 = j0 > first_pos ? (j0 - first_pos) * n_rep : 0;
    for (int64_t r = r0; r < rows; r += kRG) qk_group(q + r * d_dim, d_dim, kt, s + r * kBK);
    const V scale = vset1(a.scale);
    for (int64_t r = r0; r < rows; ++r) {
      const int64_t pos = first_pos + r / n_rep;
      const int64_t visible = min64(nj, pos - j0 + 1);
      float* sr = s + r * kBK;
      V bmax = vset1(-__builtin_inff());
      for (int u = 0; u < kBK / kLanes; ++u) {
        V x = vmul(vload(sr + u * kLanes), scale);
        vstore(sr + u * kLanes, x);
      }
      for (int64_t j = visible; j < kBK; ++j) sr[j] = -__builtin_inff();
      for (int u = 0; u < kBK / kLanes; ++u) bmax = vmax(bmax, vload(sr + u * kLanes));
      alignas(64) float lanes[kLanes];
      vstore(lanes, bmax);
      float block_max = lanes[0];
      for (int i = 1; i < kLanes; ++i) block_max = lanes[i] > block_max ? lanes[i] : block_max;
      const float m_new = mrow[r] > block_max ? mrow[r] : block_max;
      const float c = exp1(mrow[r] - m_new);
      const V mv = vset1(m_new), cv = vset1(c);
      float* lr = lsum + r * kBK;
      for (int u = 0; u < kBK / kLanes; ++u) {
        const V p = vexp(vsub(vload(sr + u * kLanes), mv));
        vstore(sr + u * kLanes, p);
        vstore(lr + u * kLanes, vfma(vload(lr + u * kLanes), cv, p));
      }
      mrow[r] = m_new;
      corr[r] = c;
    }
    for (int64_t r = r0; r < rows; r += kRG) pv_group(o + r * dp, dp, s + r * kBK, corr + r, vb, nj);
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float l = tree_sum(lsum + r * kBK, kBK);
    float* dst = a.out + (a.q_begin + r / n_rep) * a.out_stride + (r % n_rep) * d_dim;
    for (int d = 0; d < d_dim; ++d) dst[d] = o[r * dp + d] / l;
  }
}

}  // namespace
