// AVX2 + FMA + F16C build of the kernels: 8 lanes, 6x16 GEMM micro-tile (12 ymm accumulators).
// Compiled with this ISA's flags (src/model/CMakeLists.txt); selected at run time by kernels.cpp.
#define SP_ISA_AVX2 1
#include "simd.h"

namespace {
constexpr int kMR = 6, kNV = 2, kRG = 4, kCV = 2, kDV = 2;
}  // namespace

#include "kernels_impl.h"

namespace synpref::model::kernels {

// Constant-initialized (no code runs before the CPU check in kernels.cpp).
extern const KernelSet kKernelsAvx2;
const KernelSet kKernelsAvx2 = {
    "avx2", kMR, kNR, gemm_block, rmsnorm_rows, silu_mul, exp_array, attention, attention_scratch_floats};

}  // namespace synpref::model::kernels
