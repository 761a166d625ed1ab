// The attention backward pass on GEMMs (see attention.h).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "synpref/common/check.h"

namespace synpref::kernels {

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

  const int64_t d_panels = (D + nr - 1) / nr;
  const int mr = ks->mr;
  for (int64_t i0 = q_begin; i0 < q_end; i0 += kQueryBlock) {
    const int64_t i1 = std::min(q_end, i0 + kQueryBlock);
    const int64_t M = (i1 - i0) * n_rep;  // query rows: (own row, head) pairs, row-major
    const int64_t nk = n_prefix + i1;     // keys visible to the block's last row
    float* Q = q_.get(static_cast<size_t>(M * D));
    float* dO = dout_.get(static_cast<size_t>(M * D));
    float* O = o_.get(static_cast<size_t>(M * D));
    float* L = lse_.get(static_cast<size_t>(M));
    float* delta = delta_.get(static_cast<size_t>(M));
    for (int64_t i = i0; i < i1; ++i) {
      for (int64_t r = 0; r < n_rep; ++r) {
        const int64_t m = (i - i0) * n_rep + r;
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
    if (!out) {  // rerun the forward for this block: O (M, D) and its log-sum-exp
      AttnArgs a;
      a.k_prefix = qkv_prefix ? qkv_prefix + k_col : nullptr;
      a.v_prefix = qkv_prefix ? qkv_prefix + v_col : nullptr;
      a.n_prefix = n_prefix;
      a.k_own = qkv_own + k_col;
      a.v_own = qkv_own + v_col;
      a.kv_stride = W;
      a.q = qkv_own + q_col;
      a.q_stride = W;
      a.out = O - i0 * n_rep * D;
      a.out_stride = n_rep * D;
      a.q_begin = i0;
      a.q_end = i1;
      a.head_dim = static_cast<int>(D);
      a.n_rep = static_cast<int>(n_rep);
      a.scale = scale;
      a.lse = L - i0 * n_rep;
      a.lse_stride = n_rep;
      ks->attention(a, attn_scratch_.get(ks->attention_scratch_floats(kQueryBlock, static_cast<int>(D),
                                                                      static_cast<int>(n_rep))));
    }
    // Delta = rowsum(dO * O) (= rowsum(P * dP)), d ascending.
    for (int64_t m = 0; m < M; ++m) {
      float acc = 0.0f;
      for (int64_t d = 0; d < D; ++d) acc = std::fma(dO[m * D + d], O[m * D + d], acc);
      delta[m] = acc;
    }
    // dO^T and Q^T as GEMM B operands (rows = query rows) for dV and dK: packed once per query block.
    float* pdo = packed_.get(static_cast<size_t>(2 * d_panels * M * nr));
    float* pq = pdo + d_panels * M * nr;
    pack_cols_steps(pdo, nr, dO, D, D, M, 0, M);
    pack_cols_steps(pq, nr, Q, D, D, M, 0, M);
    const auto do_view = packed_view(nr, D, M, pdo);
    const auto q_view = packed_view(nr, D, M, pq);
    float* dQ = dq_.get(static_cast<size_t>(M * D));
    for (int64_t j0 = 0; j0 < nk; j0 += kKeyBlock) {
      const int64_t kb = std::min(kKeyBlock, nk - j0);
      // S = Q K_blk^T, then P = exp(S * scale - lse) for the visible keys, 0 for the masked ones.
      float* P = s_.get(static_cast<size_t>(M * kKeyBlock));
      const auto k_view = packed_view(nr, kb, D, pk + (j0 / nr) * D * nr);
      gemm_serial(ks, GemmArgs{Q, D, &k_view, nullptr, P, kb, M, false}, a_buf_, scratch_);
      for (int64_t m = 0; m < M; ++m) {
        const int64_t visible = std::clamp<int64_t>(n_prefix + i0 + m / n_rep + 1 - j0, 0, kb);
        float* row = P + m * kb;
        for (int64_t j = 0; j < visible; ++j) row[j] = row[j] * scale - L[m];
        ks->exp(row, row, visible);
        for (int64_t j = visible; j < kb; ++j) row[j] = 0.0f;
      }
      // dP = dO V_blk^T ; dS = P (dP - Delta) * scale (in place of dP).
      float* dS = dp_.get(static_cast<size_t>(M * kKeyBlock));
      const auto v_view = packed_view(nr, kb, D, pv + (j0 / nr) * D * nr);
      gemm_serial(ks, GemmArgs{dO, D, &v_view, nullptr, dS, kb, M, false}, a_buf_, scratch_);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t j = 0; j < kb; ++j) dS[m * kb + j] = P[m * kb + j] * (dS[m * kb + j] - delta[m]) * scale;
      // dQ (+)= dS K_blk (B = K_blk^T), key blocks in order.
      {
        float* b = kt_.get(static_cast<size_t>(d_panels * kb * nr));
        pack_cols_steps(b, nr, K + j0 * D, D, D, kb, 0, kb);
        const auto view = packed_view(nr, D, kb, b);
        gemm_serial(ks, GemmArgs{dS, kb, &view, nullptr, dQ, D, M, j0 > 0}, a_buf_, scratch_);
      }
      // dK_blk += dS^T Q and dV_blk += P^T dO (A transposed, packed straight from (M, kb)).
      float* T = t_.get(static_cast<size_t>((kKeyBlock + mr) * M));
      for (int which = 0; which < 2; ++which) {
        pack_a_transposed(T, mr, which == 0 ? dS : P, kb, kb, M, 0, (kb + mr - 1) / mr);
        gemm_serial_packed(ks,
                           GemmArgs{nullptr, M, which == 0 ? &q_view : &do_view, nullptr,
                                    (which == 0 ? dK : dV) + j0 * D, D, kb, true},
                           T, scratch_);
      }
    }
    for (int64_t i = i0; i < i1; ++i) {
      for (int64_t r = 0; r < n_rep; ++r) {
        float* dst = dqkv_own + i * W + q_col + r * D;
        const float* src = dQ + ((i - i0) * n_rep + r) * D;
        for (int64_t d = 0; d < D; ++d) dst[d] += src[d];
      }
    }
  }
  // Key/value gradients back into the context's and the own rows' k/v columns.
  for (int64_t j = 0; j < n_keys; ++j) {
    float* row = j < n_prefix ? dqkv_prefix + j * W : dqkv_own + (j - n_prefix) * W;
    for (int64_t d = 0; d < D; ++d) row[k_col + d] += dK[j * D + d];
    for (int64_t d = 0; d < D; ++d) row[v_col + d] += dV[j * D + d];
  }
}

}  // namespace synpref::kernels
