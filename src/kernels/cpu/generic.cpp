// Portable one-lane build of the kernels (any CPU); bitwise equal to the SIMD builds.
// Compiled with this ISA's flags (src/model/CMakeLists.txt); selected at run time by kernels.cpp.
#define SP_ISA_GENERIC 1
#include "kernels/simd.h"

namespace {
constexpr int kMR = 4, kNV = 8;  // GEMM micro-tile
constexpr int64_t kKC = 256;     // GEMM K slice: one panel slice (kKC x kNR floats) fits L1
}  // namespace

#include "kernels/kernels_impl.h"

namespace synpref::kernels {

// Constant-initialized (no code runs before the CPU check in kernels.cpp).
extern const KernelSet kKernelsGeneric;
const KernelSet kKernelsGeneric = {"generic",
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
