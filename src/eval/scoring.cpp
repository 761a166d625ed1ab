// evaluate(): point estimates and seeded percentile-bootstrap intervals over the registered
// benchmark's Rule.
#include "synpref/eval/scoring.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "eval/registry.h"
#include "eval/rules.h"

namespace synpref::eval {

namespace {

// splitmix64: a fixed, portable stream (std::uniform_int_distribution is not the same on every
// standard library, and a report must be reproducible bit for bit).
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by multiply-high (bias below 2^-32 for the sizes used here).
  uint64_t below(uint64_t n) { return uint64_t((static_cast<unsigned __int128>(next()) * n) >> 64); }
};

// numpy.percentile's default (linear interpolation between order statistics).
double percentile(std::vector<double>& sorted, double q) {
  double pos = q * double(sorted.size() - 1);
  size_t lo = size_t(std::floor(pos));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace

Result<Evaluation> evaluate(const Dataset& dataset, const ItemScores& scores,
                            const BootstrapOptions& options) {
  SP_CHECK(scores.scores.size() == dataset.items.size());
  if (!(options.confidence > 0 && options.confidence < 1)) {
    return invalid_argument("bootstrap confidence must be in (0, 1)");
  }
  std::vector<ScoredItem> items;
  for (size_t i = 0; i < dataset.items.size(); ++i) {
    if (scores.scores[i].empty()) continue;
    SP_CHECK(scores.scores[i].size() == dataset.items[i].responses.size());
    items.push_back({&dataset.items[i], &scores.scores[i]});
  }
  if (items.empty()) return data_error("no item has scores; nothing to evaluate");
  const BenchmarkSpec* spec = find_spec(dataset.benchmark);
  if (spec == nullptr) {
    return invalid_argument("dataset benchmark '" + dataset.benchmark +
                            "' is not one of: " + benchmark_names());
  }
  SP_ASSIGN_OR_RETURN(std::unique_ptr<Rule> rule, spec->make_rule(items));

  const size_t n_items = items.size();
  const size_t n_metrics = rule->names().size();
  std::vector<double> ones(n_items, 1.0), value(n_metrics), count(n_metrics);
  rule->compute(ones, value, count);

  Evaluation out;
  out.benchmark = dataset.benchmark;
  out.headline = rule->names()[0];
  out.tie_policy = rule->tie_policy;
  out.notes = rule->notes;
  out.partial = rule->partial || !scores.missing.empty();
  out.n_items = n_items;
  out.curves = rule->curves(ones);
  if (dataset.n_excluded > 0) {
    out.notes.push_back(std::to_string(dataset.n_excluded) +
                        " records excluded at load: " + dataset.excluded_reason);
  }
  if (!scores.missing.empty()) {
    out.notes.push_back(std::to_string(scores.missing.size()) + " of " +
                        std::to_string(dataset.items.size()) + " items have no scores and were left out");
  }
  for (size_t m = 0; m < n_metrics; ++m) {
    out.metrics.push_back({rule->names()[m], value[m], value[m], value[m], count[m]});
  }
  if (options.replicates == 0) return out;

  // Bootstrap units: clusters inside strata (the item's subset), each stratum keeping its size.
  std::vector<uint64_t> cluster_of = rule->clusters(n_items);
  std::unordered_map<std::string, size_t> stratum_index;
  std::vector<std::vector<std::vector<uint32_t>>> strata;  // stratum -> clusters -> items
  std::unordered_map<uint64_t, std::pair<size_t, size_t>> cluster_slot;
  for (size_t i = 0; i < n_items; ++i) {
    auto [s_it, s_new] = stratum_index.try_emplace(items[i].item->subset, strata.size());
    if (s_new) strata.emplace_back();
    auto [c_it, c_new] = cluster_slot.try_emplace(cluster_of[i], s_it->second, strata[s_it->second].size());
    if (c_new) strata[s_it->second].emplace_back();
    strata[c_it->second.first][c_it->second.second].push_back(uint32_t(i));
  }

  SplitMix64 rng{options.seed};
  std::vector<std::vector<double>> replicate_values(n_metrics);
  std::vector<double> weights(n_items), rep_value(n_metrics), rep_count(n_metrics);
  for (uint32_t r = 0; r < options.replicates; ++r) {
    std::fill(weights.begin(), weights.end(), 0.0);
    for (const auto& clusters : strata) {
      for (size_t draw = 0; draw < clusters.size(); ++draw) {
        for (uint32_t i : clusters[rng.below(clusters.size())]) weights[i] += 1.0;
      }
    }
    rule->compute(weights, rep_value, rep_count);
    for (size_t m = 0; m < n_metrics; ++m) {
      // A replicate can leave a small group empty (NaN); the interval uses the defined ones.
      if (!std::isnan(rep_value[m])) replicate_values[m].push_back(rep_value[m]);
    }
  }
  double alpha = (1.0 - options.confidence) / 2.0;
  for (size_t m = 0; m < n_metrics; ++m) {
    auto& v = replicate_values[m];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    out.metrics[m].ci_low = percentile(v, alpha);
    out.metrics[m].ci_high = percentile(v, 1.0 - alpha);
  }
  return out;
}

const Metric* find_metric(const Evaluation& evaluation, const std::string& name) {
  for (const auto& metric : evaluation.metrics) {
    if (metric.name == name) return &metric;
  }
  return nullptr;
}

}  // namespace synpref::eval
