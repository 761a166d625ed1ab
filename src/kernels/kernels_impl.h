// The kernels, written once over the vector type of simd.h (internal).
//
// Included by kernels_avx512.cpp, kernels_avx2.cpp and kernels_generic.cpp after simd.h and after
// defining the blocking constants:
//   kMR, kNV  GEMM micro-tile: kMR rows x (kNV * kLanes) columns of accumulators (attention runs
//             its QK^T and PV products on the same micro-tile)
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
//
// L: where the A tile lies. packed: a[i][k] = ap[k * kMR + i] (pack_a); cols: read in place from
// the transpose of a row-major matrix, a[i][k] = ap[k * a_ld + i]; rows: read in place from a
// row-major matrix, a[i][k] = ap[i * a_ld + k].
enum class ALayout { packed, cols, rows };
template <WType T, ALayout L = ALayout::packed>
SP_INLINE void micro_tile(const float* ap, const uint8_t* bp, int64_t kc, float* ctile, bool first,
                          const uint8_t* pf, int64_t pf_stride, const GemmArgs* out = nullptr, int64_t m0 = 0,
                          int64_t n0 = 0, int64_t a_ld = kMR) {
  constexpr int64_t es = elem_bytes<T>();
  const int64_t a_k = L == ALayout::packed ? kMR
                      : L == ALayout::cols ? a_ld
                                           : 1;  // a[i][k]: k * a_k + i * a_i
  const int64_t a_i = L == ALayout::rows ? a_ld : 1;
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
      const V a = vset1(ap[k * a_k + i * a_i]);
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

// Rows [m_begin, m_end) (m_begin a multiple of kMR) x panels [p_begin, p_end), A packed by pack_a
// (or read in place from g.a, g.lda: see micro_tile).
// K runs in slices of kKC: per slice, one panel slice (kKC x kNR) stays in L1 while the block's row
// tiles stream from L2; partial sums wait in `partial` between slices.
template <WType T, ALayout L = ALayout::packed>
void gemm_block_t(const GemmArgs& g, const float* a_packed, int64_t m_begin, int64_t m_end, int64_t p_begin,
                  int64_t p_end, float* partial) {
  const PackedMatrix& w = *g.w;
  const int64_t k_dim = w.k;
  const int64_t t_begin = m_begin / kMR;
  const int64_t n_tiles = (m_end - m_begin + kMR - 1) / kMR;
  const int64_t n_panels = p_end - p_begin;
  const int64_t a_ld = L == ALayout::packed ? kMR : g.lda;
  for (int64_t k0 = 0; k0 < k_dim; k0 += kKC) {
    const int64_t kc = min64(kKC, k_dim - k0);
    const auto a_slice = [&](int64_t t, int64_t k) {
      if (L == ALayout::cols) return reinterpret_cast<const uint8_t*>(g.a + (t_begin + t) * kMR + k * a_ld);
      if (L == ALayout::rows) return reinterpret_cast<const uint8_t*>(g.a + (t_begin + t) * kMR * a_ld + k);
      return reinterpret_cast<const uint8_t*>(a_packed + (t_begin + t) * kMR * k_dim + k * kMR);
    };
    // Per k step the next A tile reads a_stride bytes further (rows: its first row only).
    const int64_t a_stride = L == ALayout::rows ? 4 : a_ld * 4, b_stride = kNR * elem_bytes<T>();
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
        micro_tile<T, L>(reinterpret_cast<const float*>(a_slice(t, k0)), bp, kc,
                         partial + (p * n_tiles + t) * kMR * kNR, k0 == 0, pf, pf_stride,
                         direct ? &g : nullptr, m0, n0, a_ld);
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

// gemm_block with A read in place (f32 panels only): A[i][k] = g.a[k * g.lda + i] (transposed) or
// g.a[i * g.lda + k].
void gemm_block_inplace(const GemmArgs& g, bool transposed, int64_t m_begin, int64_t m_end, int64_t p_begin,
                        int64_t p_end, float* partial) {
  if (g.w->nr != kNR || m_begin % kMR != 0 || g.w->type != WType::f32) __builtin_trap();  // caller bug
  if (transposed)
    gemm_block_t<WType::f32, ALayout::cols>(g, nullptr, m_begin, m_end, p_begin, p_end, partial);
  else
    gemm_block_t<WType::f32, ALayout::rows>(g, nullptr, m_begin, m_end, p_begin, p_end, partial);
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

constexpr int kBK = kAttnBlock;  // keys per block: a multiple of every build's kMR (4, 6, 14)
static_assert(kBK % kMR == 0, "attention key blocks are whole micro-tiles of keys");

// Scratch of one call: query panels, the key/value block (rows copied as they are), one panel of
// scores, the output (transposed, per panel) and per-query state. Offsets in floats, each 64-byte
// aligned.
struct AttnLayout {
  int64_t rows, panels;  // query rows (positions x heads), panels of kNR queries
  int64_t qp, kb, vb, sp, ot, mrow, lrow, pos, corr, total;
};
SP_INLINE AttnLayout attn_layout(int64_t n_query_rows, int head_dim, int n_rep) {
  AttnLayout l{};
  l.rows = n_query_rows * n_rep;
  l.panels = (l.rows + kNR - 1) / kNR;
  const int64_t mp = l.panels * kNR;
  int64_t at = 0;
  auto take = [&](int64_t n) {
    const int64_t o = at;
    at += round_up(n, 16);
    return o;
  };
  l.qp = take(l.panels * head_dim * kNR);
  l.kb = take(int64_t{kBK} * head_dim);
  l.vb = take(int64_t{kBK} * head_dim);
  l.sp = take(int64_t{kBK} * kNR);
  l.ot = take(l.panels * head_dim * kNR);
  l.mrow = take(mp);
  l.lrow = take(mp);
  l.pos = take(mp);
  l.corr = take(mp);
  l.total = at + 16;  // + room to align the base to 64 bytes
  return l;
}

size_t attention_scratch_floats(int64_t n_query_rows, int head_dim, int n_rep) {
  return static_cast<size_t>(attn_layout(n_query_rows, head_dim, n_rep).total);
}

// Keys j0 .. j0 + nj of the block, copied row by row (kb, vb: kBK rows of D floats, contiguous, so
// the block stays in cache for all panels; the qkv rows themselves are a whole qkv row apart). Key
// rows past nj are zero (the last key tile may read them; their scores are never used).
SP_INLINE void copy_kv_block(const AttnArgs& a, int64_t j0, int64_t nj, float* kb, float* vb) {
  const int d_dim = a.head_dim;
  for (int64_t j = 0; j < nj; ++j) {
    const int64_t p = j0 + j;
    const float* krow =
        p < a.n_prefix ? a.k_prefix + p * a.kv_stride : a.k_own + (p - a.n_prefix) * a.kv_stride;
    const float* vrow =
        p < a.n_prefix ? a.v_prefix + p * a.kv_stride : a.v_own + (p - a.n_prefix) * a.kv_stride;
    int d = 0;
    for (; d + kLanes <= d_dim; d += kLanes) {
      vstore(kb + j * d_dim + d, vload(krow + d));
      vstore(vb + j * d_dim + d, vload(vrow + d));
    }
    if (d < d_dim) {
      vstore_n(kb + j * d_dim + d, vload_n(krow + d, d_dim - d), d_dim - d);
      vstore_n(vb + j * d_dim + d, vload_n(vrow + d, d_dim - d), d_dim - d);
    }
  }
  for (int64_t j = nj; j < round_up(nj, kMR) && j < kBK; ++j)
    for (int d = 0; d < d_dim; ++d) kb[j * d_dim + d] = 0.0f;
}

// One tile of an attention product, the GEMM micro-kernel's register blocking for MR rows:
// acc(i, :) = sum_k a(i, k) * bp[k][:], one fma chain over k ascending from zero, where a(i, k) is
// a[k * a_ks + i * a_is] (keys as rows: a_ks = 1, a_is = D; values transposed: a_ks = D, a_is = 1).
// Then per row i of C (kNR floats apart): C = acc, or with `cs` (the online softmax's correction per
// query lane) C = C * cs + acc: the same two roundings as rescaling C first and adding acc after.
// `pf`: bytes the next tile reads first, one line per k step into L1 (null: none).
// With `se` (scores, QK^T): C = s = acc * scale, -inf where the key (row i, position key0 + i) follows
// the query (lane position), and se->bmax = vmax(se->bmax, s) per row in order: the first pass of
// the online softmax, done while the tile is in registers.
struct ScoreEpilogue {
  V scale;
  V pos[kNV];  // query positions of the panel's lanes
  float key0;  // position of the tile's first key
  bool masked;
  V bmax[kNV];
};

template <int MR>
SP_INLINE void attn_tile(const float* a, int64_t a_ks, int64_t a_is, const float* bp, int64_t kc, float* c,
                         const V* cs, const char* pf, ScoreEpilogue* se = nullptr) {
  V acc[MR][kNV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < kNV; ++v) acc[i][v] = vzero();
  for (int64_t k = 0; k < kc; ++k) {
    V b[kNV];
#pragma GCC unroll 16
    for (int v = 0; v < kNV; ++v) b[v] = vload(bp + k * kNR + v * kLanes);
    if (pf) __builtin_prefetch(pf + k * 64, 0, 3);
    const float* ak = a + k * a_ks;
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const V av = vset1(ak[i * a_is]);
#pragma GCC unroll 16
      for (int v = 0; v < kNV; ++v) acc[i][v] = vfma(av, b[v], acc[i][v]);
    }
  }
  if (se) {
    const V minus_inf = vset1(-__builtin_inff());
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const V key = vset1(se->key0 + static_cast<float>(i));
#pragma GCC unroll 16
      for (int v = 0; v < kNV; ++v) {
        V x = vmul(acc[i][v], se->scale);
        if (se->masked) x = vselect(vlt(se->pos[v], key), minus_inf, x);
        vstore(c + i * kNR + v * kLanes, x);
        se->bmax[v] = vmax(se->bmax[v], x);
      }
    }
    return;
  }
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < kNV; ++v) {
      float* cp = c + i * kNR + v * kLanes;
      vstore(cp, cs ? vadd(vmul(vload(cp), cs[v]), acc[i][v]) : acc[i][v]);
    }
}

// attn_tile for a run-time row count 1 <= rows <= kMR.
template <int R = kMR>
SP_INLINE void attn_tile_rows(int rows, const float* a, int64_t a_ks, int64_t a_is, const float* bp,
                              int64_t kc, float* c, const V* cs, const char* pf) {
  if constexpr (R > 0) {
    if (rows == R) {
      attn_tile<R>(a, a_ks, a_is, bp, kc, c, cs, pf);
    } else {
      attn_tile_rows<R - 1>(rows, a, a_ks, a_is, bp, kc, c, cs, pf);
    }
  }
}

// Head dimensions as PV row tiles: `full` whole kMR tiles, then up to two short ones. A remainder
// shorter than kMR / 2 is merged with the last whole tile into two tiles of about equal size (a tile
// of few rows keeps too few fma chains in flight). Tiles do not change results (one chain per element).
struct HeadDimTiles {
  int full = 0;
  int tail[2] = {0, 0};
};
SP_INLINE HeadDimTiles head_dim_tiles(int d_dim) {
  HeadDimTiles t;
  t.full = d_dim / kMR;
  const int rem = d_dim % kMR;
  t.tail[0] = rem;
  if (rem > 0 && rem < kMR / 2 && t.full > 0) {
    --t.full;
    t.tail[0] = (kMR + rem) / 2;
    t.tail[1] = kMR + rem - t.tail[0];
  }
  return t;
}

// Second pass of the online softmax for one panel (keys in rows, kNR queries in lanes), keys
// [0, njp) of the block, whose scaled and masked scores s and their maximum per query (`bmax`, from
// the QK^T tiles' ScoreEpilogue) are known: m' = max(m, bmax); c = exp(m - m'); p_j = exp(s_j - m')
// (in place); l = fma(l, c, sum_j p_j) with the block sum taken over j ascending. Writes m', l and
// c (corr) of the panel's queries.
SP_INLINE void attn_panel_softmax(float* st, int64_t njp, const V* bmax, float* mrow, float* lrow,
                                  float* corr) {
  for (int u = 0; u < kNV; ++u) {
    const V m_old = vload(mrow + u * kLanes);
    const V m_new = vmax(m_old, bmax[u]);
    const V c = vexp_nonpos(vsub(m_old, m_new));
    V lblk = vzero();
    for (int64_t j = 0; j < njp; ++j) {
      float* sp = st + j * kNR + u * kLanes;
      const V p = vexp_nonpos(vsub(vload(sp), m_new));
      vstore(sp, p);
      lblk = vadd(lblk, p);
    }
    vstore(mrow + u * kLanes, m_new);
    vstore(lrow + u * kLanes, vfma(vload(lrow + u * kLanes), c, lblk));
    vstore(corr + u * kLanes, c);
  }
}

// Flash-style causal attention (FlashAttention-2 forward) on the GEMM micro-kernel, see AttnArgs.
// Queries (n_rep heads x positions, position-major) form GEMM B panels of kNR queries; each key block
// of kBK keys (aligned to position 0) is copied once (rows as they are), and per panel:
//   S^T (kBK, kNR) = K_blk Q_panel^T        attn_tile per kMR keys, chain over d ascending
//   online softmax in place (queries in lanes, see attn_panel_softmax)
//   O^T (D, kNR) = O^T * c + V_blk^T P^T    attn_tile per head-dim tile: chain over the block's keys
//                                           ascending, then added to the rescaled O^T
// Panels whose last query precedes the block are skipped, and a panel reads only the keys up to its
// last query (trailing masked keys would add exact zeros). Finally out = O / l (and lse = m + log l).
// Every query's numbers are its own column of these products: they never depend on which queries
// share the call, on the ISA, or on the thread split. Memory is O(queries x head_dim).
void attention(const AttnArgs& a, float* scratch_in) {
  const int d_dim = a.head_dim;
  const int n_rep = a.n_rep;
  const AttnLayout lay = attn_layout(a.q_end - a.q_begin, d_dim, n_rep);
  float* scratch = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch_in) + 63) & ~uintptr_t{63});
  float* qp = scratch + lay.qp;      // (panels, D, kNR): queries as B panels
  float* kb = scratch + lay.kb;      // (kBK, D) keys of the block
  float* vb = scratch + lay.vb;      // (kBK, D) values of the block
  float* st = scratch + lay.sp;      // (kBK, kNR) scores, then probabilities, of one panel
  float* ot = scratch + lay.ot;      // (panels, D, kNR) output^T
  float* mrow = scratch + lay.mrow;  // per query: running max, denominator, position, correction
  float* lrow = scratch + lay.lrow;
  float* pos = scratch + lay.pos;
  float* corr = scratch + lay.corr;
  const int64_t rows = lay.rows;
  const int64_t first_pos = a.n_prefix + a.q_begin;
  const int64_t last_pos = a.n_prefix + a.q_end - 1;
  const HeadDimTiles dtiles = head_dim_tiles(d_dim);
  for (int64_t m = 0; m < lay.panels * kNR; ++m) {
    const bool real = m < rows;
    const float* src = real ? a.q + (a.q_begin + m / n_rep) * a.q_stride + (m % n_rep) * d_dim : nullptr;
    float* dst = qp + (m / kNR) * d_dim * kNR + m % kNR;
    for (int d = 0; d < d_dim; ++d) dst[d * kNR] = real ? src[d] : 0.0f;
    // Padding queries see every key (finite, ignored): no -inf - -inf anywhere.
    pos[m] = static_cast<float>(real ? first_pos + m / n_rep : last_pos);
    mrow[m] = -__builtin_inff();
    lrow[m] = 0.0f;
  }
  for (int64_t i = 0; i < lay.panels * d_dim * kNR; ++i) ot[i] = 0.0f;

  for (int64_t j0 = 0; j0 <= last_pos; j0 += kBK) {
    const int64_t nj = min64(kBK, last_pos + 1 - j0);
    copy_kv_block(a, j0, nj, kb, vb);
    // Panels whose last query precedes the block see none of it.
    const int64_t m_first = j0 > first_pos ? (j0 - first_pos) * n_rep : 0;
    for (int64_t panel = m_first / kNR; panel < lay.panels; ++panel) {
      const int64_t q0 = panel * kNR;
      const float panel_last = pos[min64(q0 + kNR, rows) - 1];
      const int64_t njp = min64(nj, static_cast<int64_t>(panel_last) + 1 - j0);
      const float* qpanel = qp + panel * d_dim * kNR;
      const int64_t key_tiles = (njp + kMR - 1) / kMR;
      // Scores of the panel's queries, scaled, masked where the key follows the query (and past njp:
      // those keys follow every query), and their maximum per query.
      ScoreEpilogue se;
      se.scale = vset1(a.scale);
      se.masked = !(njp == kBK && pos[q0] >= static_cast<float>(j0 + kBK - 1));
      for (int u = 0; u < kNV; ++u) {
        se.pos[u] = vload(pos + q0 + u * kLanes);
        se.bmax[u] = vset1(-__builtin_inff());
      }
      for (int64_t t = 0; t < key_tiles; ++t) {
        const float* ktile = kb + t * kMR * d_dim;
        const char* pf = reinterpret_cast<const char*>(t + 1 < key_tiles ? ktile + kMR * d_dim : vb);
        se.key0 = static_cast<float>(j0 + t * kMR);
        attn_tile<kMR>(ktile, 1, d_dim, qpanel, d_dim, st + t * kMR * kNR, nullptr, pf, &se);
      }
      attn_panel_softmax(st, njp, se.bmax, mrow + q0, lrow + q0, corr + q0);
      float* opanel = ot + panel * d_dim * kNR;
      V c[kNV];
      for (int u = 0; u < kNV; ++u) c[u] = vload(corr + q0 + u * kLanes);
      int d0 = 0;
      for (int t = 0; t < dtiles.full; ++t, d0 += kMR)
        attn_tile<kMR>(vb + d0, d_dim, 1, st, njp, opanel + d0 * kNR, c, nullptr);
      for (int x : dtiles.tail) {
        if (x == 0) continue;
        attn_tile_rows(x, vb + d0, d_dim, 1, st, njp, opanel + d0 * kNR, c, nullptr);
        d0 += x;
      }
    }
  }
  // out = O / l: divided in place a panel row at a time (queries in lanes), then scattered to the rows.
  for (int64_t panel = 0; panel < lay.panels; ++panel) {
    float* opanel = ot + panel * d_dim * kNR;
    V l[kNV];
    for (int u = 0; u < kNV; ++u) l[u] = vload(lrow + panel * kNR + u * kLanes);
    for (int d = 0; d < d_dim; ++d)
      for (int u = 0; u < kNV; ++u)
        vstore(opanel + d * kNR + u * kLanes, vdiv(vload(opanel + d * kNR + u * kLanes), l[u]));
  }
  for (int64_t m = 0; m < rows; ++m) {
    const float* o = ot + (m / kNR) * d_dim * kNR + m % kNR;
    float* dst = a.out + (a.q_begin + m / n_rep) * a.out_stride + (m % n_rep) * d_dim;
    for (int d = 0; d < d_dim; ++d) dst[d] = o[d * kNR];
    if (a.lse) a.lse[(a.q_begin + m / n_rep) * a.lse_stride + m % n_rep] = mrow[m] + __builtin_logf(lrow[m]);
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

// ---------------------------------------------------------------- attention backward

// The FlashAttention-2 backward's elementwise step on one block of scores (kernels/attention.cpp):
// rows [0, rows) of s and dp (ld floats apart), `cols` keys, row r seeing its first
// clamp(visible0 + r / n_rep, 0, cols) keys:
//   s  <- p  = exp(s * scale - lse[r]) on the visible keys, 0 on the others
//   dp <- ds = p * (dp - delta[r]) * scale on the visible keys, 0 on the others (whole vectors of
//             masked keys are not read: the caller may leave them uncomputed)
// Elementwise IEEE operations in this order (no fused multiply-add): the same bits in every build.
void attn_backward_rows(float* s, float* dp, int64_t ld, int64_t rows, int64_t cols, int64_t visible0,
                        int n_rep, const float* lse, const float* delta, float scale_f) {
  const V scale = vset1(scale_f);
  const auto load = [](const float* p, int n) { return n == kLanes ? vload(p) : vload_n(p, n); };
  const auto store = [](float* p, V a, int n) { n == kLanes ? vstore(p, a) : vstore_n(p, a, n); };
  for (int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * ld;
    float* dr = dp + r * ld;
    const int64_t visible = visible0 + r / n_rep < 0 ? 0 : min64(visible0 + r / n_rep, cols);
    const V l = vset1(lse[r]), dl = vset1(delta[r]);
    int64_t j = 0;
    for (; j + kLanes <= visible; j += kLanes) {
      const V p = vexp(vsub(vmul(vload(sr + j), scale), l));
      vstore(sr + j, p);
      vstore(dr + j, vmul(vmul(p, vsub(vload(dr + j), dl)), scale));
    }
    if (j < visible) {  // the vector of the last visible keys
      const int n = static_cast<int>(min64(kLanes, cols - j));
      store(sr + j, vexp(vsub(vmul(load(sr + j, n), scale), l)), n);
      for (int64_t c = visible; c < j + n; ++c) sr[c] = 0.0f;
      store(dr + j, vmul(vmul(load(sr + j, n), vsub(load(dr + j, n), dl)), scale), n);
      j += n;
    }
    // Masked keys: p = 0 and ds = 0 without reading s and dp (their products may be skipped). A
    // zero's sign never shows in the gradients: every chain they enter starts at +0 or is non-zero.
    for (; j < cols; j += kLanes) {
      const int n = static_cast<int>(min64(kLanes, cols - j));
      store(sr + j, vzero(), n);
      store(dr + j, vzero(), n);
    }
  }
}

}  // namespace
