// The attention backward pass on GEMMs (see attention.h).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "synpref/common/check.h"

namespace synpref::kernels {

namespace {

// dst[d] += src[d], non-overlapping (fixed-width chunks: vectorized at -O2).
void add_to(float* __restrict dst, const float* __restrict src, int64_t n) {
  int64_t d = 0;
  for (; d + 16 <= n; d += 16)
    for (int u = 0; u < 16; ++u) dst[d + u] += src[d + u];
  for (; d < n; ++d) dst[d] += src[d];
}

// delta[m] = sum_d a[m][d] * b[m][d] for rows of n floats, one fused multiply-add chain per row (d
// ascending), 8 rows interleaved (independent chains keep the FMA units busy).
void row_dots(float* delta, const float* a, const float* b, int64_t rows, int64_t n) {
  constexpr int64_t kRows = 8;
  int64_t m = 0;
  for (; m + kRows <= rows; m += kRows) {
    float acc[kRows] = {};
    for (int64_t d = 0; d < n; ++d)
      for (int64_t u = 0; u < kRows; ++u) acc[u] = std::fma(a[(m + u) * n + d], b[(m + u) * n + d], acc[u]);
    for (int64_t u = 0; u < kRows; ++u) delta[m + u] = acc[u];
  }
  for (; m < rows; ++m) {
    float acc = 0.0f;
    for (int64_t d = 0; d < n; ++d) acc = std::fma(a[m * n + d], b[m * n + d], acc);
    delta[m] = acc;
  }
}

}  // namespace

// One run's arguments, shapes and operands, shared by its steps.
struct AttentionBackward::Call {
  // Arguments (see run).
  float *dqkv_own, *dqkv_prefix;
  const float *dout, *qkv_own, *qkv_prefix, *out, *lse;
  int64_t dout_stride, n_prefix, W, lse_stride, g;
  float scale;
  // Shapes.
  int64_t D, n_rep, nr, mr;
  int64_t n_keys;               // keys visible to the last query row
  int64_t k_col, v_col, q_col;  // the kv head's columns in a qkv row, its first query head's
  int64_t d_panels, kt_floats;  // panels of head dims; floats per packed K^T block
  int64_t block_rows;           // query rows of one query block (kQueryBlock x n_rep)
  // Per call: keys and values (n_keys, D), their gradients, K and V as B panels (rows = keys), K^T
  // per key block as B panels, and the S/P and dP/dS of a tile ((rows, kb), kKeyBlock floats apart).
  float *K, *V, *dK, *dV, *pk, *pv, *kt, *S, *dS;
  // Per query tile: own rows [c0, c1), M = (c1 - c0) x n_rep query rows ((own row, head) pairs,
  // row-major), nk keys visible to its last row, its query blocks; Q, dO, O, lse and Delta of its
  // rows; Q and dO as A tiles; per query block Q^T and dO^T as B panels (bt_floats apart); dQ.
  int64_t c0, c1, M, nk, n_blocks, bt_floats;
  float *Q, *dO, *O, *L, *delta, *qa, *doa, *pq, *pdo, *dQ;
};

void AttentionBackward::run(const KernelSet* ks, float* dqkv_own, float* dqkv_prefix, const float* dout,
                            int64_t dout_stride, const float* qkv_own, const float* qkv_prefix, int64_t n_own,
                            int64_t n_prefix, int64_t W, const ops::AttnDims& dims, float scale, int64_t g,
                            int64_t q_begin, int64_t q_end, const float* out, const float* lse,
                            int64_t lse_stride) {
  SP_CHECK(0 <= q_begin && q_begin <= q_end && q_end <= n_own);
  if (q_begin == q_end) return;
  Call c{};
  c.dqkv_own = dqkv_own;
  c.dqkv_prefix = dqkv_prefix;
  c.dout = dout;
  c.qkv_own = qkv_own;
  c.qkv_prefix = qkv_prefix;
  c.out = out;
  c.lse = lse;
  c.dout_stride = dout_stride;
  c.n_prefix = n_prefix;
  c.W = W;
  c.lse_stride = lse_stride;
  c.g = g;
  c.scale = scale;
  const int64_t Hq = dims.n_head, Hkv = dims.n_head_kv;
  c.D = dims.head_dim;
  c.n_rep = Hq / Hkv;
  c.nr = ks->nr;
  c.mr = ks->mr;
  c.n_keys = n_prefix + q_end;
  c.k_col = (Hq + g) * c.D;
  c.v_col = (Hq + Hkv + g) * c.D;
  c.q_col = g * c.n_rep * c.D;
  c.d_panels = (c.D + c.nr - 1) / c.nr;
  c.kt_floats = c.d_panels * kKeyBlock * c.nr;
  c.block_rows = kQueryBlock * c.n_rep;
  load_keys(ks, c);
  for (int64_t c0 = q_begin; c0 < q_end; c0 += kQueryTile) {
    load_query_tile(ks, c, c0, std::min(q_end, c0 + kQueryTile));
    for (int64_t j0 = 0; j0 < c.nk; j0 += kKeyBlock) key_block(ks, c, j0);
    for (int64_t i = c.c0; i < c.c1; ++i)
      for (int64_t r = 0; r < c.n_rep; ++r)
        add_to(dqkv_own + i * W + c.q_col + r * c.D, c.dQ + ((i - c.c0) * c.n_rep + r) * c.D, c.D);
  }
  // Key/value gradients back into the context's and the own rows' k/v columns.
  for (int64_t j = 0; j < c.n_keys; ++j) {
    float* row = j < n_prefix ? dqkv_prefix + j * W : dqkv_own + (j - n_prefix) * W;
    add_to(row + c.k_col, c.dK + j * c.D, c.D);
    add_to(row + c.v_col, c.dV + j * c.D, c.D);
  }
}

// The head's keys and values (contiguous), their zeroed gradients, K and V as B panels, K^T per key
// block as B panels, and the tile buffers.
void AttentionBackward::load_keys(const KernelSet* ks, Call& c) {
  const int64_t D = c.D, nr = c.nr, n_keys = c.n_keys;
  const size_t row_bytes = static_cast<size_t>(D) * sizeof(float);
  c.K = k_.get(static_cast<size_t>(n_keys * D));
  c.V = v_.get(static_cast<size_t>(n_keys * D));
  c.dK = dk_.get(static_cast<size_t>(n_keys * D));
  c.dV = dv_.get(static_cast<size_t>(n_keys * D));
  for (int64_t j = 0; j < n_keys; ++j) {
    const float* row = j < c.n_prefix ? c.qkv_prefix + j * c.W : c.qkv_own + (j - c.n_prefix) * c.W;
    std::memcpy(c.K + j * D, row + c.k_col, row_bytes);
    std::memcpy(c.V + j * D, row + c.v_col, row_bytes);
  }
  std::memset(c.dK, 0, static_cast<size_t>(n_keys) * row_bytes);
  std::memset(c.dV, 0, static_cast<size_t>(n_keys) * row_bytes);
  // Key block [j0, j0 + kb) of K and V is panels j0 / nr on (j0 is a multiple of kKeyBlock, itself a
  // multiple of every build's panel width).
  SP_CHECK(kKeyBlock % nr == 0);
  const int64_t key_panels = (n_keys + nr - 1) / nr;
  c.pk = packed_k_.get(static_cast<size_t>(key_panels * D * nr));
  c.pv = packed_v_.get(static_cast<size_t>(key_panels * D * nr));
  pack_rows_panels(c.pk, static_cast<int>(nr), c.K, D, n_keys, D, 0, key_panels);
  pack_rows_panels(c.pv, static_cast<int>(nr), c.V, D, n_keys, D, 0, key_panels);
  // K^T of key block b (D, kb): B of dQ = dS K_blk, at kt + b * kt_floats.
  const int64_t n_key_blocks = (n_keys + kKeyBlock - 1) / kKeyBlock;
  c.kt = packed_kt_.get(static_cast<size_t>(n_key_blocks * c.kt_floats));
  for (int64_t b = 0; b < n_key_blocks; ++b) {
    const int64_t kb = std::min(kKeyBlock, n_keys - b * kKeyBlock);
    pack_cols_steps(c.kt + b * c.kt_floats, static_cast<int>(nr), c.K + b * kKeyBlock * D, D, D, kb, 0, kb);
  }
  // S/P and dP/dS, plus the padding the in-place A operands read past the last row (dK/dV: columns
  // past kb of the last row; dQ: rows up to a multiple of mr). Zeroed when allocated: the reads past
  // the written rows and columns see finite numbers.
  SP_CHECK(c.mr <= 16);
  const size_t sd_floats = static_cast<size_t>((kQueryTile * c.n_rep + 16) * kKeyBlock);
  const bool grow = s_.size() < sd_floats || dp_.size() < sd_floats;
  c.S = s_.get(sd_floats);
  c.dS = dp_.get(sd_floats);
  if (grow) {
    std::memset(c.S, 0, sd_floats * sizeof(float));
    std::memset(c.dS, 0, sd_floats * sizeof(float));
  }
}

// Own rows [c0, c1): their queries, output gradients, outputs and lse (saved, else recomputed),
// Delta, and the packed operands that every key block reads.
void AttentionBackward::load_query_tile(const KernelSet* ks, Call& c, int64_t c0, int64_t c1) {
  const int64_t D = c.D, n_rep = c.n_rep, nr = c.nr, mr = c.mr;
  const size_t row_bytes = static_cast<size_t>(D) * sizeof(float);
  c.c0 = c0;
  c.c1 = c1;
  c.M = (c1 - c0) * n_rep;
  c.nk = c.n_prefix + c1;
  c.n_blocks = (c1 - c0 + kQueryBlock - 1) / kQueryBlock;
  const int64_t M = c.M;
  c.Q = q_.get(static_cast<size_t>(M * D));
  c.dO = dout_.get(static_cast<size_t>(M * D));
  c.O = o_.get(static_cast<size_t>(M * D));
  c.L = lse_.get(static_cast<size_t>(M));
  c.delta = delta_.get(static_cast<size_t>(M));
  for (int64_t i = c0; i < c1; ++i) {
    for (int64_t r = 0; r < n_rep; ++r) {
      const int64_t m = (i - c0) * n_rep + r;
      std::memcpy(c.Q + m * D, c.qkv_own + i * c.W + c.q_col + r * D, row_bytes);
      std::memcpy(c.dO + m * D, c.dout + i * c.dout_stride + c.q_col + r * D, row_bytes);
      if (c.out) {
        std::memcpy(c.O + m * D, c.out + i * c.dout_stride + c.q_col + r * D, row_bytes);
        c.L[m] = c.lse[i * c.lse_stride + c.g * n_rep + r];
      }
    }
  }
  if (!c.out) {  // rerun the forward for this tile: O (M, D) and its log-sum-exp
    AttnArgs a;
    a.k_prefix = c.qkv_prefix ? c.qkv_prefix + c.k_col : nullptr;
    a.v_prefix = c.qkv_prefix ? c.qkv_prefix + c.v_col : nullptr;
    a.n_prefix = c.n_prefix;
    a.k_own = c.qkv_own + c.k_col;
    a.v_own = c.qkv_own + c.v_col;
    a.kv_stride = c.W;
    a.q = c.qkv_own + c.q_col;
    a.q_stride = c.W;
    a.out = c.O - c0 * n_rep * D;
    a.out_stride = n_rep * D;
    a.q_begin = c0;
    a.q_end = c1;
    a.head_dim = static_cast<int>(D);
    a.n_rep = static_cast<int>(n_rep);
    a.scale = c.scale;
    a.lse = c.L - c0 * n_rep;
    a.lse_stride = n_rep;
    ks->attention(a, attn_scratch_.get(ks->attention_scratch_floats(kQueryTile, static_cast<int>(D),
                                                                    static_cast<int>(n_rep))));
  }
  // Delta = rowsum(dO * O) (= rowsum(P * dP)), d ascending.
  row_dots(c.delta, c.dO, c.O, M, D);
  // Q and dO as A tiles (S, dP); per query block, Q^T and dO^T as B panels (dK, dV).
  const int64_t a_floats = (M + mr - 1) / mr * mr * D;
  c.qa = packed_a_.get(static_cast<size_t>(2 * a_floats));
  c.doa = c.qa + a_floats;
  ks->pack_a(c.Q, D, M, D, c.qa);
  ks->pack_a(c.dO, D, M, D, c.doa);
  c.bt_floats = c.d_panels * c.block_rows * nr;
  c.pq = packed_.get(static_cast<size_t>(2 * c.n_blocks * c.bt_floats));
  c.pdo = c.pq + c.n_blocks * c.bt_floats;
  for (int64_t b = 0; b < c.n_blocks; ++b) {
    const int64_t r0 = b * c.block_rows, mb = std::min(c.block_rows, M - r0);
    pack_cols_steps(c.pq + b * c.bt_floats, static_cast<int>(nr), c.Q + r0 * D, D, D, mb, 0, mb);
    pack_cols_steps(c.pdo + b * c.bt_floats, static_cast<int>(nr), c.dO + r0 * D, D, D, mb, 0, mb);
  }
  c.dQ = dq_.get(static_cast<size_t>(M * D));
}

// Keys [j0, j0 + kb) against the query tile: the five products, key blocks in order.
void AttentionBackward::key_block(const KernelSet* ks, Call& c, int64_t j0) {
  const int64_t D = c.D, n_rep = c.n_rep, nr = c.nr, mr = c.mr, M = c.M;
  const int64_t kb = std::min(kKeyBlock, c.nk - j0);
  // Query blocks before b_first end before the key block: they skip it (as in a query block, keys
  // past its last row are not visited). S and dP start at the row tile holding r_first.
  const int64_t b_first = std::max<int64_t>(0, j0 - c.n_prefix - c.c0) / kQueryBlock;
  const int64_t r_first = b_first * c.block_rows, m_lo = r_first / mr * mr;
  // Row blocks of 8 tiles compute only the keys their last row sees (in the key block on the
  // diagonal the rest is masked: P and dS are zero there, written by attn_backward_rows).
  const int64_t rb = 8 * mr;
  const auto keys_seen = [&](int64_t row_end) {  // by row row_end - 1
    return std::clamp<int64_t>(c.n_prefix + c.c0 + (row_end - 1) / n_rep + 1 - j0, 0, kb);
  };
  float* part = scratch_.get(ks->gemm_scratch_floats(rb, kKeyBlock / nr));
  // S = Q K_blk^T and dP = dO V_blk^T (up to the panel of the last key seen), then P and dS in
  // place.
  const auto k_view = packed_view(static_cast<int>(nr), kb, D, c.pk + (j0 / nr) * D * nr);
  const auto v_view = packed_view(static_cast<int>(nr), kb, D, c.pv + (j0 / nr) * D * nr);
  for (int64_t r0 = m_lo; r0 < M; r0 += rb) {
    const int64_t r1 = std::min(M, r0 + rb), keys = keys_seen(r1);
    if (keys == 0) continue;
    const int64_t p_end = (keys + nr - 1) / nr;
    ks->gemm_block(GemmArgs{nullptr, D, &k_view, nullptr, c.S, kKeyBlock, M, false}, c.qa, r0, r1, 0, p_end,
                   part);
    ks->gemm_block(GemmArgs{nullptr, D, &v_view, nullptr, c.dS, kKeyBlock, M, false}, c.doa, r0, r1, 0, p_end,
                   part);
  }
  ks->attn_backward_rows(c.S + r_first * kKeyBlock, c.dS + r_first * kKeyBlock, kKeyBlock, M - r_first, kb,
                         c.n_prefix + c.c0 + r_first / n_rep + 1 - j0, static_cast<int>(n_rep), c.L + r_first,
                         c.delta + r_first, c.scale);
  // dQ (+)= dS K_blk (B = K_blk^T, A = dS read in place) for the rows from r_first; a row block's
  // chains stop at the last key it sees (the masked rest would add exact zeros). The packed K^T
  // block holds the call's keys (kb_packed >= kb): one view per panel of head dims.
  const int64_t kb_packed = std::min(kKeyBlock, c.n_keys - j0);
  float* kt = c.kt + (j0 / kKeyBlock) * c.kt_floats;
  for (int64_t r0 = r_first; r0 < M; r0 += rb) {
    const int64_t r1 = std::min(M, r0 + rb), keys = keys_seen(r1);
    if (keys == 0) continue;  // never for j0 = 0 (every row sees key 0)
    for (int64_t p = 0; p < c.d_panels; ++p) {
      const auto view =
          packed_view(static_cast<int>(nr), std::min(nr, D - p * nr), keys, kt + p * kb_packed * nr);
      ks->gemm_block_inplace(GemmArgs{c.dS + r0 * kKeyBlock, kKeyBlock, &view, nullptr,
                                      c.dQ + r0 * D + p * nr, D, r1 - r0, j0 > 0},
                             false, 0, r1 - r0, 0, 1, part);
    }
  }
  // Per query block, in order: dK_blk += dS^T Q and dV_blk += P^T dO over the block's rows (A read
  // in place from dS and P), for the keys up to the block's last row.
  for (int64_t b = b_first; b < c.n_blocks; ++b) {
    const int64_t r0 = b * c.block_rows, mb = std::min(c.block_rows, M - r0);
    const int64_t kb_b = std::min(kb, c.n_prefix + std::min(c.c1, c.c0 + (b + 1) * kQueryBlock) - j0);
    const auto q_view = packed_view(static_cast<int>(nr), D, mb, c.pq + b * c.bt_floats);
    const auto do_view = packed_view(static_cast<int>(nr), D, mb, c.pdo + b * c.bt_floats);
    gemm_serial_inplace(
        ks, GemmArgs{c.dS + r0 * kKeyBlock, kKeyBlock, &q_view, nullptr, c.dK + j0 * D, D, kb_b, true}, true,
        scratch_);
    gemm_serial_inplace(
        ks, GemmArgs{c.S + r0 * kKeyBlock, kKeyBlock, &do_view, nullptr, c.dV + j0 * D, D, kb_b, true}, true,
        scratch_);
  }
}

}  // namespace synpref::kernels
