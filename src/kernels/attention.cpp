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

void AttentionBackward::run(const KernelSet* ks, float* dqkv_own, float* dqkv_prefix, const float* dout,
                            int64_t dout_stride, const float* qkv_own, const float* qkv_prefix, int64_t n_own,
                            int64_t n_prefix, int64_t W, const ops::AttnDims& dims, float scale, int64_t g,
                            int64_t q_begin, int64_t q_end, const float* out, const float* lse,
                            int64_t lse_stride) {
  SP_CHECK(0 <= q_begin && q_begin <= q_end && q_end <= n_own);
  if (q_begin == q_end) return;
  const int64_t D = dims.head_dim, Hq = dims.n_head, Hkv = dims.n_head_kv, n_rep = Hq / Hkv;
  const int nr = ks->nr;
  const int64_t n_keys = n_prefix + q_end;  // keys visible to the last query row
  const int64_t k_col = (Hq + g) * D, v_col = (Hq + Hkv + g) * D, q_col = g * n_rep * D;
  auto key_row = [&](int64_t j) { return j < n_prefix ? qkv_prefix + j * W : qkv_own + (j - n_prefix) * W; };

  // Keys and values of this kv head, contiguous (n_keys, D); their gradients start at zero.
  float* K = k_.get(static_cast<size_t>(n_keys * D));
  float* V = v_.get(static_cast<size_t>(n_keys * D));
  float* dK = dk_.get(static_cast<size_t>(n_keys * D));
  float* dV = dv_.get(static_cast<size_t>(n_keys * D));
  for (int64_t j = 0; j < n_keys; ++j) {
    std::memcpy(K + j * D, key_row(j) + k_col, static_cast<size_t>(D) * sizeof(float));
    std::memcpy(V + j * D, key_row(j) + v_col, static_cast<size_t>(D) * sizeof(float));
  }
  std::memset(dK, 0, static_cast<size_t>(n_keys * D) * sizeof(float));
  std::memset(dV, 0, static_cast<size_t>(n_keys * D) * sizeof(float));
  // K and V as GEMM B operands (rows = keys); key block [j0, j0 + kb) is panels j0 / nr on (j0 is a
  // multiple of kKeyBlock, itself a multiple of every build's panel width).
  SP_CHECK(kKeyBlock % nr == 0);
  const int64_t key_panels = (n_keys + nr - 1) / nr;
  float* pk = packed_k_.get(static_cast<size_t>(key_panels * D * nr));
  float* pv = packed_v_.get(static_cast<size_t>(key_panels * D * nr));
  pack_rows_panels(pk, nr, K, D, n_keys, D, 0, key_panels);
  pack_rows_panels(pv, nr, V, D, n_keys, D, 0, key_panels);

  // K^T per key block as the B operand of dQ = dS K_blk: block b (D, kb) at kt + b * kt_block,
  // packed once per call.
  const int64_t d_panels = (D + nr - 1) / nr;
  const int64_t kt_block = d_panels * kKeyBlock * nr;
  const int64_t n_key_blocks = (n_keys + kKeyBlock - 1) / kKeyBlock;
  float* kt = packed_kt_.get(static_cast<size_t>(n_key_blocks * kt_block));
  for (int64_t b = 0; b < n_key_blocks; ++b) {
    const int64_t kb = std::min(kKeyBlock, n_keys - b * kKeyBlock);
    pack_cols_steps(kt + b * kt_block, nr, K + b * kKeyBlock * D, D, D, kb, 0, kb);
  }

  const int mr = ks->mr;
  const int64_t block_rows = kQueryBlock * n_rep;  // query rows of one query block
  // S/P and dP/dS of a tile: (rows, kb) kKeyBlock floats apart, plus the padding the in-place A
  // operands read past the last row (dK/dV: A rows up to a multiple of mr, i.e. columns past kb of the
  // last row; dQ: rows up to a multiple of mr). Zeroed when allocated: the reads past the written
  // rows and columns see finite numbers.
  const size_t sd_floats = static_cast<size_t>((kQueryTile * n_rep + 16) * kKeyBlock);
  SP_CHECK(mr <= 16);
  const bool grow = s_.size() < sd_floats || dp_.size() < sd_floats;
  float* S = s_.get(sd_floats);
  float* dS = dp_.get(sd_floats);
  if (grow) {
    std::memset(S, 0, sd_floats * sizeof(float));
    std::memset(dS, 0, sd_floats * sizeof(float));
  }
  for (int64_t c0 = q_begin; c0 < q_end; c0 += kQueryTile) {
    const int64_t c1 = std::min(q_end, c0 + kQueryTile);
    const int64_t M = (c1 - c0) * n_rep;  // query rows: (own row, head) pairs, row-major
    const int64_t nk = n_prefix + c1;     // keys visible to the tile's last row
    const int64_t n_blocks = (c1 - c0 + kQueryBlock - 1) / kQueryBlock;
    float* Q = q_.get(static_cast<size_t>(M * D));
    float* dO = dout_.get(static_cast<size_t>(M * D));
    float* O = o_.get(static_cast<size_t>(M * D));
    float* L = lse_.get(static_cast<size_t>(M));
    float* delta = delta_.get(static_cast<size_t>(M));
    for (int64_t i = c0; i < c1; ++i) {
      for (int64_t r = 0; r < n_rep; ++r) {
        const int64_t m = (i - c0) * n_rep + r;
        std::memcpy(Q + m * D, qkv_own + i * W + q_col + r * D, static_cast<size_t>(D) * sizeof(float));
        std::memcpy(dO + m * D, dout + i * dout_stride + q_col + r * D,
                    static_cast<size_t>(D) * sizeof(float));
        if (out) {
          std::memcpy(O + m * D, out + i * dout_stride + q_col + r * D,
                      static_cast<size_t>(D) * sizeof(float));
          L[m] = lse[i * lse_stride + g * n_rep + r];
        }
      }
    }
    if (!out) {  // rerun the forward for this tile: O (M, D) and its log-sum-exp
      AttnArgs a;
      a.k_prefix = qkv_prefix ? qkv_prefix + k_col : nullptr;
      a.v_prefix = qkv_prefix ? qkv_prefix + v_col : nullptr;
      a.n_prefix = n_prefix;
      a.k_own = qkv_own + k_col;
      a.v_own = qkv_own + v_col;
      a.kv_stride = W;
      a.q = qkv_own + q_col;
      a.q_stride = W;
      a.out = O - c0 * n_rep * D;
      a.out_stride = n_rep * D;
      a.q_begin = c0;
      a.q_end = c1;
      a.head_dim = static_cast<int>(D);
      a.n_rep = static_cast<int>(n_rep);
      a.scale = scale;
      a.lse = L - c0 * n_rep;
      a.lse_stride = n_rep;
      ks->attention(a, attn_scratch_.get(ks->attention_scratch_floats(kQueryTile, static_cast<int>(D),
                                                                      static_cast<int>(n_rep))));
    }
    // Delta = rowsum(dO * O) (= rowsum(P * dP)), d ascending.
    row_dots(delta, dO, O, M, D);
    // Q and dO as A tiles (S, dP), and per query block Q^T and dO^T as B panels (dK, dV): packed
    // once per tile, read by every key block.
    const int64_t a_floats = (M + mr - 1) / mr * mr * D;
    float* qa = packed_a_.get(static_cast<size_t>(2 * a_floats));
    float* doa = qa + a_floats;
    ks->pack_a(Q, D, M, D, qa);
    ks->pack_a(dO, D, M, D, doa);
    const int64_t bt_floats = d_panels * block_rows * nr;
    float* pq = packed_.get(static_cast<size_t>(2 * n_blocks * bt_floats));
    float* pdo = pq + n_blocks * bt_floats;
    for (int64_t b = 0; b < n_blocks; ++b) {
      const int64_t r0 = b * block_rows, mb = std::min(block_rows, M - r0);
      pack_cols_steps(pq + b * bt_floats, nr, Q + r0 * D, D, D, mb, 0, mb);
      pack_cols_steps(pdo + b * bt_floats, nr, dO + r0 * D, D, D, mb, 0, mb);
    }
    float* dQ = dq_.get(static_cast<size_t>(M * D));
    for (int64_t j0 = 0; j0 < nk; j0 += kKeyBlock) {
      const int64_t kb = std::min(kKeyBlock, nk - j0);
      // Query blocks before b_first end before the key block: they skip it (as in a query block,
      // keys past its last row are not visited). S and dP start at the row tile holding r_first.
      const int64_t b_first = std::max<int64_t>(0, j0 - n_prefix - c0) / kQueryBlock;
      const int64_t r_first = b_first * block_rows, m_lo = r_first / mr * mr;
      // Row blocks of 8 tiles compute only the keys their last row sees (in the block on the
      // diagonal the rest is masked: P and dS are zero there, written by attn_backward_rows).
      const int64_t rb = 8 * mr;
      const auto keys_seen = [&](int64_t row_end) {  // by row row_end - 1
        return std::clamp<int64_t>(n_prefix + c0 + (row_end - 1) / n_rep + 1 - j0, 0, kb);
      };
      float* part = scratch_.get(ks->gemm_scratch_floats(rb, kKeyBlock / nr));
      // S = Q K_blk^T and dP = dO V_blk^T (up to the panel of the last key seen), then P and dS in
      // place (attn_backward_rows).
      const auto k_view = packed_view(nr, kb, D, pk + (j0 / nr) * D * nr);
      const auto v_view = packed_view(nr, kb, D, pv + (j0 / nr) * D * nr);
      for (int64_t r0 = m_lo; r0 < M; r0 += rb) {
        const int64_t r1 = std::min(M, r0 + rb), keys = keys_seen(r1);
        if (keys == 0) continue;
        const int64_t p_end = (keys + nr - 1) / nr;
        ks->gemm_block(GemmArgs{nullptr, D, &k_view, nullptr, S, kKeyBlock, M, false}, qa, r0, r1, 0, p_end,
                       part);
        ks->gemm_block(GemmArgs{nullptr, D, &v_view, nullptr, dS, kKeyBlock, M, false}, doa, r0, r1, 0, p_end,
                       part);
      }
      ks->attn_backward_rows(S + r_first * kKeyBlock, dS + r_first * kKeyBlock, kKeyBlock, M - r_first, kb,
                             n_prefix + c0 + r_first / n_rep + 1 - j0, static_cast<int>(n_rep), L + r_first,
                             delta + r_first, scale);
      // dQ (+)= dS K_blk (B = K_blk^T, A = dS read in place) for the rows from r_first, key blocks in
      // order; a row block's chains stop at the last key it sees (the masked rest would add exact
      // zeros). The packed block holds the call's keys (kb_packed >= kb): one view per panel of head
      // dims.
      const int64_t kb_packed = std::min(kKeyBlock, n_keys - j0);
      for (int64_t r0 = r_first; r0 < M; r0 += rb) {
        const int64_t r1 = std::min(M, r0 + rb), keys = keys_seen(r1);
        if (keys == 0) continue;  // never for j0 = 0 (every row sees key 0)
        for (int64_t p = 0; p < d_panels; ++p) {
          const auto view = packed_view(nr, std::min<int64_t>(nr, D - p * nr), keys,
                                        kt + (j0 / kKeyBlock) * kt_block + p * kb_packed * nr);
          ks->gemm_block_inplace(GemmArgs{dS + r0 * kKeyBlock, kKeyBlock, &view, nullptr,
                                          dQ + r0 * D + p * nr, D, r1 - r0, j0 > 0},
                                 false, 0, r1 - r0, 0, 1, part);
        }
      }
      // Per query block, in order: dK_blk += dS^T Q and dV_blk += P^T dO over the block's rows (A
      // read in place from dS and P), for the keys up to the block's last row.
      for (int64_t b = b_first; b < n_blocks; ++b) {
        const int64_t r0 = b * block_rows, mb = std::min(block_rows, M - r0);
        const int64_t kb_b = std::min(kb, n_prefix + std::min(c1, c0 + (b + 1) * kQueryBlock) - j0);
        const auto q_view = packed_view(nr, D, mb, pq + b * bt_floats);
        const auto do_view = packed_view(nr, D, mb, pdo + b * bt_floats);
        gemm_serial_inplace(
            ks, GemmArgs{dS + r0 * kKeyBlock, kKeyBlock, &q_view, nullptr, dK + j0 * D, D, kb_b, true}, true,
            scratch_);
        gemm_serial_inplace(
            ks, GemmArgs{S + r0 * kKeyBlock, kKeyBlock, &do_view, nullptr, dV + j0 * D, D, kb_b, true}, true,
            scratch_);
      }
    }
    for (int64_t i = c0; i < c1; ++i) {
      for (int64_t r = 0; r < n_rep; ++r) {
        float* dst = dqkv_own + i * W + q_col + r * D;
        const float* src = dQ + ((i - c0) * n_rep + r) * D;
        add_to(dst, src, D);
      }
    }
  }
  // Key/value gradients back into the context's and the own rows' k/v columns.
  for (int64_t j = 0; j < n_keys; ++j) {
    float* row = j < n_prefix ? dqkv_prefix + j * W : dqkv_own + (j - n_prefix) * W;
    add_to(row + k_col, dK + j * D, D);
    add_to(row + v_col, dV + j * D, D);
  }
}

}  // namespace synpref::kernels
