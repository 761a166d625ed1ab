// The kernels, written once over the vector type of simd.h (internal).
//
// Included by kernels_avx512.cpp, kernels_avx2.cpp and kernels_generic.cpp after simd.h and after
// defining the blocking constants:
//   kMR, kNV  GEMM micro-tile: kMR rows x (kNV * kLanes) columns of accumulators
//   kRV, kJG  attention QK^T: kRV vectors of query rows x kJG keys of accumulators
//   kRG, kDV  attention PV: kRG rows x kDV vectors along head_dim
// Blocking never changes results: every output element is the same chain of IEEE operations (see
// kernels.h), which is what makes the three builds agree bitwise.
#pragma once

#include "kernels.h"

namespace {

using synpref::kernels::AttnArgs;
using synpref::kernels::GemmArgs;
using synpref::kernels::kAttnBlock;
using synpref::kernels::PackedMatrix;
using synpref::kernels::WType;

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

// A (rows, K) row-major -> tiles of kMR rows, each (K, kMR) k-major; rows beyond `rows` are zero
// (a few wasted FMAs at the M edge; the real rows are unaffected).
void pack_a(const float* a, int64_t lda, int64_t rows, int64_t k_dim, float* out) {
  const int64_t n_tiles = (rows + kMR - 1) / kMR;
  for (int64_t t = 0; t < n_tiles; ++t) {
    float* dst = out + t * kMR * k_dim;
    for (int i = 0; i < kMR; ++i) {
      const int64_t r = t * kMR + i;
      if (r < rows) {
        const float* src = a + r * lda;
        for (int64_t k = 0; k < k_dim; ++k) dst[k * kMR + i] = src[k];
      } else {
        for (int64_t k = 0; k < k_dim; ++k) dst[k * kMR + i] = 0.0f;
      }
    }
  }
}

// ctile (kMR, kNR) (+)= A_tile (kMR, kc) @ panel (kc, kNR): acc = fma(a[i][k], w[k][j], acc), k
// ascending. `first`: start from zero, else continue the chain from ctile (a float round trip
// through memory is exact, so K-blocking gives the same bits as one unblocked chain).
//
// `pf` (pf_stride bytes per k step) is the data the next micro_tile call will read first (the
// next row tile's A slice, or the next panel's slice): prefetched into L1 while this tile computes,
// so the hardware prefetcher's restarts at page and tile boundaries do not stall the FMAs.
//
// With `out` (a full tile on the last K slice), the result goes straight to C instead of ctile:
// C = acc (+ bias), or C = C + (acc (+ bias)), the same IEEE operations as store_tile, but the
// stores overlap the next tile's FMAs instead of running as a separate memory-bound pass.
template <WType T>
SP_INLINE void micro_tile(const float* ap, const uint8_t* bp, int64_t kc, float* ctile, bool first,
                          const uint8_t* pf, int64_t pf_stride, const GemmArgs* out = nullptr, int64_t m0 = 0,
                          int64_t n0 = 0) {
  constexpr int64_t es = elem_bytes<T>();
  V acc[kMR][kNV];
#pragma GCC unroll 32
  for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < kNV; ++v) acc[i][v] = first ? vzero() : vload(ctile + i * kNR + v * kLanes);
  if (out) {
    // The C lines this tile stores at the end: requested for writing now, so that the stores do
    // not wait for their lines (C rows are far apart; the hardware prefetcher does not see them).
#pragma GCC unroll 32
    for (int i = 0; i < kMR; ++i) {
      const float* crow = out->c + (m0 + i) * out->ldc + n0;
#pragma GCC unroll 16
      for (int v = 0; v < kNV * kLanes; v += 16) __builtin_prefetch(crow + v, 1, 3);
    }
  }
  for (int64_t k = 0; k < kc; ++k) {
    V b[kNV];
#pragma GCC unroll 16
    for (int v = 0; v < kNV; ++v) b[v] = load_w<T>(bp + (k * kNR + v * kLanes) * es);
    __builtin_prefetch(pf + k * pf_stride, 0, 3);
    if (pf_stride > 64) __builtin_prefetch(pf + k * pf_stride + 64, 0, 3);
#pragma GCC unroll 32
    for (int i = 0; i < kMR; ++i) {
      const V a = vset1(ap[k * kMR + i]);
#pragma GCC unroll 16
      for (int v = 0; v < kNV; ++v) acc[i][v] = vfma(a, b[v], acc[i][v]);
    }
  }
  if (out) {
    V bias[kNV];
#pragma GCC unroll 16
    for (int v = 0; v < kNV; ++v) bias[v] = out->bias ? vload(out->bias + n0 + v * kLanes) : vzero();
#pragma GCC unroll 32
    for (int i = 0; i < kMR; ++i) {
      float* crow = out->c + (m0 + i) * out->ldc + n0;
#pragma GCC unroll 16
      for (int v = 0; v < kNV; ++v) {
        V r = out->bias ? vadd(acc[i][v], bias[v]) : acc[i][v];
        if (out->accumulate) r = vadd(vload(crow + v * kLanes), r);
        vstore(crow + v * kLanes, r);
      }
    }
    return;
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

// Rows [m_begin, m_end) (m_begin a multiple of kMR) x panels [p_begin, p_end), A packed by pack_a.
// K runs in slices of kKC: per slice, one panel slice (kKC x kNR) stays in L1 while the block's row
// tiles stream from L2; partial sums wait in `partial` between slices.
template <WType T>
void gemm_block_t(const GemmArgs& g, const float* a_packed, int64_t m_begin, int64_t m_end, int64_t p_begin,
                  int64_t p_end, float* partial) {
  const PackedMatrix& w = *g.w;
  const int64_t k_dim = w.k;
  const int64_t t_begin = m_begin / kMR;
  const int64_t n_tiles = (m_end - m_begin + kMR - 1) / kMR;
  const int64_t n_panels = p_end - p_begin;
  for (int64_t k0 = 0; k0 < k_dim; k0 += kKC) {
    const int64_t kc = min64(kKC, k_dim - k0);
    const auto a_slice = [&](int64_t t, int64_t k) {
      return reinterpret_cast<const uint8_t*>(a_packed + (t_begin + t) * kMR * k_dim + k * kMR);
    };
    constexpr int64_t a_stride = kMR * 4, b_stride = kNR * elem_bytes<T>();
    for (int64_t p = 0; p < n_panels; ++p) {
      const uint8_t* bp = w.panel(p_begin + p) + k0 * kNR * elem_bytes<T>();
      for (int64_t t = 0; t < n_tiles; ++t) {
        // What the next call reads: the next tile, else the next panel, else the next K slice.
        const uint8_t* pf = a_slice(t + 1, k0);
        int64_t pf_stride = a_stride;
        if (t + 1 == n_tiles) {
          if (p + 1 < n_panels) {
            pf = w.panel(p_begin + p + 1) + k0 * kNR * elem_bytes<T>();
            pf_stride = b_stride;
          } else {
            pf = a_slice(0, min64(k0 + kKC, k_dim - 1));
          }
        }
        const int64_t m0 = m_begin + t * kMR, n0 = (p_begin + p) * kNR;
        const bool direct = k0 + kc == k_dim && m0 + kMR <= m_end && n0 + kNR <= w.n;
        micro_tile<T>(reinterpret_cast<const float*>(a_slice(t, k0)), bp, kc,
                      partial + (p * n_tiles + t) * kMR * kNR, k0 == 0, pf, pf_stride, direct ? &g : nullptr,
                      m0, n0);
      }
    }
  }
  // Edge tiles (rows or columns beyond C) were left in `partial`.
  for (int64_t p = 0; p < n_panels; ++p) {
    const int64_t n0 = (p_begin + p) * kNR;
    for (int64_t t = 0; t < n_tiles; ++t) {
      const int64_t m0 = m_begin + t * kMR;
      if (m0 + kMR <= m_end && n0 + kNR <= w.n) continue;
      store_tile(g, partial + (p * n_tiles + t) * kMR * kNR, m0, min64(kMR, m_end - m0), n0,
                 min64(kNR, w.n - n0));
    }
  }
}

size_t gemm_scratch_floats(int64_t rows, int64_t panels) {
  return static_cast<size_t>((rows + kMR - 1) / kMR * kMR * kNR * panels);
}

void gemm_block(const GemmArgs& g, const float* a_packed, int64_t m_begin, int64_t m_end, int64_t p_begin,
                int64_t p_end, float* partial) {
  if (g.w->nr != kNR || m_begin % kMR != 0) __builtin_trap();  // caller bug
  switch (g.w->type) {
    case WType::f32:
      gemm_block_t<WType::f32>(g, a_packed, m_begin, m_end, p_begin, p_end, partial);
      break;
    case WType::bf16:
      gemm_block_t<WType::bf16>(g, a_packed, m_begin, m_end, p_begin, p_end, partial);
      break;
    case WType::f16:
      gemm_block_t<WType::f16>(g, a_packed, m_begin, m_end, p_begin, p_end, partial);
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
constexpr int kRL = kRV * kLanes;          // query rows per vector chunk
constexpr int kDpMultiple = kDV * kLanes;  // head_dim padding for the PV accumulators

struct AttnLayout {
  int64_t rows, rows_padded, dp;
};
SP_INLINE AttnLayout attn_layout(int64_t n_query_rows, int head_dim, int n_rep) {
  const int64_t rows = n_query_rows * n_rep;
  return {rows, round_up(rows, kRL), round_up(head_dim, kDpMultiple)};
}

size_t attention_scratch_floats(int64_t n_query_rows, int head_dim, int n_rep) {
  const AttnLayout l = attn_layout(n_query_rows, head_dim, n_rep);
  return static_cast<size_t>(l.rows_padded * (head_dim + l.dp + 2 * kBK + 3) + kBK * (l.dp + head_dim) + 64);
}

// st (kJG keys, kRL rows) = K rows (kJG, D) . qt (D, rows): fma over d ascending, rows in lanes.
SP_INLINE void qk_chunk(const float* const* krows, int d_dim, const float* qt, int64_t rows_p, float* st) {
  V acc[kJG][kRV];
#pragma GCC unroll 8
  for (int j = 0; j < kJG; ++j)
#pragma GCC unroll 8
    for (int u = 0; u < kRV; ++u) acc[j][u] = vzero();
  for (int d = 0; d < d_dim; ++d) {
    V q[kRV];
#pragma GCC unroll 8
    for (int u = 0; u < kRV; ++u) q[u] = vload(qt + d * rows_p + u * kLanes);
#pragma GCC unroll 8
    for (int j = 0; j < kJG; ++j) {
      const V k = vset1(krows[j][d]);
#pragma GCC unroll 8
      for (int u = 0; u < kRV; ++u) acc[j][u] = vfma(k, q[u], acc[j][u]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < kJG; ++j)
#pragma GCC unroll 8
    for (int u = 0; u < kRV; ++u) vstore(st + j * rows_p + u * kLanes, acc[j][u]);
}

// o (kRG rows, Dp) = o * corr + sum_j pt[j][row] * vrows[j]: fma over keys ascending.
SP_INLINE void pv_group(float* o, int64_t dp, const float* pt, int64_t rows_p, const float* corr,
                        const float* const* vrows, int64_t nj) {
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
      for (int u = 0; u < kDV; ++u) v[u] = vload(vrows[j] + (d0 + u) * kLanes);
#pragma GCC unroll 8
      for (int i = 0; i < kRG; ++i) {
        const V pa = vset1(pt[j * rows_p + i]);
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

// Flash-style causal attention with online softmax over key blocks of kBK (see AttnArgs). Query
// rows (n_rep heads x positions) sit in vector lanes: q is transposed once per call, keys are
// broadcast straight from their rows. A row chunk visits only key blocks at or before its last
// position (fully masked blocks are skipped); memory is O(rows * head_dim).
// Per row r and block: s_j = (q_r . k_j) * scale, -inf where key j is after r; m' = max(m, max_j s_j);
// c = exp(m - m'); p_j = exp(s_j - m'); l[j mod kBK] = fma(l[j mod kBK], c, p_j); o = o*c + sum_j p_j v_j.
// Finally out = o / tree_sum(l). Masked keys give p = 0 and c = 1 for rows they hide entirely, which
// leaves o and l unchanged exactly: a row's bits never depend on which rows share its call.
void attention(const AttnArgs& a, float* scratch) {
  const int d_dim = a.head_dim;
  const int n_rep = a.n_rep;
  const AttnLayout lay = attn_layout(a.q_end - a.q_begin, d_dim, n_rep);
  const int64_t rows = lay.rows, rows_p = lay.rows_padded, dp = lay.dp;
  float* qt = scratch;                // (D, rows_p): queries, transposed
  float* st = qt + d_dim * rows_p;    // (kBK, rows_p): scores, then probabilities
  float* lsum = st + kBK * rows_p;    // (kBK, rows_p): softmax denominators per key lane
  float* mrow = lsum + kBK * rows_p;  // (rows_p)
  float* corr = mrow + rows_p;        // (rows_p)
  float* pos = corr + rows_p;         // (rows_p): position of each row (float: exact below 2^24)
  float* o = pos + rows_p;            // (rows_p, Dp)
  float* vb = o + rows_p * dp;        // (kBK, Dp): value block, zero-padded
  float* kb = vb + kBK * dp;          // (kBK, D): key block

  const int64_t first_pos = a.n_prefix + a.q_begin;
  const int64_t last_pos = a.n_prefix + a.q_end - 1;
  for (int64_t r = 0; r < rows_p; ++r) {
    const bool real = r < rows;
    const float* src = real ? a.q + (a.q_begin + r / n_rep) * a.q_stride + (r % n_rep) * d_dim : nullptr;
    for (int d = 0; d < d_dim; ++d) qt[d * rows_p + r] = real ? src[d] : 0.0f;
    // Padding rows see every key (finite, ignored): no -inf - -inf anywhere.
    pos[r] = static_cast<float>(real ? first_pos + r / n_rep : last_pos);
    mrow[r] = -__builtin_inff();
    corr[r] = 1.0f;
  }
  for (int64_t i = 0; i < rows_p * dp; ++i) o[i] = 0.0f;
  for (int64_t i = 0; i < kBK * rows_p; ++i) lsum[i] = 0.0f;

  const V scale = vset1(a.scale), minus_inf = vset1(-__builtin_inff());
  for (int64_t j0 = 0; j0 <= last_pos; j0 += kBK) {
    const int64_t nj = min64(kBK, last_pos + 1 - j0);
    // The block's key and value rows are copied into contiguous buffers (values zero-padded to Dp):
    // in place they sit one qkv row apart, a power-of-two stride that maps them to the same few
    // cache sets, and the copy lets many cache misses overlap.
    const float* krows[kBK];
    const float* vrows[kBK];
    for (int64_t j = 0; j < kBK; ++j) {
      const int64_t p = j0 + (j < nj ? j : 0);  // rows past nj: any valid row (their scores are masked)
      const float* krow =
          p < a.n_prefix ? a.k_prefix + p * a.kv_stride : a.k_own + (p - a.n_prefix) * a.kv_stride;
      for (int d = 0; d < d_dim; ++d) kb[j * d_dim + d] = krow[d];
      krows[j] = kb + j * d_dim;
      const float* vrow =
          p < a.n_prefix ? a.v_prefix + p * a.kv_stride : a.v_own + (p - a.n_prefix) * a.kv_stride;
      float* dst = vb + j * dp;
      for (int d = 0; d < d_dim; ++d) dst[d] = vrow[d];
      for (int64_t d = d_dim; d < dp; ++d) dst[d] = 0.0f;
      vrows[j] = dst;
    }
    // Prefetch the next block's key/value rows (no hardware prefetcher follows a qkv-row stride);
    // they arrive while this block computes.
    const int64_t next_nj = min64(kBK, last_pos + 1 - (j0 + kBK));
    for (int64_t j = 0; j < next_nj; ++j) {
      const int64_t p = j0 + kBK + j;
      const float* krow =
          p < a.n_prefix ? a.k_prefix + p * a.kv_stride : a.k_own + (p - a.n_prefix) * a.kv_stride;
      const float* vrow =
          p < a.n_prefix ? a.v_prefix + p * a.kv_stride : a.v_own + (p - a.n_prefix) * a.kv_stride;
      for (int d = 0; d < d_dim; d += 16) {
        __builtin_prefetch(krow + d, 0, 2);
        __builtin_prefetch(vrow + d, 0, 2);
      }
    }
    // Row chunks whose last row precedes the block are entirely masked: skip them.
    const int64_t r_first = j0 > first_pos ? (j0 - first_pos) * n_rep : 0;
    const int64_t c_first = r_first / kRL * kRL;
    for (int64_t c0 = c_first; c0 < rows_p; c0 += kRL) {
      float* stc = st + c0;
      for (int64_t j = 0; j < kBK; j += kJG) qk_chunk(krows + j, d_dim, qt + c0, rows_p, stc + j * rows_p);
      // Scale, mask, block max (rows in lanes). The first row of the chunk has the smallest position:
      // when it sees the whole block, nothing is masked.
      const bool full_view = nj == kBK && pos[c0] >= static_cast<float>(j0 + kBK - 1);
      for (int u = 0; u < kRV; ++u) {
        const V pv = vload(pos + c0 + u * kLanes);
        V bmax = minus_inf;
        for (int64_t j = 0; j < kBK; ++j) {
          float* sp = stc + j * rows_p + u * kLanes;
          V x = vmul(vload(sp), scale);
          if (!full_view) {
            x = vselect(vlt(pv, vset1(static_cast<float>(j0 + j))), minus_inf, x);  // key after the row
            if (j >= nj) x = minus_inf;
          }
          vstore(sp, x);
          bmax = vmax(bmax, x);
        }
        float* mr = mrow + c0 + u * kLanes;
        const V m_old = vload(mr);
        const V m_new = vmax(m_old, bmax);
        const V c = vexp(vsub(m_old, m_new));
        for (int64_t j = 0; j < kBK; ++j) {
          float* sp = stc + j * rows_p + u * kLanes;
          float* lp = lsum + j * rows_p + c0 + u * kLanes;
          const V p = vexp(vsub(vload(sp), m_new));
          vstore(sp, p);
          vstore(lp, vfma(vload(lp), c, p));
        }
        vstore(mr, m_new);
        vstore(corr + c0 + u * kLanes, c);
      }
      for (int64_t r = c0; r < c0 + kRL; r += kRG)
        pv_group(o + r * dp, dp, st + r, rows_p, corr + r, vrows, nj);
    }
  }
  alignas(64) float lanes[kBK];
  for (int64_t r = 0; r < rows; ++r) {
    for (int j = 0; j < kBK; ++j) lanes[j] = lsum[j * rows_p + r];
    const float l = tree_sum(lanes, kBK);
    float* dst = a.out + (a.q_begin + r / n_rep) * a.out_stride + (r % n_rep) * d_dim;
    for (int d = 0; d < d_dim; ++d) dst[d] = o[r * dp + d] / l;
  }
}

// ---------------------------------------------------------------- peak probe

double fma_peak_probe(int64_t iters) {
  constexpr int kChains = 12;  // independent FMA chains: enough to cover latency x 2 ports
  V acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = vset1(static_cast<float>(i));
  const V b = vset1(0.999999f), c = vset1(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = vfma(acc[i], b, c);
  }
  alignas(64) float lanes[kLanes];
  float sink = 0;
  for (int i = 0; i < kChains; ++i) {
    vstore(lanes, acc[i]);
    sink += lanes[0];
  }
  volatile float keep = sink;
  (void)keep;
  return 2.0 * kChains * kLanes * static_cast<double>(iters);
}

}  // namespace
