// Shared statistics of the scoring rules (src/eval/rules.h); the rules themselves are in
// benchmarks/<name>.cpp.
#include "eval/rules.h"

#include <algorithm>
#include <cmath>

#include "synpref/common/check.h"

namespace synpref::eval {

double mean_of(std::span<const double> values) {
  double sum = 0;
  int n = 0;
  for (double v : values) {
    if (std::isnan(v)) continue;
    sum += v;
    ++n;
  }
  return n ? sum / n : kNaN;
}

void Groups::add(const std::string& key, uint32_t item) {
  auto it = std::find(keys.begin(), keys.end(), key);
  if (it == keys.end()) {
    keys.push_back(key);
    members.emplace_back();
    it = keys.end() - 1;
  }
  members[it - keys.begin()].push_back(item);
}

int Groups::find(const std::string& key) const {
  auto it = std::find(keys.begin(), keys.end(), key);
  return it == keys.end() ? -1 : int(it - keys.begin());
}

double group_mean(const std::vector<uint32_t>& members, std::span<const double> outcome,
                  std::span<const double> weights, double* n) {
  Mean m;
  for (uint32_t i : members) m.add(weights[i], outcome[i]);
  if (n) *n = m.weight;
  return m.value();
}

std::vector<uint64_t> Rule::clusters(size_t n_items) const {
  std::vector<uint64_t> out(n_items);
  for (size_t i = 0; i < n_items; ++i) out[i] = i;
  return out;
}

std::vector<double> best_of_k_curve(std::span<const double> scores, std::span<const uint8_t> correct) {
  const size_t n = scores.size();
  SP_CHECK(correct.size() == n && n > 0);
  // Distinct score levels with their size g and correct count c, and L = responses below.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  struct Level {
    size_t below, size;
    double correct;
  };
  std::vector<Level> levels;
  for (size_t pos = 0; pos < n;) {
    size_t end = pos;
    double c = 0;
    while (end < n && scores[order[end]] == scores[order[pos]]) c += correct[order[end++]];
    levels.push_back({pos, end - pos, c});
    pos = end;
  }
  // P(a K-subset has no element outside the first `a` sorted positions) = C(a, K) / C(n, K).
  auto ratio = [n](size_t a, size_t k) {
    if (a < k) return 0.0;
    double r = 1.0;
    for (size_t t = 0; t < k; ++t) r *= double(a - t) / double(n - t);
    return r;
  };
  std::vector<double> curve(n);
  for (size_t k = 1; k <= n; ++k) {
    // The top level of the subset is v with probability [C(L+g, K) - C(L, K)] / C(n, K); given that,
    // a uniform tie-break picks a correct response with probability c / g.
    double expected = 0;
    for (const Level& level : levels) {
      double p = ratio(level.below + level.size, k) - ratio(level.below, k);
      expected += p * level.correct / double(level.size);
    }
    curve[k - 1] = expected;
  }
  return curve;
}

}  // namespace synpref::eval
