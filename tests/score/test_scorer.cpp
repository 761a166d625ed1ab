// score::Scorer as a library: options validated by field name; scores that do not depend on
// chunking, threads or whether they come from records or benchmark items; results in input order
// with the stats a user reads; resume checks.
#include <gtest/gtest.h>

#include "synpref/model/init.h"
#include "synpref/model/model.h"
#include "synpref/score/scorer.h"
#include "test_util.h"

using namespace synpref;
using synpref::testing::shared_data;
using synpref::testing::temp_dir;

namespace {

// A tiny random Qwen3 reward model with the real Qwen3 tokenizer, written once.
const std::string& model_dir() {
  static const std::string dir = [] {
    const std::string out = temp_dir("scorer_model") + "/rm";
    auto facts = model::inspect_tokenizer_dir(shared_data("tokenizers/qwen3"));
    EXPECT_TRUE(facts.is_ok()) << facts.status().message();
    auto config =
        model::preset_config(model::Family::qwen3, "qwen3-tiny", model::HeadKind::score, facts->vocab_size);
    EXPECT_TRUE(config.is_ok()) << config.status().message();
    config->pad_token_id = facts->pad_token_id;
    model::InitOptions init;
    init.seed = 5;
    init.init_std = 0.2;
    Status st = model::write_random_model(*config, init, out);
    EXPECT_TRUE(st.is_ok()) << st.message();
    st = model::copy_tokenizer_files(shared_data("tokenizers/qwen3"), *facts, out);
    EXPECT_TRUE(st.is_ok()) << st.message();
    return out;
  }();
  return dir;
}

std::vector<data::Record> make_records(int n) {
  std::vector<data::Record> out;
  for (int i = 0; i < n; ++i) {
    data::Record r;
    r.id = "r" + std::to_string(i);
    std::string question = "Question " + std::to_string(i) + "?";
    for (int w = 0; w < (i * 13) % 40; ++w) question += " more" + std::to_string(w);
    r.context = {{data::Role::user, question}};
    const int n_responses = i % 4 == 3 ? 3 : 2;
    r.kind = n_responses == 2 ? data::RecordKind::pair : data::RecordKind::response_set;
    for (int k = 0; k < n_responses; ++k)
      r.responses.push_back({"Answer " + std::to_string(i * k), {}, {}, ""});
    out.push_back(std::move(r));
  }
  return out;
}

encode::OrderedBuilder::Next from(const std::vector<data::Record>& records) {
  auto pos = std::make_shared<size_t>(0);
  return [&records, pos](data::Record& r, encode::Origin& origin) -> Result<bool> {
    if (*pos == records.size()) return false;
    r = records[*pos];
    origin.file = "mem.jsonl";
    origin.line = ++*pos;
    return true;
  };
}

std::unique_ptr<score::Scorer> open_scorer(score::ScorerOptions options) {
  options.model_dir = model_dir();
  auto scorer = score::Scorer::open(options);
  EXPECT_TRUE(scorer.is_ok()) << scorer.status().message();
  return std::move(scorer).value();
}

struct Collected {
  std::vector<std::string> ids;
  std::vector<std::vector<float>> scores;
  std::vector<size_t> chunk_sizes;
  score::Scorer::Sink sink() {
    return [this](std::span<const score::Scored> chunk) -> Status {
      chunk_sizes.push_back(chunk.size());
      for (const auto& s : chunk) {
        EXPECT_EQ(s.index, ids.size());
        ids.emplace_back(s.id);
        scores.emplace_back(s.scores.begin(), s.scores.end());
      }
      return Status::ok();
    };
  }
};

}  // namespace

TEST(Scorer, OptionsAreValidatedByFieldName) {
  score::ScorerOptions o;
  EXPECT_EQ(o.validate().message(), "model_dir is required");
  o.model_dir = "x";
  o.max_tokens_per_batch = 0;
  EXPECT_EQ(o.validate().message(), "max_tokens_per_batch must be >= 1");
  o.max_tokens_per_batch = 16;
  o.chunk_records = 0;
  EXPECT_EQ(o.validate().message(), "chunk_records must be >= 1");
  o.chunk_records = 1;
  o.n_threads = -2;
  EXPECT_EQ(o.validate().message().rfind("n_threads must be 0 (all hardware threads) or 1..", 0), 0u);
  o.n_threads = 0;
  EXPECT_TRUE(o.validate().is_ok());
  o.model_dir = model_dir();
  o.input.truncation = "sometimes";
  auto scorer = score::Scorer::open(o);
  ASSERT_FALSE(scorer.is_ok());
  EXPECT_EQ(scorer.status().message().rfind("truncation: ", 0), 0u) << scorer.status().message();
}

TEST(Scorer, ScoresDoNotDependOnChunkingThreadsOrRecordsVersusItems) {
  const auto records = make_records(37);
  // Reference: each record alone through the engine.
  auto reference_scorer = open_scorer({});
  std::vector<std::vector<float>> expected;
  for (const auto& r : records) {
    auto input = reference_scorer->builder().build(r);
    ASSERT_TRUE(input.is_ok());
    std::vector<std::span<const int32_t>> responses(input->suffixes.begin(), input->suffixes.end());
    auto s = reference_scorer->model().score(input->prefix, responses);
    ASSERT_TRUE(s.is_ok());
    expected.push_back(*s);
  }
  for (auto [chunk, threads, batch] :
       {std::tuple{1, 1, 64}, std::tuple{5, 3, 300}, std::tuple{256, 2, 4096}}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk) + ", threads " + std::to_string(threads));
    score::ScorerOptions o;
    o.chunk_records = chunk;
    o.n_threads = threads;
    o.max_tokens_per_batch = batch;
    auto scorer = open_scorer(o);
    Collected got;
    score::ScoreStats stats;
    Status st = scorer->score_records(from(records), got.sink(), stats);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_EQ(got.scores.size(), records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(got.ids[i], records[i].id);
      EXPECT_EQ(got.scores[i], expected[i]) << "record " << i;  // bitwise
    }
    for (size_t c = 0; c + 1 < got.chunk_sizes.size(); ++c) EXPECT_EQ(got.chunk_sizes[c], size_t(chunk));
    EXPECT_EQ(stats.records, records.size());
    EXPECT_EQ(stats.scored, records.size());

    // The same conversations as benchmark items.
    std::vector<std::vector<std::string>> responses;
    for (const auto& r : records) {
      responses.emplace_back();
      for (const auto& resp : r.responses) responses.back().push_back(resp.content);
    }
    std::vector<score::Item> items;
    for (size_t i = 0; i < records.size(); ++i)
      items.push_back({records[i].id, records[i].context, responses[i]});
    Collected from_items;
    score::ScoreStats item_stats;
    st = scorer->score_items(items, from_items.sink(), item_stats);
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_EQ(from_items.scores, expected);
    EXPECT_EQ(item_stats.tokens, stats.tokens);
  }
}

TEST(Scorer, StatsCountPairsSkippedAndTruncatedRecords) {
  auto records = make_records(12);
  std::string long_question;
  for (int w = 0; w < 600; ++w) long_question += " filler" + std::to_string(w);
  records[4].context[0].content = long_question;
  records[4].responses[0].content = long_question;  // its response alone is over the limit: skipped
  records[6].context[0].content = long_question;    // context cut by truncate-left
  score::ScorerOptions o;
  o.input.max_length = 400;
  o.input.truncation = "truncate-left";
  o.chunk_records = 4;
  auto scorer = open_scorer(o);
  std::vector<score::Scored> seen;
  std::vector<std::vector<float>> seen_scores;
  score::ScoreStats stats;
  Status st = scorer->score_records(
      from(records),
      [&](std::span<const score::Scored> chunk) {
        for (const auto& s : chunk) {
          seen.push_back(s);
          seen_scores.emplace_back(s.scores.begin(), s.scores.end());
        }
        return Status::ok();
      },
      stats);
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_EQ(seen.size(), 12u);
  EXPECT_TRUE(seen[4].skipped);
  EXPECT_TRUE(seen_scores[4].empty());
  EXPECT_GT(seen[6].truncated_tokens, 0u);
  EXPECT_EQ(stats.records, 12u);
  EXPECT_EQ(stats.scored, 11u);
  EXPECT_EQ(stats.skipped_too_long, 1u);
  EXPECT_EQ(stats.truncated, 1u);
  uint64_t pairs = 0, correct = 0, ties = 0;
  for (size_t i = 0; i < 12; ++i) {
    if (i == 4 || records[i].kind != data::RecordKind::pair) continue;
    ++pairs;
    correct += seen_scores[i][0] > seen_scores[i][1];
    ties += seen_scores[i][0] == seen_scores[i][1];
  }
  EXPECT_EQ(stats.pairs, pairs);
  EXPECT_EQ(stats.pairs_correct, correct);
  EXPECT_EQ(stats.pair_ties, ties);
  EXPECT_GT(stats.tokens, 0u);
}

TEST(Scorer, ResumeTakesKnownScoresAndRefusesAnotherInput) {
  const auto records = make_records(9);
  auto scorer = open_scorer({.chunk_records = 2});
  Collected first;
  score::ScoreStats stats;
  ASSERT_TRUE(scorer->score_records(from(records), first.sink(), stats).is_ok());

  score::Resume resume{"prev.jsonl",
                       {first.ids.begin(), first.ids.begin() + 5},
                       {first.scores.begin(), first.scores.begin() + 5}};
  Collected second;
  score::ScoreStats resumed_stats;
  std::vector<bool> resumed_flags;
  Status st = scorer->score_records(
      from(records),
      [&](std::span<const score::Scored> chunk) {
        for (const auto& s : chunk) resumed_flags.push_back(s.resumed);
        return second.sink()(chunk);
      },
      resumed_stats, &resume);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(second.scores, first.scores);
  EXPECT_EQ(resumed_stats.resumed, 5u);
  EXPECT_EQ(resumed_stats.pairs_correct, stats.pairs_correct);
  for (size_t i = 0; i < resumed_flags.size(); ++i) EXPECT_EQ(resumed_flags[i], i < 5) << i;

  resume.ids[3] = "someone-else";
  Collected third;
  score::ScoreStats s3;
  st = scorer->score_records(from(records), third.sink(), s3, &resume);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("prev.jsonl:4: id 'someone-else' but the input's next scorable record is 'r3'"),
            std::string::npos)
      << st.message();

  score::Resume longer{"prev.jsonl", first.ids, first.scores};
  longer.ids.push_back("extra");
  longer.scores.push_back({1.0f, 2.0f});
  Collected fourth;
  score::ScoreStats s4;
  st = scorer->score_records(from(records), fourth.sink(), s4, &longer);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("has 10 scored records but the input yields only 9"), std::string::npos)
      << st.message();
}
