// Stage 2: the decision rule against an independent statement of it, chunked decisions, counts,
// shard specs and the deterministic shard merge.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "synpref/curate/stage2.h"

namespace synpref::curate {
namespace {

// The report's rule written directly in probabilities (the library compares score differences).
Stage2Reason reference_rule(double bc, double br, double gc, double gr, int8_t llm, double margin) {
  if (std::isnan(bc) || std::isnan(br)) return Stage2Reason::missing_best_score;
  if (std::isnan(gc) || std::isnan(gr)) return Stage2Reason::missing_gold_score;
  double p_best = 1 / (1 + std::exp(-(bc - br)));
  double p_gold = 1 / (1 + std::exp(-(gc - gr)));
  bool gold_agrees = p_gold > 0.5;
  bool best_agrees = p_best > 0.5;
  bool confident = p_best > 0.5 + margin;
  if (!gold_agrees) return Stage2Reason::dropped_gold_disagrees;
  if (confident) return Stage2Reason::kept_best_confident;
  if (llm == kLlmMissing) return Stage2Reason::pending_llm_label;
  bool llm_agrees = llm == 1;
  if (llm_agrees) return Stage2Reason::kept_llm_agrees;
  if (best_agrees) return Stage2Reason::kept_best_agrees;
  return Stage2Reason::dropped_llm_and_best_disagree;
}

TEST(Stage2, NamedCases) {
  Stage2Options options{0.1};
  // p_best = sigmoid(2) = 0.88 > 0.6: confident; gold agrees.
  EXPECT_EQ(decide_pair(2, 0, 1, 0, kLlmMissing, options), Stage2Reason::kept_best_confident);
  // Gold disagrees: dropped whatever the best RM and the LLM say.
  EXPECT_EQ(decide_pair(5, 0, 0, 1, 1, options), Stage2Reason::dropped_gold_disagrees);
  EXPECT_EQ(decide_pair(5, 0, 1, 1, 1, options), Stage2Reason::dropped_gold_disagrees);  // p_gold = 0.5
  // p_best = sigmoid(0.2) = 0.55: uncertain.
  EXPECT_EQ(decide_pair(0.2, 0, 1, 0, kLlmMissing, options), Stage2Reason::pending_llm_label);
  EXPECT_EQ(decide_pair(0.2, 0, 1, 0, 1, options), Stage2Reason::kept_llm_agrees);
  EXPECT_EQ(decide_pair(0.2, 0, 1, 0, -1, options), Stage2Reason::kept_best_agrees);
  EXPECT_EQ(decide_pair(0.2, 0, 1, 0, 0, options), Stage2Reason::kept_best_agrees);  // abstention
  EXPECT_EQ(decide_pair(-1, 0, 1, 0, 1, options), Stage2Reason::kept_llm_agrees);
  EXPECT_EQ(decide_pair(-1, 0, 1, 0, -1, options), Stage2Reason::dropped_llm_and_best_disagree);
  EXPECT_EQ(decide_pair(-1, 0, 1, 0, 0, options), Stage2Reason::dropped_llm_and_best_disagree);
  EXPECT_EQ(decide_pair(0, 0, 1, 0, 0, options),
            Stage2Reason::dropped_llm_and_best_disagree);  // p_best = 0.5
  EXPECT_EQ(decide_pair(NAN, 0, 1, 0, 1, options), Stage2Reason::missing_best_score);
  EXPECT_EQ(decide_pair(1, 0, INFINITY, 0, 1, options), Stage2Reason::missing_gold_score);
  EXPECT_TRUE(needs_llm_label(0.2, 0, 1, 0, options));
  EXPECT_FALSE(needs_llm_label(0.2, 0, 0, 1, options));  // no label could keep it
  EXPECT_FALSE(needs_llm_label(3, 0, 1, 0, options));
  // margin 0: p_best > 0.5 is already confident.
  EXPECT_EQ(decide_pair(0.01, 0, 1, 0, kLlmMissing, {0.0}), Stage2Reason::kept_best_confident);
}

TEST(Stage2, ChunkMatchesTheReferenceRuleOnRandomPairs) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> score(0, 1.5);
  const size_t n = 200000;
  std::vector<double> bc(n), br(n), gc(n), gr(n);
  std::vector<int8_t> llm(n);
  const int8_t llm_values[] = {1, -1, 0, kLlmMissing};
  for (size_t i = 0; i < n; ++i) {
    bc[i] = score(rng);
    br[i] = rng() % 50 == 0 ? NAN : score(rng);
    gc[i] = score(rng);
    gr[i] = rng() % 50 == 0 ? NAN : (rng() % 20 == 0 ? gc[i] : score(rng));
    llm[i] = llm_values[rng() % 4];
  }
  for (double margin : {0.0, 0.1, 0.3}) {
    Stage2Options options{margin};
    std::vector<uint8_t> reasons(n);
    // Uneven chunks: the result must not depend on chunking.
    for (size_t begin = 0; begin < n;) {
      size_t len = std::min<size_t>(n - begin, 1 + rng() % 70000);
      Stage2Columns columns{{bc.data() + begin, len},
                            {br.data() + begin, len},
                            {gc.data() + begin, len},
                            {gr.data() + begin, len},
                            {llm.data() + begin, len}};
      decide_chunk(columns, options, {reasons.data() + begin, len});
      begin += len;
    }
    std::array<int64_t, kStage2ReasonCount> seen{};
    for (size_t i = 0; i < n; ++i) {
      Stage2Reason expected = reference_rule(bc[i], br[i], gc[i], gr[i], llm[i], margin);
      ASSERT_EQ(static_cast<Stage2Reason>(reasons[i]), expected) << "pair " << i << " margin " << margin;
      ASSERT_EQ(decide_pair(bc[i], br[i], gc[i], gr[i], llm[i], options), expected);
      ++seen[reasons[i]];
    }
    for (size_t r = 0; r < kStage2ReasonCount; ++r) {
      // With margin 0 every agreeing best RM is confident: kept_best_agrees cannot occur.
      if (margin == 0 && Stage2Reason(r) == Stage2Reason::kept_best_agrees) continue;
      EXPECT_GT(seen[r], 0) << stage2_reason_name(Stage2Reason(r));
    }
  }
}

TEST(Stage2, KeptPairsAlwaysHaveGoldAgreement) {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> score(-3, 3);
  for (int i = 0; i < 100000; ++i) {
    double bc = score(rng), br = score(rng), gc = score(rng), gr = score(rng);
    int8_t llm = static_cast<int8_t>(static_cast<int>(rng() % 3) - 1);
    Stage2Reason reason = decide_pair(bc, br, gc, gr, llm, {0.2});
    if (is_kept(reason)) {
      EXPECT_GT(gc - gr, 0);
      EXPECT_TRUE(llm == 1 || bc - br > 0);
    }
    EXPECT_TRUE(is_decided(reason));  // a present LLM label (even an abstention) always decides
  }
}

TEST(Stage2, CountsPerReasonAndCategory) {
  std::vector<uint8_t> reasons = {0, 0, 3, 5, 1};
  std::vector<uint16_t> categories = {0, 1, 1, 7, 0};  // 7 >= n_categories: "no category"
  Stage2Counts counts;
  count_reasons(reasons, categories, 2, counts);
  EXPECT_EQ(counts.kept(), 3);
  EXPECT_EQ(counts.dropped(), 1);
  EXPECT_EQ(counts.undecided(), 1);
  ASSERT_EQ(counts.by_category.size(), 3u);
  EXPECT_EQ(counts.by_category[0][0], 1);
  EXPECT_EQ(counts.by_category[0][1], 1);
  EXPECT_EQ(counts.by_category[1][3], 1);
  EXPECT_EQ(counts.by_category[2][5], 1);
  Stage2Counts twice = counts;
  twice.merge(counts);
  EXPECT_EQ(twice.kept(), 6);
  EXPECT_EQ(twice.by_category[2][5], 2);
}

TEST(Stage2, ReasonNamesRoundTrip) {
  for (size_t r = 0; r < kStage2ReasonCount; ++r) {
    auto parsed = parse_stage2_reason(stage2_reason_name(Stage2Reason(r)));
    ASSERT_TRUE(parsed.is_ok());
    EXPECT_EQ(static_cast<size_t>(*parsed), r);
  }
  EXPECT_FALSE(parse_stage2_reason("kept").is_ok());
  EXPECT_FALSE(validate(Stage2Options{0.5}).is_ok());
  EXPECT_FALSE(validate(Stage2Options{-0.1}).is_ok());
  EXPECT_NE(validate(Stage2Options{NAN}).message().find("margin"), std::string::npos);
}

TEST(Stage2, ShardSpecsCoverEveryRowOnce) {
  EXPECT_EQ(parse_shard_spec("2/5")->index, 2);
  EXPECT_FALSE(parse_shard_spec("5/5").is_ok());
  EXPECT_FALSE(parse_shard_spec("1").is_ok());
  EXPECT_FALSE(parse_shard_spec("a/2").is_ok());
  EXPECT_FALSE(parse_shard_spec("0/0").is_ok());
  EXPECT_FALSE(parse_shard_spec("-1/3").is_ok());
  for (int64_t n_rows : {0, 1, 7, 100, 1001}) {
    for (int count : {1, 2, 3, 8, 13}) {
      int64_t next = 0;
      for (int i = 0; i < count; ++i) {
        RowRange range = shard_rows(n_rows, {i, count});
        EXPECT_EQ(range.begin, next);
        EXPECT_LE(range.begin, range.end);
        next = range.end;
      }
      EXPECT_EQ(next, n_rows);
    }
  }
}

std::vector<ShardResult> split_into_shards(const std::vector<uint8_t>& reasons, int count) {
  std::vector<ShardResult> shards;
  for (int i = 0; i < count; ++i) {
    ShardResult result{{i, count}, {}, {}};
    RowRange range = shard_rows(static_cast<int64_t>(reasons.size()), {i, count});
    for (int64_t row = range.begin; row < range.end; ++row) {
      result.rows.push_back(row);
      result.reasons.push_back(reasons[row]);
    }
    shards.push_back(std::move(result));
  }
  return shards;
}

TEST(Stage2, ShardMergeIsDeterministicAndChecksCoverage) {
  std::vector<uint8_t> reasons(1000);
  for (size_t i = 0; i < reasons.size(); ++i) reasons[i] = static_cast<uint8_t>(i * 7 % kStage2ReasonCount);
  auto shards = split_into_shards(reasons, 4);
  std::reverse(shards.begin(), shards.end());  // finish order does not matter
  auto merged = merge_shards(shards, 1000);
  ASSERT_TRUE(merged.is_ok()) << merged.status().message();
  EXPECT_EQ(*merged, reasons);

  auto missing = shards;
  missing.pop_back();
  EXPECT_NE(merge_shards(missing, 1000).status().message().find("missing"), std::string::npos);
  auto twice = shards;
  twice.push_back(shards[0]);
  EXPECT_NE(merge_shards(twice, 1000).status().message().find("twice"), std::string::npos);
  auto duplicate_row = shards;
  duplicate_row[1].rows[3] = duplicate_row[1].rows[2];
  EXPECT_FALSE(merge_shards(duplicate_row, 1000).is_ok());
  auto dropped_row = shards;
  dropped_row[2].rows.pop_back();
  dropped_row[2].reasons.pop_back();
  EXPECT_FALSE(merge_shards(dropped_row, 1000).is_ok());
  auto bad_code = shards;
  bad_code[0].reasons[0] = 200;
  EXPECT_NE(merge_shards(bad_code, 1000).status().message().find("unknown reason"), std::string::npos);
  auto other_split = split_into_shards(reasons, 3);
  other_split[1] = shards[0];
  EXPECT_FALSE(merge_shards(other_split, 1000).is_ok());
  EXPECT_FALSE(merge_shards({}, 1000).is_ok());
}

}  // namespace
}  // namespace synpref::curate
