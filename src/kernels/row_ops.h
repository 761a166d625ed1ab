// Row-wise backward kernels of the training hot path (internal).
//
// The same math as the references in ops.h (which stay the oracle: tests/train/test_ops.cpp checks
// those by finite differences, and these against them), written for the vector units: reductions
// run in 16 fixed partial sums combined by a fixed tree, so results depend on neither the thread
// count nor the ISA's vector width, only on C.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace synpref::kernels::row_ops {

// As ops::rmsnorm_backward<float>: with xhat = x * rstd and g = dout * weight,
//   dinp (+)= rstd * (g - xhat * mean(g * xhat)) ; dweight += dout * xhat (dweight may be null).
void rmsnorm_backward(float* dinp, int64_t dinp_stride, float* dweight, const float* dout,
                      int64_t dout_stride, const float* inp, int64_t inp_stride, const float* weight,
                      int64_t n_rows, int64_t C, float eps, bool accumulate = true);

// As ops::swiglu_backward<float> (writes dgate_up), with the kernel set's exp. `scratch`: F floats.
void swiglu_backward(const KernelSet* ks, float* dgate_up, const float* dout, const float* gate_up,
                     int64_t n_rows, int64_t F, float* scratch);

// Softmax of row[0, visible) * scale in place (causal: row[visible, n) becomes 0).
void softmax_scaled(const KernelSet* ks, float* row, int64_t visible, int64_t n, float scale);

// The softmax backward of one row, in place of dp: dp = p * (dp - sum(p * dp)) * scale over
// [0, visible); dp[visible, n) becomes 0.
void softmax_backward(const float* p, float* dp, int64_t visible, int64_t n, float scale);

}  // namespace synpref::kernels::row_ops
