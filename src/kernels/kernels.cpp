// Kernel selection (run-time CPU dispatch), weight packing and scalar conversions.
#include "kernels.h"

#include <cstring>

#include "synpref/common/check.h"

namespace synpref::kernels {

extern const KernelSet kKernelsAvx512;
extern const KernelSet kKernelsAvx2;
extern const KernelSet kKernelsGeneric;

namespace {
bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2");
}
bool cpu_has_avx2() {
  __builtin_cpu_init();
  // F16C has no __builtin_cpu_supports name in GCC 12; every AVX2 CPU (Haswell+, Zen) has it.
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
}  // namespace

size_t wtype_size(WType t) {
  return t == WType::f32 ? 4 : 2;
}

size_t packed_bytes(WType type, int64_t n, int64_t k, int nr) {
  const int64_t panels = (n + nr - 1) / nr;
  return static_cast<size_t>(panels * k * nr) * wtype_size(type);
}

const KernelSet* kernels_avx512() {
  return cpu_has_avx512() ? &kKernelsAvx512 : nullptr;
}
const KernelSet* kernels_avx2() {
  return cpu_has_avx2() ? &kKernelsAvx2 : nullptr;
}
const KernelSet& kernels_generic() {
  return kKernelsGeneric;
}

const KernelSet* select_kernels(std::string_view name) {
  if (name == "auto") {
    if (auto* k = kernels_avx512()) return k;
    if (auto* k = kernels_avx2()) return k;
    return &kKernelsGeneric;
  }
  if (name == "avx512") return kernels_avx512();
  if (name == "avx2") return kernels_avx2();
  if (name == "generic") return &kKernelsGeneric;
  return nullptr;
}

std::vector<std::string> supported_kernels() {
  std::vector<std::string> out;
  if (kernels_avx512()) out.push_back("avx512");
  if (kernels_avx2()) out.push_back("avx2");
  out.push_back("generic");
  return out;
}

float bf16_to_f32(uint16_t bits) {
  uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

uint16_t f32_to_f16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  u &= 0x7fffffffu;
  if (u > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (u >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65536: inf
  if (u < 0x33000001u) return sign;             // below half the smallest subnormal: 0
  int32_t e = static_cast<int32_t>(u >> 23) - 127;
  uint32_t mant = (u & 0x7fffffu) | 0x800000u;
  if (e < -14) {  // subnormal half: shift mantissa, round to nearest even
    const int shift = -e - 14 + 13;
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    const uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  uint32_t half = (static_cast<uint32_t>(e + 15) << 10) | ((mant >> 13) & 0x3ffu);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent: correct
  return sign | static_cast<uint16_t>(half);
}

float widen(WType t, const uint8_t* base, int64_t i) {
  switch (t) {
    case WType::f32: {
      float f;
      std::memcpy(&f, base + 4 * i, 4);
      return f;
    }
    case WType::bf16: {
      uint16_t b;
      std::memcpy(&b, base + 2 * i, 2);
      return bf16_to_f32(b);
    }
    case WType::f16: {
      uint16_t b;
      std::memcpy(&b, base + 2 * i, 2);
      return f16_to_f32(b);
    }
  }
  return 0;
}

namespace {

float element_as_f32(WType type, const uint8_t* p) {
  switch (type) {
    case WType::f32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case WType::bf16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return bf16_to_f32(b);
    }
    case WType::f16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return f16_to_f32(b);
    }
  }
  return 0.0f;
}

}  // namespace

void pack_weights(const std::vector<RowSource>& sources, int64_t k, int nr, WType type, void* out,
                  int64_t panel_begin, int64_t panel_end) {
  int64_t n_total = 0;
  for (const auto& s : sources) {
    SP_CHECK(s.type == type || type == WType::f32);
    n_total += s.rows;
  }
  const size_t es = wtype_size(type);
  uint8_t* dst = static_cast<uint8_t*>(out);
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    uint8_t* panel = dst + static_cast<size_t>(p * k * nr) * es;
    for (int j = 0; j < nr; ++j) {
      const int64_t n = p * nr + j;
      // Locate row n in the stacked sources.
      const RowSource* src = nullptr;
      int64_t row = n;
      for (const auto& s : sources) {
        if (row < s.rows) {
          src = &s;
          break;
        }
        row -= s.rows;
      }
      if (n >= n_total || !src) {
        for (int64_t kk = 0; kk < k; ++kk) std::memset(panel + static_cast<size_t>(kk * nr + j) * es, 0, es);
        continue;
      }
      const size_t ses = wtype_size(src->type);
      const uint8_t* srow = static_cast<const uint8_t*>(src->data) + static_cast<size_t>(row * k) * ses;
      if (src->type == type) {
        for (int64_t kk = 0; kk < k; ++kk) {
          std::memcpy(panel + static_cast<size_t>(kk * nr + j) * es, srow + static_cast<size_t>(kk) * es, es);
        }
      } else {
        for (int64_t kk = 0; kk < k; ++kk) {
          const float f = element_as_f32(src->type, srow + static_cast<size_t>(kk) * ses);
          std::memcpy(panel + static_cast<size_t>(kk * nr + j) * 4, &f, 4);
        }
      }
    }
  }
}

}  // namespace synpref::kernels
