// src/eval/rules.h: the Rule interface every benchmark's official scoring rule implements, and
// the small statistics they share.
//
// A Rule is built once from the scored items (it precomputes every per-item statistic: the 0/1
// outcome, RM-Bench's 3x3 indicators, best-of-K expectations, Ties margins) and then evaluates
// all of its metrics for a vector of item weights: all ones for the point estimate, bootstrap
// multiplicities for a replicate. Keeping the per-item work out of compute() makes 1000
// replicates cheap and guarantees the point estimate and the replicates use the same code.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/eval/benchmark.h"
#include "synpref/eval/scoring.h"

namespace synpref::eval {

struct ScoredItem {
  const Item* item = nullptr;
  const std::vector<double>* scores = nullptr;
};

class Rule {
 public:
  virtual ~Rule() = default;
  // Metric names in report order; names()[0] is the Table-1 headline.
  const std::vector<std::string>& names() const { return names_; }
  // Evaluates every metric under `weights` (one per scored item, >= 0). value[m] is NaN when the
  // metric has no weight behind it; n[m] is the total weight of its denominator.
  virtual void compute(std::span<const double> weights, std::span<double> value,
                       std::span<double> n) const = 0;
  virtual std::vector<Curve> curves(std::span<const double> weights) const {
    (void)weights;
    return {};
  }
  // Bootstrap units: items with the same cluster id are drawn together (RewardBench 2 Ties).
  // Default: every item is its own cluster.
  virtual std::vector<uint64_t> clusters(size_t n_items) const;

  std::string tie_policy;
  std::vector<std::string> notes;
  bool partial = false;  // a section/domain/category of the official total has no data

 protected:
  std::vector<std::string> names_;
};

// ---- Shared statistics ------------------------------------------------------------------------

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Accumulates a weighted mean.
struct Mean {
  double sum = 0, weight = 0;
  void add(double w, double x) {
    sum += w * x;
    weight += w;
  }
  double value() const { return weight > 0 ? sum / weight : kNaN; }
};

// Mean of the non-NaN values; NaN when none.
double mean_of(std::span<const double> values);

// Indices of items grouped by a key, in first-seen key order.
struct Groups {
  std::vector<std::string> keys;
  std::vector<std::vector<uint32_t>> members;
  void add(const std::string& key, uint32_t item);
  int find(const std::string& key) const;  // -1 when absent
};

// Weighted mean of outcome[i] over `members`; *n (when given) receives the total weight.
double group_mean(const std::vector<uint32_t>& members, std::span<const double> outcome,
                  std::span<const double> weights, double* n);

// The expected correctness of the top-scored response among K responses drawn uniformly without
// replacement from `scores`, ties at the top broken uniformly, for K = 1..scores.size().
std::vector<double> best_of_k_curve(std::span<const double> scores, std::span<const uint8_t> correct);

// `rule`, or a data_error "no scored item belongs to <what>" when rule->empty().
template <typename R>
Result<std::unique_ptr<Rule>> nonempty_rule(std::unique_ptr<R> rule, const char* what) {
  if (rule->empty()) return data_error(std::string("no scored item belongs to ") + what);
  return std::unique_ptr<Rule>(std::move(rule));
}

}  // namespace synpref::eval
