// src/curate/stage2.cpp: the stage-2 decision rule on columns, counts and shard merging.
#include "synpref/curate/stage2.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace synpref::curate {

namespace {

constexpr std::array<std::string_view, kStage2ReasonCount> kReasonNames = {
    "kept_best_confident",           "kept_llm_agrees",   "kept_best_agrees",   "dropped_gold_disagrees",
    "dropped_llm_and_best_disagree", "pending_llm_label", "missing_best_score", "missing_gold_score"};

// p > 0.5 <=> chosen - rejected > 0; p > 0.5 + margin <=> chosen - rejected > logit(0.5 + margin).
// Comparing differences avoids an exp per pair and is exact at p = 0.5.
double logit(double p) {
  return std::log(p / (1 - p));
}

Result<int> parse_int(std::string_view text, std::string_view what) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return invalid_argument("shard " + std::string(what) + " '" + std::string(text) + "' is not an integer");
  }
  return value;
}

}  // namespace

std::string_view stage2_reason_name(Stage2Reason reason) {
  return kReasonNames[static_cast<size_t>(reason)];
}

Result<Stage2Reason> parse_stage2_reason(std::string_view name) {
  for (size_t i = 0; i < kReasonNames.size(); ++i) {
    if (kReasonNames[i] == name) return static_cast<Stage2Reason>(i);
  }
  return data_error("unknown stage-2 reason '" + std::string(name) + "'");
}

bool is_kept(Stage2Reason reason) {
  return reason == Stage2Reason::kept_best_confident || reason == Stage2Reason::kept_llm_agrees ||
         reason == Stage2Reason::kept_best_agrees;
}

bool is_decided(Stage2Reason reason) {
  return is_kept(reason) || reason == Stage2Reason::dropped_gold_disagrees ||
         reason == Stage2Reason::dropped_llm_and_best_disagree;
}

Status validate(const Stage2Options& options) {
  if (!(options.margin >= 0 && options.margin < 0.5)) {
    return invalid_argument("margin must be in [0, 0.5), found " + std::to_string(options.margin));
  }
  return Status::ok();
}

double sigmoid(double x) {
  return 1 / (1 + std::exp(-x));
}

Stage2Reason decide_pair(double best_chosen, double best_rejected, double gold_chosen, double gold_rejected,
                         int8_t llm_verdict, const Stage2Options& options) {
  const double best_diff = best_chosen - best_rejected;
  const double gold_diff = gold_chosen - gold_rejected;
  if (!std::isfinite(best_diff)) return Stage2Reason::missing_best_score;
  if (!std::isfinite(gold_diff)) return Stage2Reason::missing_gold_score;
  if (!(gold_diff > 0)) return Stage2Reason::dropped_gold_disagrees;
  if (best_diff > logit(0.5 + options.margin)) return Stage2Reason::kept_best_confident;
  if (llm_verdict == kLlmMissing) return Stage2Reason::pending_llm_label;
  if (llm_verdict > 0) return Stage2Reason::kept_llm_agrees;
  if (best_diff > 0) return Stage2Reason::kept_best_agrees;
  return Stage2Reason::dropped_llm_and_best_disagree;
}

bool needs_llm_label(double best_chosen, double best_rejected, double gold_chosen, double gold_rejected,
                     const Stage2Options& options) {
  return decide_pair(best_chosen, best_rejected, gold_chosen, gold_rejected, kLlmMissing, options) ==
         Stage2Reason::pending_llm_label;
}

void decide_chunk(const Stage2Columns& columns, const Stage2Options& options, std::span<uint8_t> reasons) {
  const size_t n = columns.size();
  SP_CHECK(columns.best_rejected.size() == n && columns.gold_chosen.size() == n &&
           columns.gold_rejected.size() == n && columns.llm_verdict.size() == n && reasons.size() == n);
  // The same rule as decide_pair with the threshold hoisted out of the loop.
  const double confident = logit(0.5 + options.margin);
  for (size_t i = 0; i < n; ++i) {
    const double best_diff = columns.best_chosen[i] - columns.best_rejected[i];
    const double gold_diff = columns.gold_chosen[i] - columns.gold_rejected[i];
    const int8_t llm = columns.llm_verdict[i];
    Stage2Reason reason;
    if (!std::isfinite(best_diff)) {
      reason = Stage2Reason::missing_best_score;
    } else if (!std::isfinite(gold_diff)) {
      reason = Stage2Reason::missing_gold_score;
    } else if (!(gold_diff > 0)) {
      reason = Stage2Reason::dropped_gold_disagrees;
    } else if (best_diff > confident) {
      reason = Stage2Reason::kept_best_confident;
    } else if (llm == kLlmMissing) {
      reason = Stage2Reason::pending_llm_label;
    } else if (llm > 0) {
      reason = Stage2Reason::kept_llm_agrees;
    } else if (best_diff > 0) {
      reason = Stage2Reason::kept_best_agrees;
    } else {
      reason = Stage2Reason::dropped_llm_and_best_disagree;
    }
    reasons[i] = static_cast<uint8_t>(reason);
  }
}

int64_t Stage2Counts::kept() const {
  return by_reason[static_cast<size_t>(Stage2Reason::kept_best_confident)] +
         by_reason[static_cast<size_t>(Stage2Reason::kept_llm_agrees)] +
         by_reason[static_cast<size_t>(Stage2Reason::kept_best_agrees)];
}

int64_t Stage2Counts::dropped() const {
  return by_reason[static_cast<size_t>(Stage2Reason::dropped_gold_disagrees)] +
         by_reason[static_cast<size_t>(Stage2Reason::dropped_llm_and_best_disagree)];
}

int64_t Stage2Counts::undecided() const {
  int64_t total = 0;
  for (int64_t n : by_reason) total += n;
  return total - kept() - dropped();
}

void Stage2Counts::merge(const Stage2Counts& other) {
  for (size_t r = 0; r < kStage2ReasonCount; ++r) by_reason[r] += other.by_reason[r];
  if (by_category.size() < other.by_category.size()) by_category.resize(other.by_category.size());
  for (size_t c = 0; c < other.by_category.size(); ++c) {
    for (size_t r = 0; r < kStage2ReasonCount; ++r) by_category[c][r] += other.by_category[c][r];
  }
}

void count_reasons(std::span<const uint8_t> reasons, std::span<const uint16_t> categories,
                   size_t n_categories, Stage2Counts& counts) {
  SP_CHECK(categories.empty() || categories.size() == reasons.size());
  for (uint8_t reason : reasons) {
    SP_CHECK(reason < kStage2ReasonCount);
    ++counts.by_reason[reason];
  }
  if (categories.empty()) return;
  if (counts.by_category.size() < n_categories + 1) counts.by_category.resize(n_categories + 1);
  for (size_t i = 0; i < reasons.size(); ++i) {
    size_t category = std::min<size_t>(categories[i], n_categories);
    ++counts.by_category[category][reasons[i]];
  }
}

Result<ShardSpec> parse_shard_spec(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return invalid_argument("shard '" + std::string(text) + "' must look like i/N (e.g. 0/4)");
  }
  SP_ASSIGN_OR_RETURN(int index, parse_int(text.substr(0, slash), "index"));
  SP_ASSIGN_OR_RETURN(int count, parse_int(text.substr(slash + 1), "count"));
  if (count < 1 || index < 0 || index >= count) {
    return invalid_argument("shard '" + std::string(text) + "' needs 0 <= i < N");
  }
  return ShardSpec{index, count};
}

RowRange shard_rows(int64_t n_rows, ShardSpec shard) {
  SP_CHECK(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count && n_rows >= 0);
  // 128-bit products: n_rows * index cannot overflow for any int64 row count.
  auto bound = [&](int64_t i) {
    return static_cast<int64_t>(static_cast<__int128>(n_rows) * i / shard.count);
  };
  return RowRange{bound(shard.index), bound(shard.index + 1)};
}

Result<std::vector<uint8_t>> merge_shards(const std::vector<ShardResult>& shards, int64_t n_rows) {
  if (shards.empty()) return data_error("no shard results to merge");
  const int count = shards.front().shard.count;
  std::vector<const ShardResult*> by_index(static_cast<size_t>(std::max(count, 0)), nullptr);
  for (const ShardResult& result : shards) {
    const std::string name = std::to_string(result.shard.index) + "/" + std::to_string(result.shard.count);
    if (result.shard.count != count) {
      return data_error("shard " + name + " belongs to a split into " + std::to_string(result.shard.count) +
                        " shards, the others to " + std::to_string(count));
    }
    if (result.shard.index < 0 || result.shard.index >= count)
      return data_error("shard " + name + " is out of range");
    if (by_index[result.shard.index]) return data_error("shard " + name + " is given twice");
    if (result.rows.size() != result.reasons.size()) {
      return data_error("shard " + name + " has " + std::to_string(result.rows.size()) + " rows but " +
                        std::to_string(result.reasons.size()) + " reasons");
    }
    by_index[result.shard.index] = &result;
  }
  std::vector<uint8_t> merged(static_cast<size_t>(n_rows), 0);
  for (int index = 0; index < count; ++index) {
    const ShardResult* result = by_index[index];
    const std::string name = std::to_string(index) + "/" + std::to_string(count);
    if (!result) return data_error("shard " + name + " is missing");
    RowRange range = shard_rows(n_rows, {index, count});
    if (static_cast<int64_t>(result->rows.size()) != range.end - range.begin) {
      return data_error("shard " + name + " decided " + std::to_string(result->rows.size()) +
                        " rows; it owns " + std::to_string(range.end - range.begin) + " (rows " +
                        std::to_string(range.begin) + ".." + std::to_string(range.end - 1) + ")");
    }
    for (size_t i = 0; i < result->rows.size(); ++i) {
      // Exactly the owned rows, ascending: with the count check above, row i must be begin + i.
      if (result->rows[i] != range.begin + static_cast<int64_t>(i)) {
        return data_error("shard " + name + ": row " + std::to_string(result->rows[i]) + " at position " +
                          std::to_string(i) + " (expected row " + std::to_string(range.begin + i) +
                          "; rows must be the shard's own, ascending, each once)");
      }
      if (result->reasons[i] >= kStage2ReasonCount) {
        return data_error("shard " + name + ": row " + std::to_string(result->rows[i]) +
                          " has unknown reason code " + std::to_string(result->reasons[i]));
      }
      merged[static_cast<size_t>(result->rows[i])] = result->reasons[i];
    }
  }
  return merged;
}

}  // namespace synpref::curate
