// The attention backward pass on the GEMM micro-kernel (internal), FlashAttention-2 style.
//
// Same contract as ops::attention_backward<float> (the reference, tests/kernels/test_attention.cpp
// compares them) for one key/value head g. The probabilities are recomputed from the forward's
// log-sum-exp (lse = m + log l per query, saved by kernels::attention) instead of being stored, and
// the work is tiled in both directions: for query tiles of up to kQueryTile own rows (x the n_rep
// query heads sharing g) and key blocks of kKeyBlock keys,
//   S  = Q K^T                                  GEMM
//   P  = exp(S * scale - lse) under the causal mask
//   dP = dO V^T                                 GEMM
//   dS = P * (dP - Delta) * scale,  Delta = rowsum(dO * O) (once per query tile)
//   dQ += dS K                                  GEMM
//   dK += dS^T Q ; dV += P^T dO                 GEMMs, per query block of kQueryBlock rows
// so the scratch per call is O(kQueryTile x kKeyBlock) plus the head's keys/values and their
// gradients (n_keys x head_dim): memory linear in the sequence length. Q and dO are packed once per
// query tile, K, V and K^T once per call; dS and P are read in place (KernelSet::gemm_block_inplace).
// Without a saved lse/O, each query tile first reruns the forward kernel for them.
// Each call runs on the calling thread; one instance (scratch) per worker thread. Results depend on
// the arguments only (fixed block order), never on the thread that runs them, nor on the ISA.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"

namespace synpref::kernels {

class AttentionBackward {
 public:
  // Query rows per block of the dK/dV sums (part of the numerics: each key's gradient adds one
  // product chain per query block, in block order).
  static constexpr int64_t kQueryBlock = 64;
  // Query rows per tile of the S, dP and dQ products (any multiple of kQueryBlock gives the same
  // bits): 2 x 64 rows x n_rep heads run 19 row tiles of 14 (4% padding) instead of 2 x 10 (9%).
  static constexpr int64_t kQueryTile = 2 * kQueryBlock;
  static constexpr int64_t kKeyBlock = 256;  // a multiple of every build's panel width

  // Accumulates into the q/k/v columns of kv head g of dqkv_own (own rows) and the k/v columns of
  // dqkv_prefix (context rows). Layout and arguments as ops::attention_backward, for the own query
  // rows [q_begin, q_end) only (0 <= q_begin <= q_end <= n_own): the result equals the reference
  // with dout zero outside those rows, and keys past n_prefix + q_end are not touched.
  // `out`: the forward's attention output (same layout as dout) and `lse` its log-sum-exp (own row
  // i, query head h at lse[i * lse_stride + h]), both as kernels::attention wrote them, for rows
  // [q_begin, q_end); null = recomputed here.
  void run(const KernelSet* ks, float* dqkv_own, float* dqkv_prefix, const float* dout, int64_t dout_stride,
           const float* qkv_own, const float* qkv_prefix, int64_t n_own, int64_t n_prefix, int64_t qkv_stride,
           const ops::AttnDims& dims, float scale, int64_t g, int64_t q_begin, int64_t q_end,
           const float* out = nullptr, const float* lse = nullptr, int64_t lse_stride = 0);

 private:
  struct Call;  // one run's shapes and operands (attention.cpp)
  void load_keys(const KernelSet* ks, Call& c);
  void load_query_tile(const KernelSet* ks, Call& c, int64_t c0, int64_t c1);
  void key_block(const KernelSet* ks, Call& c, int64_t j0);

  FloatBuffer k_, v_, dk_, dv_, q_, dout_, o_, lse_, delta_, s_, dp_, dq_, packed_k_, packed_v_, packed_kt_,
      packed_a_, packed_, scratch_, attn_scratch_;
};

}  // namespace synpref::kernels
