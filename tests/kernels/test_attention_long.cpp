// Attention at Skywork-Reward-V2's longest inputs (16,384 tokens), Qwen3-0.6B head shapes (head_dim
// 128, 2 query heads per key/value head): the invariants scoring and training rest on, at full length.
//   - query splits (the engine's 256-row tasks, odd 1000-row tasks) give the same bits;
//   - prefix sharing: the last 4,096 rows computed against a shared 12,288-row context give the bits
//     of the whole sequence;
//   - every build (AVX-512, AVX2, generic) gives those bits (checked on the last rows, where every
//     query sees ~16K keys);
//   - sampled rows match the double-precision reference, output and log-sum-exp.
// ~0.5 TFLOP of attention on one thread: a few seconds with AVX-512 (only the last rows run generic).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/kernels.h"
#include "kernels/reference/reference_kernels.h"

namespace kernels = synpref::kernels;
using kernels::KernelSet;

namespace {

constexpr int kD = 128, kRep = 2;
constexpr int64_t kN = 16384;

// One key/value head's rows: k and v (kv_stride apart), queries of kRep heads (q_stride apart).
struct LongData {
  std::vector<float> kv, q;
  int64_t kv_stride = 2 * kD, q_stride = kRep * kD;
  LongData() {
    std::mt19937 rng(17);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    kv.resize(static_cast<size_t>(kN * kv_stride));
    q.resize(static_cast<size_t>(kN * q_stride));
    for (auto& x : kv) x = nd(rng);
    for (auto& x : q) x = 1.5f * nd(rng);
  }
};

struct Result {
  std::vector<float> out, lse;
};

// Own rows [row_begin, kN) with rows [0, n_prefix) as the shared context (n_prefix <= row_begin:
// rows [n_prefix, row_begin) are own rows that are not computed), queries in tasks of `split` rows.
Result run(const KernelSet* ks, const LongData& d, int64_t n_prefix, int64_t row_begin, int64_t split) {
  const int64_t n_own = kN - n_prefix;
  Result r;
  r.out.assign(static_cast<size_t>(kN * kRep * kD), NAN);
  r.lse.assign(static_cast<size_t>(kN * kRep), NAN);
  std::vector<float> scratch(ks->attention_scratch_floats(split, kD, kRep));
  for (int64_t q0 = row_begin - n_prefix; q0 < n_own; q0 += split) {
    kernels::AttnArgs a;
    a.k_prefix = d.kv.data();
    a.v_prefix = d.kv.data() + kD;
    a.n_prefix = n_prefix;
    a.k_own = d.kv.data() + n_prefix * d.kv_stride;
    a.v_own = a.k_own + kD;
    a.kv_stride = d.kv_stride;
    a.q = d.q.data() + n_prefix * d.q_stride;
    a.q_stride = d.q_stride;
    a.out = r.out.data() + n_prefix * kRep * kD;
    a.out_stride = kRep * kD;
    a.q_begin = q0;
    a.q_end = std::min(n_own, q0 + split);
    a.head_dim = kD;
    a.n_rep = kRep;
    a.scale = 1.0f / std::sqrt(static_cast<float>(kD));
    a.lse = r.lse.data() + n_prefix * kRep;
    a.lse_stride = kRep;
    ks->attention(a, scratch.data());
  }
  return r;
}

bool bits_equal(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

// Rows [row_begin, kN) of two results agree bitwise.
void expect_same_bits(const Result& a, const Result& b, int64_t row_begin, const std::string& what) {
  for (size_t i = static_cast<size_t>(row_begin * kRep * kD); i < a.out.size(); ++i)
    ASSERT_TRUE(bits_equal(a.out[i], b.out[i])) << what << ": output element " << i;
  for (size_t i = static_cast<size_t>(row_begin * kRep); i < a.lse.size(); ++i)
    ASSERT_TRUE(bits_equal(a.lse[i], b.lse[i])) << what << ": lse element " << i;
}

}  // namespace

TEST(AttentionLong, SixteenKTokensKeepEveryInvariant) {
  const LongData d;
  const KernelSet* best = kernels::select_kernels("auto");
  ASSERT_NE(best, nullptr);
  const Result engine = run(best, d, 0, 0, 256);
  expect_same_bits(engine, run(best, d, 0, 0, 1000), 0, "1000-row tasks");
  expect_same_bits(engine, run(best, d, 12288, 12288, 256), 12288, "shared 12,288-row context");
  constexpr int64_t kLastRows = 40;
  for (const auto& name : kernels::supported_kernels())
    expect_same_bits(engine, run(kernels::select_kernels(name), d, 0, kN - kLastRows, kLastRows),
                     kN - kLastRows, name);

  // Sampled rows against the double-precision reference.
  for (int64_t row : {int64_t{0}, int64_t{83}, int64_t{84}, int64_t{4095}, int64_t{12288}, kN - 1}) {
    std::vector<float> out(static_cast<size_t>(kN * kRep * kD)), lse(static_cast<size_t>(kN * kRep));
    kernels::AttnArgs a;
    a.k_own = d.kv.data();
    a.v_own = d.kv.data() + kD;
    a.kv_stride = d.kv_stride;
    a.q = d.q.data();
    a.q_stride = d.q_stride;
    a.out = out.data();
    a.out_stride = kRep * kD;
    a.q_begin = row;
    a.q_end = row + 1;
    a.head_dim = kD;
    a.n_rep = kRep;
    a.scale = 1.0f / std::sqrt(static_cast<float>(kD));
    a.lse = lse.data();
    a.lse_stride = kRep;
    kernels::reference::attention_ref(a);
    for (int64_t i = row * kRep * kD; i < (row + 1) * kRep * kD; ++i) {
      const float ref = out[static_cast<size_t>(i)];
      ASSERT_NEAR(engine.out[static_cast<size_t>(i)], ref, 2e-6 * std::max(1.0f, std::fabs(ref)))
          << "row " << row;
    }
    for (int64_t i = row * kRep; i < (row + 1) * kRep; ++i) {
      const float ref = lse[static_cast<size_t>(i)];
      ASSERT_NEAR(engine.lse[static_cast<size_t>(i)], ref, 2e-6 * std::max(1.0f, std::fabs(ref)))
          << "row " << row;
    }
  }
}
