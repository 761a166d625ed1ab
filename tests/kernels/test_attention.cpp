// The GEMM-based attention backward against the reference op (ops::attention_backward, itself
// checked by finite differences in test_ops.cpp), on shapes with remainders: query blocks, key
// blocks and panels, head dims not a multiple of the vector width, GQA ratios, with and without a
// shared context; from the saved forward output and log-sum-exp and with them recomputed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/attention.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"

using namespace synpref::kernels;

TEST(AttentionBackward, MatchesReferenceAcrossShapes) {
  const auto* ks = synpref::kernels::select_kernels("auto");
  ASSERT_NE(ks, nullptr);
  std::mt19937_64 rng(11);
  std::normal_distribution<float> nd(0.f, 1.f);
  AttentionBackward fast;
  int cases = 0;
  for (auto [n_own, n_prefix] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 0}, {5, 0}, {1, 7}, {63, 0}, {64, 1}, {65, 37}, {130, 100}, {300, 230}}) {
    for (auto [hq, hkv, d] :
         std::vector<std::tuple<int64_t, int64_t, int64_t>>{{2, 1, 8}, {4, 2, 16}, {3, 3, 40}, {6, 2, 64}}) {
      // All query rows; only the last (the scored row of the model's last layer); a middle range.
      for (auto [q_begin, q_end] : std::vector<std::pair<int64_t, int64_t>>{
               {0, n_own}, {n_own - 1, n_own}, {n_own / 3, (2 * n_own + 2) / 3}}) {
        SCOPED_TRACE("own " + std::to_string(n_own) + " prefix " + std::to_string(n_prefix) + " heads " +
                     std::to_string(hq) + "/" + std::to_string(hkv) + " D " + std::to_string(d) +
                     " queries [" + std::to_string(q_begin) + ", " + std::to_string(q_end) + ")");
        const ops::AttnDims dims{hq, hkv, d};
        const int64_t W = dims.qkv_width(), out_w = hq * d;
        std::vector<float> own(static_cast<size_t>(n_own * W)),
            prefix(static_cast<size_t>(std::max<int64_t>(1, n_prefix) * W));
        std::vector<float> dout(static_cast<size_t>(n_own * out_w));
        for (auto* v : {&own, &prefix, &dout})
          for (auto& x : *v) x = nd(rng);
        // The reference sees dout zero outside the query rows (their gradients do not flow).
        std::vector<float> dout_ref = dout;
        for (int64_t i = 0; i < n_own; ++i)
          if (i < q_begin || i >= q_end)
            std::fill(dout_ref.begin() + i * out_w, dout_ref.begin() + (i + 1) * out_w, 0.0f);
        // Gradients start non-zero: both implementations must add to them.
        std::vector<float> d_own_ref(own.size()), d_pre_ref(prefix.size());
        for (auto* v : {&d_own_ref, &d_pre_ref})
          for (auto& x : *v) x = 0.5f * nd(rng);
        std::vector<float> d_own = d_own_ref, d_pre = d_pre_ref;
        std::vector<float> d_own_saved = d_own_ref, d_pre_saved = d_pre_ref;
        const float scale = 1.0f / std::sqrt(static_cast<float>(d));
        const float* pre = n_prefix > 0 ? prefix.data() : nullptr;
        // The forward's output and log-sum-exp, as the trainer saves them.
        std::vector<float> att(static_cast<size_t>(n_own * out_w)), lse(static_cast<size_t>(n_own * hq));
        std::vector<float> fwd_scratch(
            ks->attention_scratch_floats(n_own, static_cast<int>(d), static_cast<int>(hq / hkv)));
        for (int64_t g = 0; g < hkv; ++g) {
          const int64_t n_rep = hq / hkv;
          AttnArgs a;
          a.k_prefix = pre ? pre + (hq + g) * d : nullptr;
          a.v_prefix = pre ? pre + (hq + hkv + g) * d : nullptr;
          a.n_prefix = n_prefix;
          a.k_own = own.data() + (hq + g) * d;
          a.v_own = own.data() + (hq + hkv + g) * d;
          a.kv_stride = W;
          a.q = own.data() + g * n_rep * d;
          a.q_stride = W;
          a.out = att.data() + g * n_rep * d;
          a.out_stride = out_w;
          a.q_begin = 0;
          a.q_end = n_own;
          a.head_dim = static_cast<int>(d);
          a.n_rep = static_cast<int>(n_rep);
          a.scale = scale;
          a.lse = lse.data() + g * n_rep;
          a.lse_stride = hq;
          ks->attention(a, fwd_scratch.data());
        }
        for (int64_t g = 0; g < hkv; ++g) {
          ops::attention_backward<float>(d_own_ref.data(), n_prefix > 0 ? d_pre_ref.data() : nullptr,
                                         dout_ref.data(), out_w, own.data(), pre, n_own, n_prefix, W, dims,
                                         scale, g, g + 1);
          fast.run(ks, d_own.data(), n_prefix > 0 ? d_pre.data() : nullptr, dout.data(), out_w, own.data(),
                   pre, n_own, n_prefix, W, dims, scale, g, q_begin, q_end);
          fast.run(ks, d_own_saved.data(), n_prefix > 0 ? d_pre_saved.data() : nullptr, dout.data(), out_w,
                   own.data(), pre, n_own, n_prefix, W, dims, scale, g, q_begin, q_end, att.data(),
                   lse.data(), hq);
        }
        double max_ref = 0, max_diff = 0, max_diff_saved = 0;
        for (size_t i = 0; i < d_own.size(); ++i) {
          max_ref = std::max(max_ref, static_cast<double>(std::abs(d_own_ref[i])));
          max_diff = std::max(max_diff, static_cast<double>(std::abs(d_own[i] - d_own_ref[i])));
          max_diff_saved =
              std::max(max_diff_saved, static_cast<double>(std::abs(d_own_saved[i] - d_own_ref[i])));
        }
        for (size_t i = 0; i < d_pre.size(); ++i) {
          max_ref = std::max(max_ref, static_cast<double>(std::abs(d_pre_ref[i])));
          max_diff = std::max(max_diff, static_cast<double>(std::abs(d_pre[i] - d_pre_ref[i])));
          max_diff_saved =
              std::max(max_diff_saved, static_cast<double>(std::abs(d_pre_saved[i] - d_pre_ref[i])));
        }
        EXPECT_LE(max_diff, 2e-5 * max_ref);
        EXPECT_LE(max_diff_saved, 2e-5 * max_ref);
        // The saved forward rows are the ones the recomputation produces: the same bits.
        EXPECT_EQ(d_own_saved, d_own);
        EXPECT_EQ(d_pre_saved, d_pre);
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 96);
}

namespace {

// FNV-1a over the bits of a float array.
uint64_t fnv1a(const std::vector<float>& v, uint64_t h) {
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(float); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace

// Several query and key blocks (and a partial last one of each), a shared context, GQA, a query
// range that starts mid-sequence: every supported ISA gives the same bits, and those bits are the
// ones pinned here (the kernels of main at 45d7ad1, before the backward was reorganized), so a faster
// schedule of the same products cannot silently regroup a sum.
TEST(AttentionBackward, BitsPinnedAndEqualAcrossIsas) {
  struct Shape {
    int64_t n_own, n_prefix, hq, hkv, d, q_begin, q_end;
  };
  const std::vector<Shape> shapes{
      {600, 300, 4, 2, 64, 0, 600}, {517, 0, 6, 2, 40, 71, 450}, {300, 40, 2, 1, 128, 0, 300}};
  std::vector<std::string> digests;
  for (const auto& name : supported_kernels()) {
    const KernelSet* ks = select_kernels(name);
    ASSERT_NE(ks, nullptr);
    AttentionBackward bwd;
    uint64_t h = 1469598103934665603ull;
    for (const Shape& s : shapes) {
      std::mt19937_64 rng(23);
      std::normal_distribution<float> nd(0.f, 1.f);
      const ops::AttnDims dims{s.hq, s.hkv, s.d};
      const int64_t W = dims.qkv_width(), out_w = s.hq * s.d, n_rep = s.hq / s.hkv;
      std::vector<float> own(static_cast<size_t>(s.n_own * W)),
          prefix(static_cast<size_t>(std::max<int64_t>(1, s.n_prefix) * W)),
          dout(static_cast<size_t>(s.n_own * out_w)), d_own(own.size()), d_pre(prefix.size());
      for (auto* v : {&own, &prefix, &dout, &d_own, &d_pre})
        for (auto& x : *v) x = nd(rng);
      const float* pre = s.n_prefix > 0 ? prefix.data() : nullptr;
      const float scale = 1.0f / std::sqrt(static_cast<float>(s.d));
      std::vector<float> att(static_cast<size_t>(s.n_own * out_w)), lse(static_cast<size_t>(s.n_own * s.hq));
      std::vector<float> scratch(
          ks->attention_scratch_floats(s.n_own, static_cast<int>(s.d), static_cast<int>(n_rep)));
      for (int64_t g = 0; g < s.hkv; ++g) {
        AttnArgs a;
        a.k_prefix = pre ? pre + (s.hq + g) * s.d : nullptr;
        a.v_prefix = pre ? pre + (s.hq + s.hkv + g) * s.d : nullptr;
        a.n_prefix = s.n_prefix;
        a.k_own = own.data() + (s.hq + g) * s.d;
        a.v_own = own.data() + (s.hq + s.hkv + g) * s.d;
        a.kv_stride = W;
        a.q = own.data() + g * n_rep * s.d;
        a.q_stride = W;
        a.out = att.data() + g * n_rep * s.d;
        a.out_stride = out_w;
        a.q_begin = 0;
        a.q_end = s.n_own;
        a.head_dim = static_cast<int>(s.d);
        a.n_rep = static_cast<int>(n_rep);
        a.scale = scale;
        a.lse = lse.data() + g * n_rep;
        a.lse_stride = s.hq;
        ks->attention(a, scratch.data());
      }
      for (int64_t g = 0; g < s.hkv; ++g)
        bwd.run(ks, d_own.data(), pre ? d_pre.data() : nullptr, dout.data(), out_w, own.data(), pre, s.n_own,
                s.n_prefix, W, dims, scale, g, s.q_begin, s.q_end, att.data(), lse.data(), s.hq);
      h = fnv1a(d_pre, fnv1a(d_own, h));
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    digests.push_back(hex);
    // The inputs come from std::normal_distribution compiled in this file, which tests/kernels/
    // CMakeLists.txt builds with -ffp-contract=off: with contraction, -O2 fuses its x*x + y*y into
    // an fma and -O1 does not, so the inputs (not the kernels) differed between the optimized and
    // the sanitizer builds. The pin is for these uncontracted inputs, in every build.
    EXPECT_EQ(std::string(hex), "e39f01870264bb7c") << name;
  }
  for (const auto& d : digests) EXPECT_EQ(d, digests.front());
}
