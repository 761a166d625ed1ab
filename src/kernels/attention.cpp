// The attention backward pass on GEMMs (see attention.h).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/row_ops.h"
#include "synpref/common/check.h"

namespace synpref::kernels {

void AttentionBackward::run(const KernelSet* ks, float* dqkv_own, float* dqkv_prefix, const float* dout,
                            int64_t dout_stride, const float* qkv_own, const float* qkv_prefix, int64_t n_own,
                            int64_t n_prefix, int64_t W, const ops::AttnDims& dims, float scale, int64_t g,
                            int64_t q_begin, int64_t q_end) {
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
  // K and V as GEMM B operands (rows = keys); a block uses the first nk rows of the same panels.
  const int64_t key_panels = (n_keys + nr - 1) / nr;
  float* pk = packed_k_.get(static_cast<size_t>(key_panels * D * nr));
  float* pv = packed_v_.get(static_cast<size_t>(key_panels * D * nr));
  pack_rows_panels(pk, nr, K, D, n_keys, D, 0, key_panels);
  pack_rows_panels(pv, nr, V, D, n_keys, D, 0, key_panels);

  for (int64_t i0 = q_begin; i0 < q_end; i0 += kQueryBlock) {
    const int64_t i1 = std::min(q_end, i0 + kQueryBlock);
    const int64_t M = (i1 - i0) * n_rep;  // query rows: (own row, head) pairs
    const int64_t nk = n_prefix + i1;     // keys visible to the block's last row
    float* Q = q_.get(static_cast<size_t>(M * D));
    float* dO = dout_.get(static_cast<size_t>(M * D));
    for (int64_t i = i0; i < i1; ++i) {
      for (int64_t r = 0; r < n_rep; ++r) {
        const int64_t m = (i - i0) * n_rep + r;
        std::memcpy(Q + m * D, qkv_own + i * W + q_col + r * D, static_cast<size_t>(D) * sizeof(float));
        std::memcpy(dO + m * D, dout + i * dout_stride + q_col + r * D,
                    static_cast<size_t>(D) * sizeof(float));
      }
    }
    // S = Q K^T, then P = softmax(S * scale) row by row under the causal mask (in place).
    float* P = s_.get(static_cast<size_t>(M * nk));
    const auto k_view = packed_view(nr, nk, D, pk);
    gemm_serial(ks, GemmArgs{Q, D, &k_view, nullptr, P, nk, M, false}, a_buf_, scratch_);
    for (int64_t m = 0; m < M; ++m)
      row_ops::softmax_scaled(ks, P + m * nk, n_prefix + i0 + m / n_rep + 1, nk, scale);
    // dP = dO V^T ; dS = P (dP - rowsum(P dP)) * scale (in place of dP).
    float* dS = dp_.get(static_cast<size_t>(M * nk));
    const auto v_view = packed_view(nr, nk, D, pv);
    gemm_serial(ks, GemmArgs{dO, D, &v_view, nullptr, dS, nk, M, false}, a_buf_, scratch_);
    for (int64_t m = 0; m < M; ++m)
      row_ops::softmax_backward(P + m * nk, dS + m * nk, n_prefix + i0 + m / n_rep + 1, nk, scale);
    // dQ = dS K (B = K^T), added to the own rows' q columns.
    {
      const int64_t panels = (D + nr - 1) / nr;
      float* b = packed_.get(static_cast<size_t>(panels * nk * nr));
      pack_cols_steps(b, nr, K, D, D, nk, 0, nk);
      const auto view = packed_view(nr, D, nk, b);
      float* dQ = dq_.get(static_cast<size_t>(M * D));
      gemm_serial(ks, GemmArgs{dS, nk, &view, nullptr, dQ, D, M, false}, a_buf_, scratch_);
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t r = 0; r < n_rep; ++r) {
          float* dst = dqkv_own + i * W + q_col + r * D;
          const float* src = dQ + ((i - i0) * n_rep + r) * D;
          for (int64_t d = 0; d < D; ++d) dst[d] += src[d];
        }
      }
    }
    // dK += dS^T Q and dV += P^T dO over the visible keys (A transposed, B = Q^T / dO^T).
    float* T = t_.get(static_cast<size_t>((nk + ks->mr) * M));
    const int64_t panels = (D + nr - 1) / nr;
    float* b = packed_.get(static_cast<size_t>(panels * M * nr));
    const auto view = packed_view(nr, D, M, b);
    const int mr = ks->mr;
    for (int which = 0; which < 2; ++which) {
      // A = dS^T or P^T, packed straight from the row-major (M, nk) matrix.
      pack_a_transposed(T, mr, which == 0 ? dS : P, nk, nk, M, 0, (nk + mr - 1) / mr);
      pack_cols_steps(b, nr, which == 0 ? Q : dO, D, D, M, 0, M);
      gemm_serial_packed(ks, GemmArgs{nullptr, M, &view, nullptr, which == 0 ? dK : dV, D, nk, true}, T,
                         scratch_);
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
