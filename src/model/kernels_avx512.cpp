// AVX-512 (F, BW, VL, DQ) + F16C build of the kernels: 16 lanes, 12x32 GEMM micro-tile (24 zmm accumulators).
// Compiled with this ISA's flags (src/model/CMakeLists.txt); selected at run time by kernels.cpp.
#define SP_ISA_AVX512 1
#include "simd.h"

namespace {
constexpr int kMR = 12, kNV = 2, kRG = 4, kCV = 4, kDV = 4;
}  // namespace

#include "kernels_impl.h"

namespace synpref::model::kernels {

// Constant-initialized (no code runs before the CPU check in kernels.cpp).
extern const KernelSet kKernelsAvx512;
const KernelSet kKernelsAvx512 = {
    "avx512", kMR, kNR, gemm_block, rmsnorm_rows, silu_mul, exp_array, attention, attention_scratch_floats};

}  // namespace synpref::model::kernels
