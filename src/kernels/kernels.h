// Compute kernels of the model engine (internal). Ops know nothing about models (STYLE.md, gemma.cpp).
//
// Every kernel exists in three builds of one template source (kernels_impl.h): AVX-512, AVX2+FMA
// and generic C++ (one lane), selected at run time (select_kernels). Each output element is computed
// by the same sequence of IEEE operations in all three: products are accumulated with fused
// multiply-add in a fixed order (k ascending for GEMM, d ascending for QK^T, key ascending within an
// attention block for PV), reductions across lanes use fixed 16-wide partial sums reduced by the same
// pairwise tree, and attention keeps each query in one vector lane (no cross-lane reduction at all).
// Consequences, both tested (tests/model/test_kernels.cpp):
//   - a row's results never depend on how many rows are computed with it, on tile edges, or on the
//     thread split (batch invariance of the whole model rests on this);
//   - the three builds agree bitwise, and GEMM agrees bitwise with the naive scalar reference
//     (reference_kernels.h); attention and RMSNorm agree with their double-precision references to
//     stated tolerances.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace synpref::kernels {

// Weight element types the kernels widen to f32 on the fly.
enum class WType : uint8_t { f32, f16, bf16 };
size_t wtype_size(WType t);

// A weight matrix W (N, K) (transformers' Linear layout: out_features x in_features) repacked for
// the GEMM micro-kernel: panels of `nr` consecutive output rows, each stored k-major, i.e. element
// W[p*nr + j][k] lives at index (p*K + k)*nr + j of `data` (zero where p*nr + j >= N).
struct PackedMatrix {
  WType type = WType::f32;
  int64_t n = 0, k = 0;
  int nr = 0;
  const void* data = nullptr;
  int64_t n_panels() const { return nr ? (n + nr - 1) / nr : 0; }
  const uint8_t* panel(int64_t p) const {
    return static_cast<const uint8_t*>(data) + static_cast<size_t>(p * k * nr) * wtype_size(type);
  }
};
size_t packed_bytes(WType type, int64_t n, int64_t k, int nr);

// Row-major source matrix (rows, K) for packing; several sources stack along N (e.g. q, k, v).
struct RowSource {
  WType type = WType::f32;
  const void* data = nullptr;
  int64_t rows = 0;
};
// Writes panels [panel_begin, panel_end) of the stacked sources into `out` (packed_bytes(type, ...)
// bytes for all panels). Sources of another type than `type` must be convertible exactly: only
// f16/bf16 -> f32 widening is allowed.
void pack_weights(const std::vector<RowSource>& sources, int64_t k, int nr, WType type, void* out,
                  int64_t panel_begin, int64_t panel_end);

// C (M, N) = A (M, K) @ W^T (+ bias) ; with accumulate: C = C + (A @ W^T (+ bias)).
struct GemmArgs {
  const float* a = nullptr;
  int64_t lda = 0;
  const PackedMatrix* w = nullptr;
  const float* bias = nullptr;  // (N) or null
  float* c = nullptr;
  int64_t ldc = 0;
  int64_t m = 0;
  bool accumulate = false;
};

// Causal attention of one sequence for query rows [q_begin, q_end) of `n_rep` query heads sharing
// one key/value head. Logical key position j < n_prefix reads the shared context's rows (prefix
// sharing), j >= n_prefix reads the sequence's own row j - n_prefix. Own row i has logical position
// n_prefix + i and attends to keys 0..n_prefix + i.
struct AttnArgs {
  const float* k_prefix = nullptr;  // at the kv head's column offset
  const float* v_prefix = nullptr;
  int64_t n_prefix = 0;
  const float* k_own = nullptr;
  const float* v_own = nullptr;
  int64_t kv_stride = 0;     // floats between consecutive rows of k and v
  const float* q = nullptr;  // own row 0, first of the n_rep query heads; head r is at + r*head_dim
  int64_t q_stride = 0;
  float* out = nullptr;  // same layout as q
  int64_t out_stride = 0;
  int64_t q_begin = 0, q_end = 0;
  int head_dim = 0;
  int n_rep = 1;
  float scale = 1.0f;  // head_dim^-0.5, applied to q.k as transformers does (after the dot product)
  // Optional: the log-sum-exp of each query's scaled scores (m + log l), what the FlashAttention-2
  // backward recomputes probabilities from. Own row i, head r at lse[i * lse_stride + r].
  float* lse = nullptr;
  int64_t lse_stride = 0;
};
// Keys per attention block. Part of the numerics (online-softmax rescaling points), hence fixed for
// all ISAs and all batch shapes: 84 = 6 x 14 = 14 x 6 = 21 x 4 whole micro-tiles of keys for the
// AVX-512, AVX2 and generic GEMM micro-kernels.
inline constexpr int kAttnBlock = 84;

struct KernelSet {
  const char* name;
  int mr;  // rows per GEMM micro-tile
  int nr;  // columns per packed panel
  // A (rows, K) row-major -> tiles of mr rows, each k-major (K, mr), zero-padded: round_up(rows, mr)*K
  // floats. Tiles are independent: callers may pack row ranges that start at multiples of mr.
  void (*pack_a)(const float* a, int64_t lda, int64_t rows, int64_t k, float* out);
  // Rows [m_begin, m_end) x panels [p_begin, p_end) of C, reading A packed by pack_a (the whole
  // matrix: tile t at a_packed + t*mr*K). m_begin must be a multiple of mr. `partial`: scratch of
  // gemm_scratch_floats(m_end - m_begin, p_end - p_begin) floats.
  void (*gemm_block)(const GemmArgs& args, const float* a_packed, int64_t m_begin, int64_t m_end,
                     int64_t p_begin, int64_t p_end, float* partial);
  size_t (*gemm_scratch_floats)(int64_t rows, int64_t panels);
  void (*rmsnorm_rows)(float* out, int64_t out_stride, const float* in, int64_t in_stride,
                       const float* weight, int64_t rows, int64_t cols, float eps);
  // out = silu(gate) * up, silu(x) = x / (1 + exp(-x)); out may alias gate or up.
  void (*silu_mul)(float* out, const float* gate, const float* up, int64_t n);
  void (*exp)(float* out, const float* in, int64_t n);
  void (*attention)(const AttnArgs& args, float* scratch);
  size_t (*attention_scratch_floats)(int64_t n_query_rows, int head_dim, int n_rep);
  // Peak-throughput probe for MFU: `iters` steps of register-resident FMAs (no memory traffic).
  // Returns the number of floating-point operations performed (an FMA counts 2).
  double (*fma_peak_probe)(int64_t iters);
  // gemm_block with A read in place instead of packed (f32 panels only): A[i][k] =
  // args.a[k * args.lda + i] (transposed: the transpose of a row-major matrix) or
  // args.a[i * args.lda + k] (a row-major matrix). Same bits as gemm_block on A packed. Rows up to
  // round_up(m_end, mr) are read (those past m_end are computed and dropped): that memory must be
  // readable.
  void (*gemm_block_inplace)(const GemmArgs& args, bool transposed, int64_t m_begin, int64_t m_end,
                             int64_t p_begin, int64_t p_end, float* partial);
  // The attention backward's elementwise step on a block of scores (kernels/attention.cpp): rows
  // [0, rows) of s and dp, ld floats apart, `cols` keys; row r sees its first
  // clamp(visible0 + r / n_rep, 0, cols) keys. s <- p = exp(s * scale - lse[r]) on those, 0 on the
  // others; dp <- p * (dp - delta[r]) * scale on those, 0 on the others. Whole vectors of masked keys
  // are not read (they may be left uncomputed).
  void (*attn_backward_rows)(float* s, float* dp, int64_t ld, int64_t rows, int64_t cols, int64_t visible0,
                             int n_rep, const float* lse, const float* delta, float scale);
};

const KernelSet* kernels_avx512();  // nullptr when the CPU lacks AVX-512 (F, BW, VL, DQ)
const KernelSet* kernels_avx2();    // nullptr when the CPU lacks AVX2, FMA or F16C
const KernelSet& kernels_generic();
// "auto" = best supported; "avx512", "avx2", "generic"; nullptr when unknown or unsupported here.
const KernelSet* select_kernels(std::string_view name);
std::vector<std::string> supported_kernels();

// Scalar conversions (exact).
float bf16_to_f32(uint16_t bits);
float f16_to_f32(uint16_t bits);
uint16_t f32_to_bf16(float x);  // round to nearest even (NaN stays NaN)
uint16_t f32_to_f16(float x);   // round to nearest even, overflow to inf
// Element i of an array of `t` elements at `base`, widened to f32 (exact).
float widen(WType t, const uint8_t* base, int64_t i);

}  // namespace synpref::kernels
