// Slow, obviously-correct references for every fast kernel (internal; used by tests/model).
//
// gemm_ref performs the same fused multiply-adds in the same order as the fast GEMM, so the two agree
// bitwise; the others compute in double precision and are compared with stated tolerances.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernels.h"

namespace synpref::kernels::reference {

// C (M, N) = A (M, K) @ W^T (+ bias) (or C += ...). W (N, K) row-major in `type`.
void gemm_ref(float* c, int64_t ldc, const float* a, int64_t lda, kernels::WType type, const void* w,
              const float* bias, int64_t m, int64_t n, int64_t k, bool accumulate);
// Double-precision RMSNorm of `rows` rows.
void rmsnorm_ref(float* out, const float* in, const float* weight, int64_t rows, int64_t cols, double eps);
// silu(gate) * up in double, rounded.
void silu_mul_ref(float* out, const float* gate, const float* up, int64_t n);
// Causal attention of one sequence (all own rows), two-pass softmax in double. Same argument layout
// as kernels::AttnArgs (q_begin/q_end honored).
void attention_ref(const kernels::AttnArgs& args);

}  // namespace synpref::kernels::reference
