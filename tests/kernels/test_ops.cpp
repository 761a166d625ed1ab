// Every op's backward against central finite differences of its forward, in double precision.
//
// For an op y = f(x1, x2, ...) and fixed random weights w, the scalar L = sum_i w_i y_i has
// dL/dx = backward(dout = w). Each input element is perturbed by +-h (h = 1e-6) and
// (L(x + h) - L(x - h)) / 2h is compared with the analytic gradient: agreement to 1e-7 relative
// (the truncation error is O(h^2 |f'''|), the rounding error O(1e-16 / h)).
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "kernels/row_ops.h"

using namespace synpref::kernels::ops;
namespace ops = synpref::kernels::ops;
namespace row_ops = synpref::kernels::row_ops;

namespace {

using Vec = std::vector<double>;

Vec randn(size_t n, std::mt19937_64& rng, double scale = 1.0) {
  std::normal_distribution<double> d(0.0, scale);
  Vec v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Checks analytic gradient `grad` of L(x) = loss() with respect to every element of *x.
void expect_matches_finite_differences(const char* what, Vec* x, const Vec& grad,
                                       const std::function<double()>& loss) {
  ASSERT_EQ(x->size(), grad.size()) << what;
  const double h = 1e-6;
  double max_abs = 0;
  for (double g : grad) max_abs = std::max(max_abs, std::abs(g));
  ASSERT_GT(max_abs, 1e-8) << what << ": gradient is identically zero; the check would be vacuous";
  for (size_t i = 0; i < x->size(); ++i) {
    const double saved = (*x)[i];
    (*x)[i] = saved + h;
    const double lp = loss();
    (*x)[i] = saved - h;
    const double lm = loss();
    (*x)[i] = saved;
    const double numeric = (lp - lm) / (2 * h);
    EXPECT_NEAR(grad[i], numeric, 1e-7 * std::max(1.0, max_abs)) << what << " element " << i;
  }
}

}  // namespace

TEST(OpsGradient, Embedding) {
  std::mt19937_64 rng(1);
  const int64_t V = 7, C = 5, N = 9;
  Vec table = randn(V * C, rng);
  const std::vector<int32_t> ids = {3, 1, 3, 6, 0, 3, 2, 6, 5};  // repeated ids accumulate
  Vec w = randn(N * C, rng);
  auto loss = [&] {
    Vec out(N * C);
    embedding_forward<double>(out.data(), ids.data(), N, table.data(), C);
    return dot(out, w);
  };
  Vec dtable(V * C, 0.0);
  embedding_backward<double>(dtable.data(), w.data(), ids.data(), N, C, 0, C);
  expect_matches_finite_differences("embedding table", &table, dtable, loss);
}

TEST(OpsGradient, RmsNormInputAndWeightWithStrides) {
  std::mt19937_64 rng(2);
  const int64_t N = 4, C = 7, in_stride = 9, out_stride = 8;
  Vec x = randn(N * in_stride, rng), weight = randn(C, rng, 0.5), w = randn(N * out_stride, rng);
  for (auto& v : weight) v += 1.0;
  const double eps = 1e-5;
  auto loss = [&] {
    Vec out(N * out_stride, 0.0);
    rmsnorm_forward<double>(out.data(), out_stride, x.data(), in_stride, weight.data(), N, C, eps);
    return dot(out, w);
  };
  Vec dx(N * in_stride, 0.0), dweight(C, 0.0);
  rmsnorm_backward<double>(dx.data(), in_stride, dweight.data(), w.data(), out_stride, x.data(), in_stride,
                           weight.data(), N, C, eps);
  // Padding columns (stride > C) get no gradient: zero analytic, zero numeric.
  expect_matches_finite_differences("rmsnorm input", &x, dx, loss);
  expect_matches_finite_differences("rmsnorm weight", &weight, dweight, loss);
}

TEST(OpsGradient, RmsNormBackwardAccumulatesOrOverwrites) {
  std::mt19937_64 rng(3);
  const int64_t C = 6;
  Vec x = randn(C, rng), weight(C, 1.0), dy = randn(C, rng);
  Vec a(C, 5.0), b(C, 5.0);
  rmsnorm_backward<double>(a.data(), C, nullptr, dy.data(), C, x.data(), C, weight.data(), 1, C, 1e-6, true);
  rmsnorm_backward<double>(b.data(), C, nullptr, dy.data(), C, x.data(), C, weight.data(), 1, C, 1e-6, false);
  for (int64_t c = 0; c < C; ++c) EXPECT_NEAR(a[c] - 5.0, b[c], 1e-12);
}

TEST(OpsGradient, Rope) {
  std::mt19937_64 rng(4);
  const int64_t H = 3, D = 8;
  Vec x = randn(H * D, rng), w = randn(H * D, rng);
  Vec cos(D / 2), sin(D / 2);
  for (int64_t i = 0; i < D / 2; ++i) cos[i] = std::cos(0.3 * (i + 1)), sin[i] = std::sin(0.3 * (i + 1));
  auto loss = [&] {
    Vec y = x;
    rope_forward<double, double>(y.data(), cos.data(), sin.data(), H, D);
    return dot(y, w);
  };
  Vec g = w;
  rope_backward<double, double>(g.data(), cos.data(), sin.data(), H, D);
  expect_matches_finite_differences("rope", &x, g, loss);
}

// GQA (4 query heads on 2 kv heads), a shared context of 3 rows and 4 own rows: gradients reach the
// own q/k/v and the context's k/v.
TEST(OpsGradient, CausalGqaAttentionWithSharedContext) {
  std::mt19937_64 rng(5);
  const AttnDims dims{4, 2, 3};
  const int64_t W = dims.qkv_width(), n_own = 4, n_prefix = 3, out_w = dims.n_head * dims.head_dim;
  const double scale = 1.0 / std::sqrt(3.0);
  Vec own = randn(n_own * W, rng), prefix = randn(n_prefix * W, rng), w = randn(n_own * out_w, rng);
  auto loss = [&] {
    Vec out(n_own * out_w);
    attention_forward<double>(out.data(), out_w, own.data(), prefix.data(), n_own, n_prefix, W, dims, scale,
                              0, dims.n_head_kv);
    return dot(out, w);
  };
  Vec d_own(own.size(), 0.0), d_prefix(prefix.size(), 0.0);
  attention_backward<double>(d_own.data(), d_prefix.data(), w.data(), out_w, own.data(), prefix.data(), n_own,
                             n_prefix, W, dims, scale, 0, dims.n_head_kv);
  expect_matches_finite_differences("attention own q/k/v", &own, d_own, loss);
  // The context's q columns are never read: zero gradient, and zero numeric derivative.
  expect_matches_finite_differences("attention context k/v", &prefix, d_prefix, loss);
}

TEST(OpsGradient, AttentionWithoutContextIsCausal) {
  std::mt19937_64 rng(6);
  const AttnDims dims{2, 2, 4};
  const int64_t W = dims.qkv_width(), n = 5, out_w = 8;
  Vec qkv = randn(n * W, rng);
  Vec out(n * out_w);
  attention_forward<double>(out.data(), out_w, qkv.data(), nullptr, n, 0, W, dims, 0.5, 0, 2);
  // Row 0 attends only to itself: its output is its own v.
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t d = 0; d < 4; ++d) EXPECT_NEAR(out[h * 4 + d], qkv[(2 + 2 + h) * 4 + d], 1e-12);
  // Changing the last row's k/v leaves earlier outputs unchanged.
  Vec qkv2 = qkv;
  for (int64_t c = 8; c < W; ++c) qkv2[(n - 1) * W + c] += 1.0;
  Vec out2(n * out_w);
  attention_forward<double>(out2.data(), out_w, qkv2.data(), nullptr, n, 0, W, dims, 0.5, 0, 2);
  for (int64_t i = 0; i < (n - 1) * out_w; ++i) EXPECT_EQ(out[i], out2[i]);
  Vec w = randn(n * out_w, rng);
  Vec d(qkv.size(), 0.0);
  attention_backward<double>(d.data(), nullptr, w.data(), out_w, qkv.data(), nullptr, n, 0, W, dims, 0.5, 0,
                             2);
  auto loss = [&] {
    Vec o(n * out_w);
    attention_forward<double>(o.data(), out_w, qkv.data(), nullptr, n, 0, W, dims, 0.5, 0, 2);
    return dot(o, w);
  };
  expect_matches_finite_differences("attention qkv", &qkv, d, loss);
}

TEST(OpsGradient, SwiGlu) {
  std::mt19937_64 rng(7);
  const int64_t N = 3, F = 5;
  Vec gu = randn(N * 2 * F, rng, 2.0), w = randn(N * F, rng);
  auto loss = [&] {
    Vec out(N * F);
    swiglu_forward<double>(out.data(), gu.data(), N, F);
    return dot(out, w);
  };
  Vec d(N * 2 * F, 0.0);
  swiglu_backward<double>(d.data(), w.data(), gu.data(), N, F);
  expect_matches_finite_differences("swiglu", &gu, d, loss);
}

TEST(OpsGradient, LinearInputWeightBias) {
  std::mt19937_64 rng(8);
  const int64_t N = 4, IC = 5, OC = 3;
  Vec x = randn(N * IC, rng), wt = randn(OC * IC, rng), b = randn(OC, rng), w = randn(N * OC, rng);
  auto loss = [&] {
    Vec out(N * OC);
    matmul_forward<double>(out.data(), x.data(), wt.data(), b.data(), N, IC, OC);
    return dot(out, w);
  };
  Vec dx(x.size(), 0.0), dw(wt.size(), 0.0), db(OC, 0.0);
  matmul_backward<double>(dx.data(), dw.data(), db.data(), w.data(), x.data(), wt.data(), N, IC, OC);
  expect_matches_finite_differences("linear input", &x, dx, loss);
  expect_matches_finite_differences("linear weight", &wt, dw, loss);
  expect_matches_finite_differences("linear bias", &b, db, loss);
}

TEST(OpsGradient, BradleyTerryLossWithMargins) {
  std::mt19937_64 rng(9);
  const int64_t P = 6;
  Vec rc = randn(P, rng, 3.0), rr = randn(P, rng, 3.0), margin = randn(P, rng);
  rc[0] = 40, rr[0] = -40;  // saturated: the stable form must not overflow
  rc[1] = -40, rr[1] = 40;
  const double scale = 1.0 / P;
  auto loss = [&] {
    return scale * bt_loss_forward<double>(nullptr, rc.data(), rr.data(), margin.data(), P);
  };
  Vec dc(P), dr(P);
  bt_loss_backward<double>(dc.data(), dr.data(), rc.data(), rr.data(), margin.data(), P, scale);
  expect_matches_finite_differences("bt chosen", &rc, dc, loss);
  expect_matches_finite_differences("bt rejected", &rr, dr, loss);
  // Closed forms: loss(z = 0) = log 2; a margin shifts z.
  const double zero = 0, one = 1;
  EXPECT_NEAR(bt_loss_forward<double>(nullptr, &zero, &zero, nullptr, 1), std::log(2.0), 1e-15);
  EXPECT_NEAR(bt_loss_forward<double>(nullptr, &one, &zero, &one, 1), std::log(2.0), 1e-15);
  Vec big_loss(2);
  bt_loss_forward<double>(big_loss.data(), rc.data(), rr.data(), nullptr, 2);
  EXPECT_NEAR(big_loss[0], std::exp(-80.0), 1e-40);
  EXPECT_NEAR(big_loss[1], 80.0, 1e-12);
}

// ---------------------------------------------------------------- fast row kernels vs references

// row_ops (the training hot path) against the double-precision references above, on widths that
// exercise the 16-wide partial sums' remainders, with strides, accumulation and weight gradients.
TEST(RowOps, RmsNormBackwardMatchesDoubleReference) {
  std::mt19937_64 rng(21);
  std::normal_distribution<double> nd(0.0, 1.0);
  for (int64_t C : {1, 7, 16, 33, 128, 1000}) {
    for (bool accumulate : {true, false}) {
      SCOPED_TRACE("C " + std::to_string(C) + (accumulate ? " accumulate" : " overwrite"));
      const int64_t rows = 5, stride = C + 3;
      std::vector<double> x(static_cast<size_t>(rows * stride)), dy(x.size()), dx(x.size()),
          w(static_cast<size_t>(C)), dw(static_cast<size_t>(C));
      for (auto* v : {&x, &dy, &dx, &w, &dw})
        for (auto& e : *v) e = nd(rng);
      std::vector<float> xf(x.begin(), x.end()), dyf(dy.begin(), dy.end()), dxf(dx.begin(), dx.end()),
          wf(w.begin(), w.end()), dwf(dw.begin(), dw.end());
      ops::rmsnorm_backward<double>(dx.data(), stride, dw.data(), dy.data(), stride, x.data(), stride,
                                    w.data(), rows, C, 1e-6, accumulate);
      row_ops::rmsnorm_backward(dxf.data(), stride, dwf.data(), dyf.data(), stride, xf.data(), stride,
                                wf.data(), rows, C, 1e-6f, accumulate);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < C; ++c) {
          const size_t i = static_cast<size_t>(r * stride + c);
          EXPECT_NEAR(dxf[i], dx[i], 1e-5 * (1 + std::abs(dx[i]))) << r << "," << c;
        }
      for (int64_t c = 0; c < C; ++c) EXPECT_NEAR(dwf[c], dw[c], 1e-5 * (1 + std::abs(dw[c]))) << c;
    }
  }
}

TEST(RowOps, SwiGluBackwardMatchesDoubleReference) {
  const auto* ks = synpref::kernels::select_kernels("auto");
  ASSERT_NE(ks, nullptr);
  std::mt19937_64 rng(22);
  std::normal_distribution<double> nd(0.0, 3.0);
  for (int64_t F : {1, 15, 64, 1001}) {
    SCOPED_TRACE("F " + std::to_string(F));
    const int64_t rows = 3;
    std::vector<double> gu(static_cast<size_t>(rows * 2 * F)), dy(static_cast<size_t>(rows * F)),
        dgu(gu.size());
    for (auto* v : {&gu, &dy})
      for (auto& e : *v) e = nd(rng);
    std::vector<float> guf(gu.begin(), gu.end()), dyf(dy.begin(), dy.end()), dguf(gu.size(), -1.0f),
        scratch(static_cast<size_t>(F));
    ops::swiglu_backward<double>(dgu.data(), dy.data(), gu.data(), rows, F);
    row_ops::swiglu_backward(ks, dguf.data(), dyf.data(), guf.data(), rows, F, scratch.data());
    for (size_t i = 0; i < dgu.size(); ++i) EXPECT_NEAR(dguf[i], dgu[i], 1e-5 * (1 + std::abs(dgu[i]))) << i;
  }
}

TEST(RowOps, CausalSoftmaxAndItsBackwardMatchDoubleReference) {
  const auto* ks = synpref::kernels::select_kernels("auto");
  ASSERT_NE(ks, nullptr);
  std::mt19937_64 rng(23);
  std::normal_distribution<double> nd(0.0, 4.0);
  const double scale = 0.125;
  for (auto [visible, n] :
       std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 9}, {17, 17}, {40, 64}, {300, 301}}) {
    SCOPED_TRACE("visible " + std::to_string(visible) + " of " + std::to_string(n));
    std::vector<double> s(static_cast<size_t>(n)), dp(s.size());
    for (auto* v : {&s, &dp})
      for (auto& e : *v) e = nd(rng);
    std::vector<float> row(s.begin(), s.end()), drow(dp.begin(), dp.end());
    row_ops::softmax_scaled(ks, row.data(), visible, n, static_cast<float>(scale));
    double mx = -1e300, sum = 0;
    for (int64_t j = 0; j < visible; ++j) mx = std::max(mx, s[j] * scale);
    std::vector<double> p(s.size(), 0.0);
    for (int64_t j = 0; j < visible; ++j) sum += p[j] = std::exp(s[j] * scale - mx);
    for (int64_t j = 0; j < visible; ++j) p[j] /= sum;
    for (int64_t j = 0; j < n; ++j) EXPECT_NEAR(row[j], p[j], 2e-6) << j;
    // dS = P (dP - sum(P dP)) * scale, from the float P just computed.
    double dot = 0;
    for (int64_t j = 0; j < visible; ++j) dot += static_cast<double>(row[j]) * dp[j];
    row_ops::softmax_backward(row.data(), drow.data(), visible, n, static_cast<float>(scale));
    for (int64_t j = 0; j < n; ++j) {
      const double want = j < visible ? row[j] * (dp[j] - dot) * scale : 0.0;
      EXPECT_NEAR(drow[j], want, 1e-5 * (1 + std::abs(want))) << j;
    }
  }
}
