// The GEMM driver (src/kernels/gemm.h) as training uses it: forward, input gradient, weight and
// bias gradient against the reference linear op, strided outputs, and the A-panel packers.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"

using namespace synpref;
using namespace synpref::kernels;

namespace {

// The training GEMMs (forward, input gradient, weight gradient, bias gradient) against the
// reference linear op on shapes with remainders in every dimension.
TEST(Gemm, MatchesReferenceOnOddShapes) {
  const auto* ks = kernels::select_kernels("auto");
  ASSERT_NE(ks, nullptr);
  ThreadPool pool(2);
  Gemm gemm(ks, &pool);
  std::mt19937_64 rng(3);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto [rows, k, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 1, 1}, {5, 7, 3}, {37, 29, 45}, {130, 64, 97}, {13, 200, 33}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(k) + "x" + std::to_string(n));
    std::vector<float> x(static_cast<size_t>(rows * k)), w(static_cast<size_t>(n * k)),
        b(static_cast<size_t>(n)), dy(static_cast<size_t>(rows * n));
    for (auto* v : {&x, &w, &b, &dy})
      for (auto& e : *v) e = nd(rng);
    std::vector<float> y(static_cast<size_t>(rows * n)), y_ref(y.size());
    gemm.linear_forward(y.data(), x.data(), w.data(), b.data(), rows, k, n, false);
    ops::matmul_forward<float>(y_ref.data(), x.data(), w.data(), b.data(), rows, k, n);
    for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], y_ref[i], 1e-4 * (1 + std::abs(y_ref[i]))) << i;
    std::vector<float> dx(x.size(), 0.5f), dw(w.size(), 0.25f), db(b.size(), 1.0f);
    std::vector<float> dx_ref = dx, dw_ref = dw, db_ref = db;
    gemm.linear_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), rows, k, n);
    ops::matmul_backward<float>(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(), w.data(),
                                rows, k, n);
    for (size_t i = 0; i < dx.size(); ++i)
      EXPECT_NEAR(dx[i], dx_ref[i], 1e-4 * (1 + std::abs(dx_ref[i]))) << "dx " << i;
    for (size_t i = 0; i < dw.size(); ++i)
      EXPECT_NEAR(dw[i], dw_ref[i], 1e-4 * (1 + std::abs(dw_ref[i]))) << "dw " << i;
    for (size_t i = 0; i < db.size(); ++i)
      EXPECT_NEAR(db[i], db_ref[i], 1e-4 * (1 + std::abs(db_ref[i]))) << "db " << i;
  }
}

// Strided output (forward) and strided output gradient (backward) give the dense results bit for
// bit: the pruned last layer computes keys and values as a column range of the fused projection.
TEST(Gemm, StridedOutputsEqualDense) {
  const auto* ks = kernels::select_kernels("auto");
  ThreadPool pool(2);
  Gemm gemm(ks, &pool);
  std::mt19937_64 rng(5);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int64_t rows = 37, k = 29, n = 45, ld = n + 7;
  std::vector<float> x(static_cast<size_t>(rows * k)), w(static_cast<size_t>(n * k)),
      b(static_cast<size_t>(n)), dy_wide(static_cast<size_t>(rows * ld));
  for (auto* v : {&x, &w, &b, &dy_wide})
    for (auto& e : *v) e = nd(rng);
  std::vector<float> y(static_cast<size_t>(rows * n)), y_wide(static_cast<size_t>(rows * ld), 7.0f);
  gemm.linear_forward(y.data(), x.data(), w.data(), b.data(), rows, k, n, false);
  gemm.linear_forward(y_wide.data(), x.data(), w.data(), b.data(), rows, k, n, false, ld);
  std::vector<float> dy(static_cast<size_t>(rows * n));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < ld; ++c) {
      if (c < n) {
        EXPECT_EQ(y_wide[static_cast<size_t>(r * ld + c)], y[static_cast<size_t>(r * n + c)]);
        dy[static_cast<size_t>(r * n + c)] = dy_wide[static_cast<size_t>(r * ld + c)];
      } else {
        EXPECT_EQ(y_wide[static_cast<size_t>(r * ld + c)], 7.0f) << "wrote past the columns";
      }
    }
  std::vector<float> dx(x.size(), 0.5f), dw(w.size(), 0.25f), db(b.size(), 1.0f);
  std::vector<float> dx2 = dx, dw2 = dw, db2 = db;
  gemm.linear_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), rows, k, n);
  gemm.linear_backward(dx2.data(), dw2.data(), db2.data(), dy_wide.data(), x.data(), w.data(), rows, k, n,
                       true, ld);
  EXPECT_EQ(dx, dx2);
  EXPECT_EQ(dw, dw2);
  EXPECT_EQ(db, db2);
}

// The training packers write exactly the inference kernel's A layout (pack_a), from row-major and
// from transposed sources.
TEST(Gemm, PackersMatchTheKernelLayout) {
  const auto* ks = kernels::select_kernels("auto");
  std::mt19937_64 rng(4);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto [rows, k] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {13, 7}, {25, 70}, {36, 33}}) {
    const int64_t ld = k + 3;
    std::vector<float> a(static_cast<size_t>(rows * ld));
    for (auto& x : a) x = nd(rng);
    const int64_t tiles = (rows + ks->mr - 1) / ks->mr;
    std::vector<float> want(static_cast<size_t>(tiles * ks->mr * k)), got(want.size(), -1.0f),
        got_t(want.size(), -1.0f);
    ks->pack_a(a.data(), ld, rows, k, want.data());
    pack_a_rows(got.data(), ks->mr, a.data(), ld, rows, k, 0, tiles);
    EXPECT_EQ(got, want);
    std::vector<float> at(static_cast<size_t>(k * rows));  // (k, rows) = a^T
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < k; ++j)
        at[static_cast<size_t>(j * rows + i)] = a[static_cast<size_t>(i * ld + j)];
    pack_a_transposed(got_t.data(), ks->mr, at.data(), rows, rows, k, 0, tiles);
    EXPECT_EQ(got_t, want);
  }
}

}  // namespace
