// synpref/curate/stage2.h: the stage-2 consistency filter over the whole pool (report section 3.3).
//
// For every pair, with p = sigmoid(r_chosen - r_rejected):
//   p_best > 0.5 + margin                 the best RM confidently agrees: no LLM label needed
//   otherwise                             a gold-guided LLM (silver) label is needed
//   keep  iff  p_gold > 0.5  AND  (LLM label agrees  OR  p_best > 0.5)
// Discarded pairs are kept for the flipped variant (export --set flipped). Every decision carries a
// Reason. "Agrees" is strict (p > 0.5; p == 0.5 is not agreement); an LLM label agrees when the
// aggregated verdict is +1 (a tie/abstention is not agreement). A pair the gold RM rejects is
// decided without an LLM label, since no label can keep it. Why: docs/curation.md.
//
// The filter works on columns (struct of spans) in chunks, so 10M pairs stream through with
// bounded memory; rows split into shards (`i/N`, contiguous row ranges) that independent jobs
// decide, and merge_shards puts the results back in row order, checking that every row was
// decided exactly once.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::curate {

// The LLM label column: the aggregated silver verdict, or kLlmMissing when none was recorded.
inline constexpr int8_t kLlmMissing = INT8_MIN;

enum class Stage2Reason : uint8_t {
  kept_best_confident,     // p_best > 0.5 + margin and p_gold > 0.5
  kept_llm_agrees,         // uncertain best RM; LLM label agrees; p_gold > 0.5
  kept_best_agrees,        // LLM label disagrees or abstains; 0.5 < p_best <= 0.5 + margin; p_gold > 0.5
  dropped_gold_disagrees,  // p_gold <= 0.5 (whatever the others say)
  dropped_llm_and_best_disagree,  // p_gold > 0.5 but LLM label does not agree and p_best <= 0.5
  pending_llm_label,              // needs an LLM label that is not recorded yet: undecided
  missing_best_score,             // no (finite) best-RM score: undecided
  missing_gold_score,             // no (finite) gold-RM score: undecided
};
inline constexpr size_t kStage2ReasonCount = 8;
std::string_view stage2_reason_name(Stage2Reason reason);
Result<Stage2Reason> parse_stage2_reason(std::string_view name);
bool is_decided(Stage2Reason reason);  // kept or dropped
bool is_kept(Stage2Reason reason);

struct Stage2Options {
  double margin = 0.1;  // in [0, 0.5)
};
Status validate(const Stage2Options& options);  // errors name the field ("margin")

double sigmoid(double x);

// One chunk of pairs as columns. All spans have the same length; scores are raw RM outputs (NaN
// = missing); llm_verdict holds +1 / -1 / 0 (abstained) or kLlmMissing.
struct Stage2Columns {
  std::span<const double> best_chosen, best_rejected;
  std::span<const double> gold_chosen, gold_rejected;
  std::span<const int8_t> llm_verdict;
  size_t size() const { return best_chosen.size(); }
};

// Decides one pair (the rule above). Pure.
Stage2Reason decide_pair(double best_chosen, double best_rejected, double gold_chosen, double gold_rejected,
                         int8_t llm_verdict, const Stage2Options& options);

// True when the pair needs an LLM label: the best RM is not confident and the gold RM agrees (a
// label can change its fate). Missing scores: false (score it first).
bool needs_llm_label(double best_chosen, double best_rejected, double gold_chosen, double gold_rejected,
                     const Stage2Options& options);

// Decides a chunk: reasons[i] for pair i. Precondition: reasons.size() == columns.size(), all
// column lengths equal.
void decide_chunk(const Stage2Columns& columns, const Stage2Options& options, std::span<uint8_t> reasons);

// Counts per reason, overall and per category (categories are small integer ids the caller maps to
// names; one past the last category id is "no category").
struct Stage2Counts {
  std::array<int64_t, kStage2ReasonCount> by_reason{};
  std::vector<std::array<int64_t, kStage2ReasonCount>> by_category;  // [category][reason]
  int64_t kept() const;
  int64_t dropped() const;
  int64_t undecided() const;
  void merge(const Stage2Counts& other);
};
// Adds a chunk's reasons; categories (may be empty: no per-category counts) holds one id per pair.
void count_reasons(std::span<const uint8_t> reasons, std::span<const uint16_t> categories,
                   size_t n_categories, Stage2Counts& counts);

// ---- Shards: shard i of N owns the contiguous rows [begin, end).
struct ShardSpec {
  int index = 0, count = 1;
};
Result<ShardSpec> parse_shard_spec(std::string_view text);  // "i/N", 0 <= i < N
struct RowRange {
  int64_t begin = 0, end = 0;
};
RowRange shard_rows(int64_t n_rows, ShardSpec shard);

// One shard job's output: the rows it decided (ascending) and their reasons.
struct ShardResult {
  ShardSpec shard;
  std::vector<int64_t> rows;
  std::vector<uint8_t> reasons;
};
// Merges shard results into one reason per row 0..n_rows-1, in row order. Errors (data_error):
// a shard missing or given twice, shards of different counts, a row outside its shard's range,
// rows not ascending, a row decided twice or never, an unknown reason code. Independent of the
// order of `shards`.
Result<std::vector<uint8_t>> merge_shards(const std::vector<ShardResult>& shards, int64_t n_rows);

}  // namespace synpref::curate
