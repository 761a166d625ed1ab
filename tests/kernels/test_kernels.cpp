// Every fast kernel against its scalar reference, sweeping odd shapes, for every kernel build the
// CPU supports (avx512, avx2, generic). GEMM must match the reference bitwise (same fma chain);
// all builds must match each other bitwise; double-precision references bound the rest.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/reference/reference_kernels.h"

using namespace synpref;
using kernels::KernelSet;
using kernels::WType;

namespace {

std::vector<const KernelSet*> all_sets() {
  std::vector<const KernelSet*> out;
  for (const auto& name : kernels::supported_kernels()) out.push_back(kernels::select_kernels(name));
  return out;
}

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

bool bits_equal(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

// Weights in `type`, plus the same values as the kernels will see them (f32).
struct Weights {
  WType type;
  std::vector<uint8_t> bytes;
};
Weights make_weights(WType type, const std::vector<float>& w) {
  Weights out{type, {}};
  out.bytes.resize(w.size() * kernels::wtype_size(type));
  for (size_t i = 0; i < w.size(); ++i) {
    if (type == WType::f32)
      std::memcpy(out.bytes.data() + 4 * i, &w[i], 4);
    else {
      uint16_t h = type == WType::bf16 ? kernels::f32_to_bf16(w[i]) : kernels::f32_to_f16(w[i]);
      std::memcpy(out.bytes.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

// Runs the fast GEMM over the whole matrix, split into blocks of `block_rows` rows x `block_panels`
// panels (to show that splits do not matter).
void run_gemm(const KernelSet& ks, const kernels::GemmArgs& g, int64_t block_rows, int64_t block_panels) {
  block_rows = (block_rows + ks.mr - 1) / ks.mr * ks.mr;  // blocks start at multiples of mr
  const int64_t panels = g.w->n_panels();
  std::vector<float> a_packed(static_cast<size_t>((g.m + ks.mr - 1) / ks.mr * ks.mr * g.w->k));
  // Pack in two pieces (tiles are independent) to exercise partial packing.
  const int64_t half = (g.m / 2) / ks.mr * ks.mr;
  ks.pack_a(g.a, g.lda, half, g.w->k, a_packed.data());
  ks.pack_a(g.a + half * g.lda, g.lda, g.m - half, g.w->k, a_packed.data() + half * g.w->k);
  std::vector<float> scratch(ks.gemm_scratch_floats(block_rows, block_panels));
  for (int64_t m0 = 0; m0 < g.m; m0 += block_rows)
    for (int64_t p0 = 0; p0 < panels; p0 += block_panels)
      ks.gemm_block(g, a_packed.data(), m0, std::min(g.m, m0 + block_rows), p0,
                    std::min(panels, p0 + block_panels), scratch.data());
}

}  // namespace

TEST(Kernels, SelectionKnowsItsNames) {
  EXPECT_NE(kernels::select_kernels("auto"), nullptr);
  EXPECT_NE(kernels::select_kernels("generic"), nullptr);
  EXPECT_EQ(kernels::select_kernels("sse9"), nullptr);
  for (const auto& name : kernels::supported_kernels())
    EXPECT_STREQ(kernels::select_kernels(name)->name, name.c_str());
}

TEST(Kernels, GemmMatchesScalarReferenceBitwise) {
  const int64_t ms[] = {1, 2, 5, 12, 13, 31, 70};
  const int64_t ns[] = {1, 7, 16, 31, 32, 33, 65};
  const int64_t ks_[] = {1, 3, 17, 64, 129};
  uint32_t seed = 1;
  for (const KernelSet* ks : all_sets()) {
    for (WType type : {WType::f32, WType::bf16, WType::f16}) {
      for (int64_t m : ms)
        for (int64_t n : ns)
          for (int64_t k : ks_) {
            SCOPED_TRACE(std::string(ks->name) + " type " + std::to_string(int(type)) + " m " +
                         std::to_string(m) + " n " + std::to_string(n) + " k " + std::to_string(k));
            const auto a = randn(static_cast<size_t>(m * k), seed++);
            const auto w = randn(static_cast<size_t>(n * k), seed++, 0.5f);
            const auto bias = randn(static_cast<size_t>(n), seed++);
            const Weights wt = make_weights(type, w);
            std::vector<uint8_t> packed(kernels::packed_bytes(type, n, k, ks->nr));
            kernels::pack_weights({{type, wt.bytes.data(), n}}, k, ks->nr, type, packed.data(), 0,
                                  (n + ks->nr - 1) / ks->nr);
            kernels::PackedMatrix pm{type, n, k, ks->nr, packed.data()};
            for (int variant = 0; variant < 3; ++variant) {
              const bool use_bias = variant == 1, accumulate = variant == 2;
              std::vector<float> c_fast = randn(static_cast<size_t>(m * n), 99), c_ref = c_fast;
              kernels::GemmArgs g{a.data(),      k, &pm, use_bias ? bias.data() : nullptr,
                                  c_fast.data(), n, m,   accumulate};
              run_gemm(*ks, g, variant == 0 ? m : 5, variant == 0 ? 1000 : 1);
              kernels::reference::gemm_ref(c_ref.data(), n, a.data(), k, type, wt.bytes.data(),
                                           use_bias ? bias.data() : nullptr, m, n, k, accumulate);
              for (size_t i = 0; i < c_ref.size(); ++i) {
                ASSERT_TRUE(bits_equal(c_fast[i], c_ref[i]))
                    << "element " << i << ": " << c_fast[i] << " vs " << c_ref[i];
              }
            }
          }
    }
  }
}

// gemm_block_inplace reads A in place, as a row-major matrix or as the transpose of one (the
// attention backward's dQ += dS K and dK += dS^T Q): the same bits as the reference on A, whatever
// the row blocks, with the rows past M (read, dropped) holding NaN.
TEST(Kernels, GemmWithAInPlaceMatchesScalarReferenceBitwise) {
  uint32_t seed = 7;
  for (const KernelSet* ks : all_sets()) {
    for (auto [m, n, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {1, 1, 1}, {5, 7, 3}, {13, 33, 17}, {31, 65, 129}, {70, 32, 200}, {266, 40, 64}}) {
      SCOPED_TRACE(std::string(ks->name) + " m " + std::to_string(m) + " n " + std::to_string(n) + " k " +
                   std::to_string(k));
      const auto a = randn(static_cast<size_t>(m * k), seed++);
      const int64_t m_up = (m + ks->mr - 1) / ks->mr * ks->mr;
      // A^T (k, m) row-major, rows m + 9 apart; A (m, k) row-major, rows k + 5 apart.
      const int64_t ld_t = m + 9, ld_r = k + 5;
      std::vector<float> a_t(static_cast<size_t>(k * ld_t + ks->mr), std::nanf("")),
          a_r(static_cast<size_t>(m_up * ld_r), std::nanf(""));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < k; ++j) {
          a_t[static_cast<size_t>(j * ld_t + i)] = a[static_cast<size_t>(i * k + j)];
          a_r[static_cast<size_t>(i * ld_r + j)] = a[static_cast<size_t>(i * k + j)];
        }
      const auto w = randn(static_cast<size_t>(n * k), seed++, 0.5f);
      const Weights wt = make_weights(WType::f32, w);
      std::vector<uint8_t> packed(kernels::packed_bytes(WType::f32, n, k, ks->nr));
      kernels::pack_weights({{WType::f32, wt.bytes.data(), n}}, k, ks->nr, WType::f32, packed.data(), 0,
                            (n + ks->nr - 1) / ks->nr);
      kernels::PackedMatrix pm{WType::f32, n, k, ks->nr, packed.data()};
      for (int variant = 0; variant < 4; ++variant) {
        const bool accumulate = variant % 2 == 1, transposed = variant < 2;
        SCOPED_TRACE(std::string(transposed ? "transposed" : "rows") + (accumulate ? " accumulate" : ""));
        std::vector<float> c_fast = randn(static_cast<size_t>(m * n), 99), c_ref = c_fast;
        kernels::GemmArgs g{transposed ? a_t.data() : a_r.data(),
                            transposed ? ld_t : ld_r,
                            &pm,
                            nullptr,
                            c_fast.data(),
                            n,
                            m,
                            accumulate};
        const int64_t block_rows = accumulate ? 2 * ks->mr : m;
        const int64_t panels = pm.n_panels();
        std::vector<float> scratch(ks->gemm_scratch_floats(block_rows, panels));
        for (int64_t m0 = 0; m0 < m; m0 += block_rows)
          ks->gemm_block_inplace(g, transposed, m0, std::min(m, m0 + block_rows), 0, panels, scratch.data());
        kernels::reference::gemm_ref(c_ref.data(), n, a.data(), k, WType::f32, wt.bytes.data(), nullptr, m, n,
                                     k, accumulate);
        for (size_t i = 0; i < c_ref.size(); ++i)
          ASSERT_TRUE(bits_equal(c_fast[i], c_ref[i]))
              << "element " << i << ": " << c_fast[i] << " vs " << c_ref[i];
      }
    }
  }
}

TEST(Kernels, GemmRowsDoNotDependOnOtherRows) {
  // Row r computed in a batch of 40 rows equals row r computed alone (and at another tile offset).
  const int64_t k = 96, n = 70;
  const auto a = randn(40 * k, 5);
  const auto w = randn(n * k, 6);
  for (const KernelSet* ks : all_sets()) {
    std::vector<uint8_t> packed(kernels::packed_bytes(WType::f32, n, k, ks->nr));
    kernels::pack_weights({{WType::f32, w.data(), n}}, k, ks->nr, WType::f32, packed.data(), 0,
                          (n + ks->nr - 1) / ks->nr);
    kernels::PackedMatrix pm{WType::f32, n, k, ks->nr, packed.data()};
    std::vector<float> all(40 * n), one(n);
    run_gemm(*ks, {a.data(), k, &pm, nullptr, all.data(), n, 40, false}, 40, 1000);
    for (int64_t r : {0, 7, 13, 39}) {
      run_gemm(*ks, {a.data() + r * k, k, &pm, nullptr, one.data(), n, 1, false}, 1, 1000);
      for (int64_t j = 0; j < n; ++j)
        ASSERT_TRUE(bits_equal(one[j], all[r * n + j])) << ks->name << " row " << r;
    }
  }
}

TEST(Kernels, PackingStacksSourcesAndWidensMixedTypes) {
  const int64_t k = 5;
  const auto w1 = randn(3 * k, 7), w2 = randn(4 * k, 8);
  const Weights b2 = make_weights(WType::bf16, w2);
  const int nr = 16;
  std::vector<float> packed(kernels::packed_bytes(WType::f32, 7, k, nr) / 4);
  kernels::pack_weights({{WType::f32, w1.data(), 3}, {WType::bf16, b2.bytes.data(), 4}}, k, nr, WType::f32,
                        packed.data(), 0, 1);
  for (int64_t n = 0; n < nr; ++n)
    for (int64_t kk = 0; kk < k; ++kk) {
      float expected = 0;
      if (n < 3)
        expected = w1[n * k + kk];
      else if (n < 7)
        expected = kernels::bf16_to_f32(kernels::f32_to_bf16(w2[(n - 3) * k + kk]));
      EXPECT_EQ(packed[kk * nr + n], expected) << n << "," << kk;
    }
}

TEST(Kernels, RmsNormMatchesReferenceAndAgreesAcrossBuilds) {
  for (int64_t cols : {1, 3, 8, 15, 16, 17, 33, 64, 100, 1024}) {
    const int64_t rows = 5;
    const auto x = randn(static_cast<size_t>(rows * cols), 11, 3.0f);
    const auto w = randn(static_cast<size_t>(cols), 12);
    std::vector<float> ref(x.size());
    kernels::reference::rmsnorm_ref(ref.data(), x.data(), w.data(), rows, cols, 1e-6);
    std::vector<float> first;
    for (const KernelSet* ks : all_sets()) {
      std::vector<float> out(x.size());
      ks->rmsnorm_rows(out.data(), cols, x.data(), cols, w.data(), rows, cols, 1e-6f);
      for (size_t i = 0; i < out.size(); ++i) {
        ASSERT_NEAR(out[i], ref[i], 2e-6 * std::max(1.0f, std::fabs(ref[i]))) << ks->name << " cols " << cols;
      }
      if (first.empty()) first = out;
      for (size_t i = 0; i < out.size(); ++i)
        ASSERT_TRUE(bits_equal(out[i], first[i])) << ks->name << " cols " << cols;
      // In place gives the same bits.
      std::vector<float> inplace = x;
      ks->rmsnorm_rows(inplace.data(), cols, inplace.data(), cols, w.data(), rows, cols, 1e-6f);
      for (size_t i = 0; i < out.size(); ++i) ASSERT_TRUE(bits_equal(out[i], inplace[i]));
    }
  }
}

TEST(Kernels, ExpIsAccurateAndAgreesAcrossBuilds) {
  std::vector<float> x;
  for (float v = -90.0f; v <= 90.0f; v += 0.0137f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -87.0f, -86.99f, 87.99f}) x.push_back(v);
  x.push_back(-INFINITY);
  std::vector<float> first;
  for (const KernelSet* ks : all_sets()) {
    std::vector<float> y(x.size());
    ks->exp(y.data(), x.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      const double truth = std::exp(static_cast<double>(x[i]));
      if (x[i] > 88.0f) {
        EXPECT_TRUE(std::isinf(y[i])) << x[i];
      } else if (x[i] < -87.0f) {
        EXPECT_EQ(y[i], 0.0f) << x[i];
      } else {
        ASSERT_NEAR(y[i], truth, 3e-7 * truth) << ks->name << " x=" << x[i];
      }
    }
    EXPECT_EQ(y[x.size() - 1], 0.0f);  // exp(-inf)
    if (first.empty()) first = y;
    for (size_t i = 0; i < y.size(); ++i)
      ASSERT_TRUE(bits_equal(y[i], first[i])) << ks->name << " x=" << x[i];
  }
}

TEST(Kernels, SiluMulMatchesReference) {
  for (int64_t n : {1, 7, 16, 33, 3072}) {
    const auto g = randn(static_cast<size_t>(n), 21, 4.0f), u = randn(static_cast<size_t>(n), 22);
    std::vector<float> ref(static_cast<size_t>(n));
    kernels::reference::silu_mul_ref(ref.data(), g.data(), u.data(), n);
    std::vector<float> first;
    for (const KernelSet* ks : all_sets()) {
      std::vector<float> out(static_cast<size_t>(n));
      ks->silu_mul(out.data(), g.data(), u.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(out[i], ref[i], 1e-6 * std::max(1.0f, std::fabs(ref[i])));
      if (first.empty()) first = out;
      for (int64_t i = 0; i < n; ++i) ASSERT_TRUE(bits_equal(out[i], first[i])) << ks->name;
    }
  }
}

namespace {

struct AttnCase {
  int head_dim, n_rep;
  int64_t n_prefix, n_own;
};

// q/k/v rows laid out like the model's fused qkv buffer, one kv head.
struct AttnData {
  std::vector<float> prefix_kv, own_kv, q;
  int64_t kv_stride, q_stride;
};

AttnData make_attn(const AttnCase& c, uint32_t seed) {
  AttnData d;
  d.kv_stride = 2 * c.head_dim + 3;  // k then v, plus unrelated columns
  d.q_stride = c.n_rep * c.head_dim + 5;
  d.prefix_kv = randn(static_cast<size_t>(std::max<int64_t>(1, c.n_prefix) * d.kv_stride), seed, 1.0f);
  d.own_kv = randn(static_cast<size_t>(c.n_own * d.kv_stride), seed + 1, 1.0f);
  d.q = randn(static_cast<size_t>(c.n_own * d.q_stride), seed + 2, 1.5f);
  return d;
}

kernels::AttnArgs attn_args(const AttnCase& c, AttnData& d, float* out, int64_t q0, int64_t q1) {
  kernels::AttnArgs a;
  a.k_prefix = d.prefix_kv.data();
  a.v_prefix = d.prefix_kv.data() + c.head_dim;
  a.n_prefix = c.n_prefix;
  a.k_own = d.own_kv.data();
  a.v_own = d.own_kv.data() + c.head_dim;
  a.kv_stride = d.kv_stride;
  a.q = d.q.data();
  a.q_stride = d.q_stride;
  a.out = out;
  a.out_stride = c.n_rep * c.head_dim;
  a.q_begin = q0;
  a.q_end = q1;
  a.head_dim = c.head_dim;
  a.n_rep = c.n_rep;
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  return a;
}

}  // namespace

TEST(Kernels, AttentionMatchesReferenceInvariantToQuerySplits) {
  // Short cases, and long ones spanning many 84-key blocks and query panels (every build: the last
  // two are tens of blocks long).
  const AttnCase cases[] = {{8, 2, 0, 1},    {8, 2, 0, 70},    {16, 1, 5, 3},    {32, 2, 63, 2},
                            {32, 4, 64, 65}, {64, 2, 65, 130}, {128, 2, 0, 200}, {20, 3, 130, 17},
                            {128, 1, 1, 64}, {64, 4, 200, 1},  {128, 2, 0, 900}, {72, 2, 500, 600}};
  uint32_t seed = 100;
  for (const AttnCase& c : cases) {
    SCOPED_TRACE("D " + std::to_string(c.head_dim) + " rep " + std::to_string(c.n_rep) + " prefix " +
                 std::to_string(c.n_prefix) + " own " + std::to_string(c.n_own));
    AttnData d = make_attn(c, seed);
    seed += 3;
    const size_t out_n = static_cast<size_t>(c.n_own * c.n_rep * c.head_dim);
    const size_t lse_n = static_cast<size_t>(c.n_own * c.n_rep);
    std::vector<float> ref(out_n), ref_lse(lse_n);
    kernels::AttnArgs ref_args = attn_args(c, d, ref.data(), 0, c.n_own);
    ref_args.lse = ref_lse.data();
    ref_args.lse_stride = c.n_rep;
    kernels::reference::attention_ref(ref_args);
    // Query splits: the whole range at once, the engine's chunking, odd sizes, one row per call.
    std::vector<int64_t> splits{c.n_own, int64_t{256}, int64_t{37}, int64_t{7}};
    if (c.n_own <= 200) splits.push_back(1);
    std::vector<float> first, first_lse;
    for (const KernelSet* ks : all_sets()) {
      for (int64_t split : splits) {
        std::vector<float> out(out_n, NAN), lse(lse_n, NAN);
        std::vector<float> scratch(ks->attention_scratch_floats(split, c.head_dim, c.n_rep));
        for (int64_t q0 = 0; q0 < c.n_own; q0 += split) {
          kernels::AttnArgs a = attn_args(c, d, out.data(), q0, std::min(c.n_own, q0 + split));
          a.lse = lse.data();
          a.lse_stride = c.n_rep;
          ks->attention(a, scratch.data());
        }
        for (size_t i = 0; i < out_n; ++i) {
          // 4e-6 relative: the tiled kernel and the reference sum in different orders, and the
          // sanitizer build's -O1 contracts multiply-adds differently from -O2 (seen: 2.06e-6).
          ASSERT_NEAR(out[i], ref[i], 4e-6 * std::max(1.0f, std::fabs(ref[i])))
              << ks->name << " split " << split << " i " << i;
        }
        for (size_t i = 0; i < lse_n; ++i)
          ASSERT_NEAR(lse[i], ref_lse[i], 4e-6 * std::max(1.0f, std::fabs(ref_lse[i])))
              << ks->name << " lse " << i;
        if (first.empty()) first = out, first_lse = lse;
        for (size_t i = 0; i < out_n; ++i) {
          ASSERT_TRUE(bits_equal(out[i], first[i])) << ks->name << " split " << split << " element " << i;
        }
        for (size_t i = 0; i < lse_n; ++i)
          ASSERT_TRUE(bits_equal(lse[i], first_lse[i])) << ks->name << " split " << split << " lse " << i;
      }
    }
  }
}

TEST(Kernels, AttentionWithPrefixEqualsAttentionOverConcatenation) {
  // Keys/values split into (prefix, own) give the same bits as one sequence holding both.
  const int D = 32, n_rep = 2;
  const int64_t P = 77, N = 50;
  AttnCase split_case{D, n_rep, P, N};
  AttnData d = make_attn(split_case, 7);
  AttnCase whole_case{D, n_rep, 0, P + N};
  AttnData w;
  w.kv_stride = d.kv_stride;
  w.q_stride = d.q_stride;
  w.prefix_kv = d.prefix_kv;
  w.own_kv = d.prefix_kv;
  w.own_kv.resize(static_cast<size_t>(P * d.kv_stride));
  w.own_kv.insert(w.own_kv.end(), d.own_kv.begin(), d.own_kv.end());
  w.q = randn(static_cast<size_t>((P + N) * d.q_stride), 8);
  std::copy(d.q.begin(), d.q.end(), w.q.begin() + P * d.q_stride);
  for (const KernelSet* ks : all_sets()) {
    std::vector<float> split_out(static_cast<size_t>(N * n_rep * D)),
        whole_out(static_cast<size_t>((P + N) * n_rep * D));
    std::vector<float> scratch(ks->attention_scratch_floats(P + N, D, n_rep));
    ks->attention(attn_args(split_case, d, split_out.data(), 0, N), scratch.data());
    ks->attention(attn_args(whole_case, w, whole_out.data(), 0, P + N), scratch.data());
    for (size_t i = 0; i < split_out.size(); ++i) {
      ASSERT_TRUE(bits_equal(split_out[i], whole_out[static_cast<size_t>(P * n_rep * D) + i]))
          << ks->name << " " << i;
    }
  }
}

TEST(Kernels, HalfPrecisionConversionsAreExact) {
  // f16 -> f32 -> f16 is the identity on every non-NaN half; bf16 likewise.
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = kernels::f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(kernels::f32_to_f16(f), h) << h;
    const float b = kernels::bf16_to_f32(static_cast<uint16_t>(h));
    if (!std::isnan(b)) {
      ASSERT_EQ(kernels::f32_to_bf16(b), h) << h;
    }
  }
  // Ties round to even.
  EXPECT_EQ(kernels::f32_to_bf16(1.0f + 0x1p-8f), kernels::f32_to_bf16(1.0f));
  EXPECT_EQ(kernels::f32_to_f16(1.0f + 0x1p-11f), kernels::f32_to_f16(1.0f));
  EXPECT_EQ(kernels::f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(kernels::f16_to_f32(0x0001), 0x1p-24f);
}
