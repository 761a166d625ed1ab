// synpref/annotate/agreement.h: inter-annotator agreement on nominal labels.
//
// Labels are small non-negative integers naming categories (annotate uses 0 = chosen better,
// 1 = rejected better, 2 = tie, 3 = cannot determine; skips are missing values). Both statistics
// return NaN when they are undefined (no pairable values, or a single category everywhere so that
// expected disagreement is zero); callers report NaN as "not enough data", never as agreement.
//
// Validated against published worked examples (tests/annotate/test_agreement.cpp):
//  - Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011): the binary two-observer
//    example (alpha = 0.095) and the four-coder nominal example with missing data (alpha = 0.743).
//  - The two-rater Cohen's kappa table of Wikipedia's "Cohen's kappa" article (kappa = 0.4).
//  - Real data: PandaLM's 999-pair test set, published kappas 0.85/0.88/0.86 (test_pandalm.cpp).
#pragma once

#include <cstdint>
#include <vector>

namespace synpref::annotate {

struct KappaResult {
  double kappa = 0;     // (p_o - p_e) / (1 - p_e); NaN when undefined
  double observed = 0;  // p_o: fraction of units where the two raters agree
  double expected = 0;  // p_e: chance agreement from each rater's marginals
  int64_t n_units = 0;  // units both raters labeled
};

// Cohen's kappa for two raters over the same units: a[i] and b[i] are the two labels of unit i
// (precondition: a.size() == b.size(); values >= 0).
KappaResult cohen_kappa(const std::vector<int>& a, const std::vector<int>& b);

struct AlphaResult {
  double alpha = 0;        // 1 - D_o / D_e (nominal); NaN when undefined
  int64_t n_pairable = 0;  // values in units with at least two values (n in Krippendorff's notation)
  int64_t n_units = 0;     // units with at least two values
};

// Krippendorff's alpha for nominal data with any number of coders and missing values: units[u]
// holds the values unit u received (missing values simply absent; units with fewer than two
// values are not pairable and ignored). Values >= 0.
AlphaResult krippendorff_alpha_nominal(const std::vector<std::vector<int>>& units);

}  // namespace synpref::annotate
