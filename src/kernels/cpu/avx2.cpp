// AVX2 + FMA + F16C build of the kernels: 8 lanes, 6x16 GEMM micro-tile (12 ymm accumulators).
// Compiled with this ISA's flags (src/model/CMakeLists.txt); selected at run time by kernels.cpp.
#define SP_ISA_AVX2 1
#include "kernels/simd.h"

namespace {
constexpr int kMR = 6, kNV = 2;  // GEMM micro-tile
constexpr int64_t kKC = 256;     // GEMM K slice: one panel slice (kKC x kNR floats) fits L1
}  // namespace

#include "kernels/kernels_impl.h"

namespace synpref::kernels {

// Constant-initialized (no code runs before the CPU check in kernels.cpp).
extern const KernelSet kKernelsAvx2;
const KernelSet kKernelsAvx2 = {"avx2",
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
