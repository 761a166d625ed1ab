// Nominal agreement statistics (see synpref/annotate/agreement.h).
#include "synpref/annotate/agreement.h"

#include <algorithm>
#include <cmath>

#include "synpref/common/check.h"

namespace synpref::annotate {

namespace {

int n_categories(const std::vector<std::vector<int>>& units) {
  int n = 0;
  for (const auto& unit : units)
    for (int value : unit) {
      SP_CHECK(value >= 0);
      n = std::max(n, value + 1);
    }
  return n;
}

}  // namespace

KappaResult cohen_kappa(const std::vector<int>& a, const std::vector<int>& b) {
  SP_CHECK(a.size() == b.size());
  KappaResult r;
  r.n_units = static_cast<int64_t>(a.size());
  if (a.empty()) {
    r.kappa = r.observed = r.expected = std::nan("");
    return r;
  }
  int n_cat = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    SP_CHECK(a[i] >= 0 && b[i] >= 0);
    n_cat = std::max({n_cat, a[i] + 1, b[i] + 1});
  }
  std::vector<double> margin_a(n_cat, 0), margin_b(n_cat, 0);
  int64_t n_agree = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    margin_a[a[i]] += 1;
    margin_b[b[i]] += 1;
    n_agree += a[i] == b[i];
  }
  const double n = static_cast<double>(a.size());
  r.observed = static_cast<double>(n_agree) / n;
  r.expected = 0;
  for (int c = 0; c < n_cat; ++c) r.expected += (margin_a[c] / n) * (margin_b[c] / n);
  r.kappa = r.expected >= 1.0 ? std::nan("") : (r.observed - r.expected) / (1.0 - r.expected);
  return r;
}

AlphaResult krippendorff_alpha_nominal(const std::vector<std::vector<int>>& units) {
  // Coincidence matrix: each pairable unit with m values adds every ordered pair of its values
  // (from different coders) with weight 1 / (m - 1). Nominal: D_o counts mismatching pairs,
  // D_e the mismatches expected from the pooled marginals n_c:
  //   alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c * n_k.
  const int n_cat = n_categories(units);
  AlphaResult r;
  std::vector<double> coincidence(static_cast<size_t>(n_cat) * n_cat, 0);
  std::vector<int64_t> counts(n_cat);
  for (const auto& unit : units) {
    if (unit.size() < 2) continue;
    ++r.n_units;
    r.n_pairable += static_cast<int64_t>(unit.size());
    std::fill(counts.begin(), counts.end(), 0);
    for (int value : unit) ++counts[value];
    const double weight = 1.0 / static_cast<double>(unit.size() - 1);
    for (int c = 0; c < n_cat; ++c)
      for (int k = 0; k < n_cat; ++k) {
        const double pairs = c == k ? static_cast<double>(counts[c]) * (counts[c] - 1)
                                    : static_cast<double>(counts[c]) * counts[k];
        coincidence[static_cast<size_t>(c) * n_cat + k] += pairs * weight;
      }
  }
  std::vector<double> margin(n_cat, 0);
  double observed_mismatch = 0;
  for (int c = 0; c < n_cat; ++c)
    for (int k = 0; k < n_cat; ++k) {
      margin[c] += coincidence[static_cast<size_t>(c) * n_cat + k];
      if (c != k) observed_mismatch += coincidence[static_cast<size_t>(c) * n_cat + k];
    }
  double expected_mismatch = 0;
  for (int c = 0; c < n_cat; ++c)
    for (int k = 0; k < n_cat; ++k)
      if (c != k) expected_mismatch += margin[c] * margin[k];
  const double n = static_cast<double>(r.n_pairable);
  r.alpha = (r.n_pairable < 2 || expected_mismatch <= 0)
                ? std::nan("")
                : 1.0 - (n - 1.0) * observed_mismatch / expected_mismatch;
  return r;
}

}  // namespace synpref::annotate
