// synpref/eval/scoring.h: each benchmark's official scoring rule, with bootstrap intervals.
//
// evaluate() runs the rule registered with the dataset's benchmark (src/eval/benchmarks/<name>.cpp).
// The rules reproduce the benchmarks' own code (sources and every tie rule in docs/EVAL.md):
//   rewardbench     correct iff chosen > rejected; subset accuracy; sections = EXAMPLE_COUNTS-
//                   weighted means over SUBSET_MAPPING; score = weights 2,2,2,2 (+1 prior sets)
//   rewardbench2    1/k credit when the first chosen ties k-way at the maximum, else 0;
//                   Ties subset by the official composite; score = mean of the six subsets
//   ppe-preference  accuracy against `winner` (ties excluded at load); equal scores earn nothing
//   ppe-correctness per-prompt accuracy over (correct, incorrect) pairs; best-of-K curves
//   rmb             pairwise chosen > reject; BoN bon_best > every loser; overall = mean of four
//   rm-bench        3x3 matrix chosen[i] > rejected[j]; hard/normal/easy; mean of domains
//   judgebench      official two-game RM path (equal scores: inconsistent, not correct);
//                   paper_accuracy = the JudgeBench paper/leaderboard figure (micro over the 350
//                   GPT-4o pairs); macro_accuracy (headline) = the Skywork-Reward-V2 paper's
//                   figure (mean of the four source categories); micro over all loaded pairs
//
// Confidence intervals: percentile bootstrap. Each replicate redraws items with replacement
// inside each subset (so every subset keeps its size and section weights stay defined); items
// of one RewardBench 2 Ties prompt (ref:N and tied:N) are drawn together. The generator is a
// fixed splitmix64 stream from `seed`, so a report is reproducible bit for bit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/eval/benchmark.h"
#include "synpref/eval/scores.h"

namespace synpref::eval {

struct Metric {
  std::string name;  // e.g. "score", "section/Chat", "subset/alpacaeval-easy"
  double value = 0;  // in [0, 1] for accuracies
  double ci_low = 0, ci_high = 0;
  double n = 0;  // items (or pairs, prompts) behind the value; see docs/EVAL.md per metric
};

struct Curve {
  std::string name;            // e.g. "best_of_k/mmlu_pro"
  std::vector<double> values;  // values[k-1] for K = k
};

struct Evaluation {
  std::string benchmark;  // the registered name
  std::string headline;   // name of the Table-1 metric in `metrics`
  std::vector<Metric> metrics;
  std::vector<Curve> curves;
  std::string tie_policy;          // one paragraph, as in docs/EVAL.md
  std::vector<std::string> notes;  // e.g. sections without data, excluded records
  bool partial = false;            // a part of the official total has no data, or items are missing
  uint64_t n_items = 0;            // items scored
};

struct BootstrapOptions {
  uint32_t replicates = 1000;  // 0 = no intervals (ci_low = ci_high = value)
  uint64_t seed = 1234;
  double confidence = 0.95;
};

// Scores every item that has scores (missing items are skipped; see ItemScores::missing).
// Refuses data that the official rule cannot score (e.g. a Ties prompt with one correct answer)
// and a dataset where no item has scores.
Result<Evaluation> evaluate(const Dataset& dataset, const ItemScores& scores,
                            const BootstrapOptions& options);

// Looks up a metric by name; nullptr when absent.
const Metric* find_metric(const Evaluation& evaluation, const std::string& name);

}  // namespace synpref::eval
