// A minimal vector type per ISA for kernels_impl.h (internal). Included only by kernels_<isa>.cpp,
// which define exactly one of SP_ISA_AVX512, SP_ISA_AVX2, SP_ISA_GENERIC first and are compiled with
// that ISA's flags. Everything here has internal linkage (anonymous namespace) and uses no standard
// library templates, so code built for one ISA can never be linked into a caller of another.
//
// Every operation is an exactly specified IEEE operation (fma, add, mul, div, max, round-to-nearest-
// even, exponent construction), so a kernel written once over V gives identical bits at every width.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(SP_ISA_AVX512) || defined(SP_ISA_AVX2)
#include <immintrin.h>
#endif

#define SP_INLINE inline __attribute__((always_inline))

namespace {

#if defined(SP_ISA_AVX512)

constexpr int kLanes = 16;
struct V {
  __m512 v;
};
struct M {
  __mmask16 m;
};
SP_INLINE V vzero() {
  return {_mm512_setzero_ps()};
}
SP_INLINE V vset1(float x) {
  return {_mm512_set1_ps(x)};
}
SP_INLINE V vload(const float* p) {
  return {_mm512_loadu_ps(p)};
}
SP_INLINE void vstore(float* p, V a) {
  _mm512_storeu_ps(p, a.v);
}
SP_INLINE __mmask16 lane_mask(int n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}
// n in [0, kLanes): loads n floats, zero beyond
SP_INLINE V vload_n(const float* p, int n) {
  return {_mm512_maskz_loadu_ps(lane_mask(n), p)};
}
SP_INLINE void vstore_n(float* p, V a, int n) {
  _mm512_mask_storeu_ps(p, lane_mask(n), a.v);
}
SP_INLINE V vload_bf16(const uint16_t* p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))};
}
SP_INLINE V vload_f16(const uint16_t* p) {
  return {_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))};
}
SP_INLINE V vfma(V a, V b, V c) {
  return {_mm512_fmadd_ps(a.v, b.v, c.v)};
}  // a*b + c, one rounding
SP_INLINE V vadd(V a, V b) {
  return {_mm512_add_ps(a.v, b.v)};
}
SP_INLINE V vsub(V a, V b) {
  return {_mm512_sub_ps(a.v, b.v)};
}
SP_INLINE V vmul(V a, V b) {
  return {_mm512_mul_ps(a.v, b.v)};
}
SP_INLINE V vdiv(V a, V b) {
  return {_mm512_div_ps(a.v, b.v)};
}
SP_INLINE V vmax(V a, V b) {
  return {_mm512_max_ps(a.v, b.v)};
}
SP_INLINE V vmin(V a, V b) {
  return {_mm512_min_ps(a.v, b.v)};
}
SP_INLINE V vround(V a) {
  return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
// 2^n for integral n in [-126, 127], built from the exponent bits (exact).
SP_INLINE V vpow2i(V n) {
  __m512i i = _mm512_cvtps_epi32(n.v);
  return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(i, _mm512_set1_epi32(127)), 23))};
}
// p * 2^n for integral n in [-126, 127]: one rounding of the exact product, the same bits as
// vmul(p, vpow2i(n)) (including subnormal results), in one instruction.
SP_INLINE V vscale2(V p, V n) {
  return {_mm512_scalef_ps(p.v, n.v)};
}
SP_INLINE M vlt(V a, V b) {
  return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ)};
}
SP_INLINE M vgt(V a, V b) {
  return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ)};
}
SP_INLINE V vselect(M m, V if_true, V if_false) {
  return {_mm512_mask_blend_ps(m.m, if_false.v, if_true.v)};
}

#elif defined(SP_ISA_AVX2)

constexpr int kLanes = 8;
struct V {
  __m256 v;
};
struct M {
  __m256 m;
};
SP_INLINE V vzero() {
  return {_mm256_setzero_ps()};
}
SP_INLINE V vset1(float x) {
  return {_mm256_set1_ps(x)};
}
SP_INLINE V vload(const float* p) {
  return {_mm256_loadu_ps(p)};
}
SP_INLINE void vstore(float* p, V a) {
  _mm256_storeu_ps(p, a.v);
}
SP_INLINE __m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
SP_INLINE V vload_n(const float* p, int n) {
  return {_mm256_maskload_ps(p, lane_mask(n))};
}
SP_INLINE void vstore_n(float* p, V a, int n) {
  _mm256_maskstore_ps(p, lane_mask(n), a.v);
}
SP_INLINE V vload_bf16(const uint16_t* p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))};
}
SP_INLINE V vload_f16(const uint16_t* p) {
  return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))};
}
SP_INLINE V vfma(V a, V b, V c) {
  return {_mm256_fmadd_ps(a.v, b.v, c.v)};
}
SP_INLINE V vadd(V a, V b) {
  return {_mm256_add_ps(a.v, b.v)};
}
SP_INLINE V vsub(V a, V b) {
  return {_mm256_sub_ps(a.v, b.v)};
}
SP_INLINE V vmul(V a, V b) {
  return {_mm256_mul_ps(a.v, b.v)};
}
SP_INLINE V vdiv(V a, V b) {
  return {_mm256_div_ps(a.v, b.v)};
}
SP_INLINE V vmax(V a, V b) {
  return {_mm256_max_ps(a.v, b.v)};
}
SP_INLINE V vmin(V a, V b) {
  return {_mm256_min_ps(a.v, b.v)};
}
SP_INLINE V vround(V a) {
  return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
SP_INLINE V vpow2i(V n) {
  __m256i i = _mm256_cvtps_epi32(n.v);
  return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23))};
}
SP_INLINE V vscale2(V p, V n) {
  return {_mm256_mul_ps(p.v, vpow2i(n).v)};
}
SP_INLINE M vlt(V a, V b) {
  return {_mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ)};
}
SP_INLINE M vgt(V a, V b) {
  return {_mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ)};
}
SP_INLINE V vselect(M m, V if_true, V if_false) {
  return {_mm256_blendv_ps(if_false.v, if_true.v, m.m)};
}

#elif defined(SP_ISA_GENERIC)

constexpr int kLanes = 1;
struct V {
  float v;
};
struct M {
  bool m;
};
SP_INLINE V vzero() {
  return {0.0f};
}
SP_INLINE V vset1(float x) {
  return {x};
}
SP_INLINE V vload(const float* p) {
  return {*p};
}
SP_INLINE void vstore(float* p, V a) {
  *p = a.v;
}
SP_INLINE V vload_n(const float* p, int n) {
  return {n > 0 ? *p : 0.0f};
}
SP_INLINE void vstore_n(float* p, V a, int n) {
  if (n > 0) *p = a.v;
}
SP_INLINE float bits_to_float(uint32_t bits) {
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}
SP_INLINE V vload_bf16(const uint16_t* p) {
  return {bits_to_float(static_cast<uint32_t>(*p) << 16)};
}
SP_INLINE V vload_f16(const uint16_t* p) {
  // IEEE half -> single, exact (normals, subnormals, inf, NaN).
  const uint32_t h = *p;
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal half: normalize
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  return {bits_to_float(bits)};
}
SP_INLINE V vfma(V a, V b, V c) {
  return {__builtin_fmaf(a.v, b.v, c.v)};
}
SP_INLINE V vadd(V a, V b) {
  return {a.v + b.v};
}
SP_INLINE V vsub(V a, V b) {
  return {a.v - b.v};
}
SP_INLINE V vmul(V a, V b) {
  return {a.v * b.v};
}
SP_INLINE V vdiv(V a, V b) {
  return {a.v / b.v};
}
// max/min with the x86 operand semantics (second operand when unordered), like maxps/minps.
SP_INLINE V vmax(V a, V b) {
  return {a.v > b.v ? a.v : b.v};
}
SP_INLINE V vmin(V a, V b) {
  return {a.v < b.v ? a.v : b.v};
}
SP_INLINE V vround(V a) {
  return {__builtin_nearbyintf(a.v)};
}  // default rounding: nearest even
SP_INLINE V vpow2i(V n) {
  const int32_t i = n.v == n.v ? static_cast<int32_t>(n.v) : 0;  // NaN: p is NaN anyway
  return {bits_to_float(static_cast<uint32_t>(i + 127) << 23)};
}
SP_INLINE V vscale2(V p, V n) {
  return {p.v * vpow2i(n).v};
}
SP_INLINE M vlt(V a, V b) {
  return {a.v < b.v};
}
SP_INLINE M vgt(V a, V b) {
  return {a.v > b.v};
}
SP_INLINE V vselect(M m, V if_true, V if_false) {
  return m.m ? if_true : if_false;
}

#else
#error "define SP_ISA_AVX512, SP_ISA_AVX2 or SP_ISA_GENERIC before including simd.h"
#endif

// exp(x) in float, identical at every vector width:
//   n = round(x * log2(e)); r = x - n*ln2 (two-constant Cody-Waite, fused); exp(r) by the Cephes
//   degree-5 minimax polynomial (about 1 ulp on [-ln2/2, ln2/2]); result = p * 2^n.
// x > 88 gives +inf; x < -87 gives 0 (the true value is below 1.7e-38 there). -inf gives 0.
// exp(xc) for xc in [-87, 88] (or NaN) as p * 2^n: the reduction and polynomial described above.
SP_INLINE V vexp_core(V xc) {
  V n = vround(vmul(xc, vset1(1.44269504088896341f)));
  V r = vfma(n, vset1(-0.693359375f), xc);
  r = vfma(n, vset1(2.12194440e-4f), r);
  V p = vset1(1.9875691500e-4f);
  p = vfma(p, r, vset1(1.3981999507e-3f));
  p = vfma(p, r, vset1(8.3334519073e-3f));
  p = vfma(p, r, vset1(4.1665795894e-2f));
  p = vfma(p, r, vset1(1.6666665459e-1f));
  p = vfma(p, r, vset1(5.0000001201e-1f));
  V r2 = vmul(r, r);
  p = vfma(p, r2, vadd(r, vset1(1.0f)));
  return vscale2(p, n);
}

SP_INLINE V vexp(V x) {
  const V hi = vset1(88.0f), lo = vset1(-87.0f);
  const M over = vgt(x, hi);
  const M under = vlt(x, lo);
  const V xc = vmin(hi, vmax(lo, x));  // operand order keeps NaN (x86 min/max return the 2nd operand)
  const V y = vselect(over, vset1(__builtin_inff()), vexp_core(xc));
  return vselect(under, vzero(), y);
}

// vexp for x <= 0 or NaN (the online softmax's exp(s - max)): the same bits as vexp there, with the
// overflow branch dropped (min(88, x) = x and x > 88 is false).
SP_INLINE V vexp_nonpos(V x) {
  const V lo = vset1(-87.0f);
  const M under = vlt(x, lo);
  const V xc = vmax(lo, x);  // NaN stays NaN (x86 max returns the 2nd operand)
  return vselect(under, vzero(), vexp_core(xc));
}

// Pairwise tree over `n` partial sums (n a power of two): a[i] += a[i + half] for halves n/2..1.
// The same pairs at every vector width, so reductions built on it are ISA-independent.
SP_INLINE float tree_sum(float* a, int n) {
  for (int half = n / 2; half >= 1; half /= 2)
    for (int i = 0; i < half; ++i) a[i] = a[i] + a[i + half];
  return a[0];
}

}  // namespace
