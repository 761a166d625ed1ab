// AVX-512 (F, BW, VL, DQ) + F16C build of the kernels: 16 lanes, 14x32 GEMM micro-tile (28 zmm accumulators).
// Compiled with this ISA's flags (src/model/CMakeLists.txt); selected at run time by kernels.cpp.
#define SP_ISA_AVX512 1
#include "kernels/simd.h"

namespace {
constexpr int kMR = 14, kNV = 2;  // GEMM micro-tile (28 + 2 + 1 of 32 zmm)
constexpr int64_t kKC = 192;      // GEMM K slice: one panel slice (kKC x kNR floats) fits L1
}  // namespace

#include "kernels/kernels_impl.h"

namespace synpref::kernels {

// Constant-initialized (no code runs before the CPU check in kernels.cpp).
extern const KernelSet kKernelsAvx512;
const KernelSet kKernelsAvx512 = {"avx512",
                                  kMR,
                                  kNR,
                                  pack_a,
                                  gemm_block,
                                  gemm_scratch_floats,
                                  rmsnorm_rows,
                                  silu_mul,
                                  exp_array,
                                  attention,
                                  attention_scratch_floats,
                                  fma_peak_probe,
                                  gemm_block_inplace,
                                  attn_backward_rows};

}  // namespace synpref::kernels
