// The attention backward pass on the GEMM micro-kernel (internal).
//
// Same contract as ops::attention_backward<float> (the reference, tests/train/test_attention.cpp
// compares them) for one key/value head g: for query blocks of up to kQueryBlock own rows and the
// n_rep query heads sharing g,
//   S  = Q K^T          (rows x visible keys)          GEMM
//   P  = softmax(S * scale) under the causal mask      (recomputed; the forward keeps no P)
//   dP = dO V^T                                        GEMM
//   dS = P * (dP - rowsum(P * dP)) * scale
//   dQ = dS K ; dK += dS^T Q ; dV += P^T dO            GEMMs
// Each call runs on the calling thread; one instance (scratch) per worker thread.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"

namespace synpref::kernels {

class AttentionBackward {
 public:
  static constexpr int64_t kQueryBlock = 64;

  // Accumulates into the q/k/v columns of kv head g of dqkv_own (own rows) and the k/v columns of
  // dqkv_prefix (context rows). Layout and arguments as ops::attention_backward, for the own query
  // rows [q_begin, q_end) only (0 <= q_begin <= q_end <= n_own): the result equals the reference
  // with dout zero outside those rows, and keys past n_prefix + q_end are not touched.
  void run(const KernelSet* ks, float* dqkv_own, float* dqkv_prefix, const float* dout, int64_t dout_stride,
           const float* qkv_own, const float* qkv_prefix, int64_t n_own, int64_t n_prefix, int64_t qkv_stride,
           const ops::AttnDims& dims, float scale, int64_t g, int64_t q_begin, int64_t q_end);

 private:
  FloatBuffer k_, v_, dk_, dv_, q_, dout_, s_, dp_, t_, dq_, packed_k_, packed_v_, packed_, a_buf_, scratch_;
};

}  // namespace synpref::kernels
