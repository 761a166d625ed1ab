// Silver labels: candidate order, gold example choice, prompt, answer parsing, self-consistency,
// aggregation (with property tests over random votes), position bias.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "synpref/curate/attributes.h"
#include "synpref/curate/prompts.h"
#include "synpref/curate/silver.h"

namespace synpref::curate {
namespace {

data::Record pair_with(const std::string& id, const std::string& question, const std::string& chosen,
                       const std::string& rejected) {
  data::Record record;
  record.id = id;
  record.context = {{data::Role::user, question}};
  record.responses = {{chosen}, {rejected}};
  return record;
}

data::Attributes attributes_for(const std::string& category, const std::string& guideline) {
  return {category, "objective", "low", "correct\nconcise", guideline};
}

TEST(Silver, CandidateOrderIsAPureFunctionOfSeedAndIdAndBalanced) {
  int swapped = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string id = "sp-" + std::to_string(i);
    EXPECT_EQ(candidate_swapped(7, id), candidate_swapped(7, id));
    swapped += candidate_swapped(7, id);
  }
  EXPECT_GT(swapped, 1800);
  EXPECT_LT(swapped, 2200);
  int differs = 0;
  for (int i = 0; i < 200; ++i)
    differs += candidate_swapped(7, std::to_string(i)) != candidate_swapped(8, std::to_string(i));
  EXPECT_GT(differs, 50);  // the seed matters
}

TEST(Silver, VerdictAndCandidateMapBackToChosenRejected) {
  for (bool swapped : {false, true}) {
    for (int verdict : {+1, -1}) {
      EXPECT_EQ(verdict_of_candidate(candidate_of_verdict(verdict, swapped), swapped), verdict);
    }
  }
  EXPECT_EQ(verdict_of_candidate(1, false), +1);  // chosen shown first, judge picks it
  EXPECT_EQ(verdict_of_candidate(1, true), -1);   // rejected shown first, judge picks it
  EXPECT_EQ(verdict_of_candidate(2, true), +1);
}

TEST(Silver, GoldExamplesPreferTheSameCategoryDeterministically) {
  std::vector<GoldCandidate> gold;
  for (int i = 0; i < 30; ++i) gold.push_back({"g" + std::to_string(i), i % 3 == 0 ? "math" : "writing"});
  auto picked = select_gold_examples(gold, "target", "math", 1);
  ASSERT_EQ(picked.size(), 8u);
  for (size_t i : picked) EXPECT_EQ(gold[i].task_category, "math");
  EXPECT_EQ(picked, select_gold_examples(gold, "target", "math", 1));
  // 10 math examples exist: 8 of them, then a category with only 2 fills up with others.
  auto coding = select_gold_examples(gold, "target", "coding", 1);
  EXPECT_EQ(coding.size(), 8u);
  std::vector<GoldCandidate> few = {{"a", "math"}, {"b", "writing"}, {"target", "math"}};
  auto mixed = select_gold_examples(few, "target", "math", 1);
  ASSERT_EQ(mixed.size(), 2u);  // never the target itself
  EXPECT_EQ(mixed[0], 0u);      // same category first
  EXPECT_EQ(mixed[1], 1u);
  EXPECT_NE(select_gold_examples(gold, "target-a", "writing", 1),
            select_gold_examples(gold, "target-b", "writing", 1));
  EXPECT_TRUE(select_gold_examples(gold, "t", "math", 1, 0).empty());
}

TEST(Silver, PromptHasGuidelineExamplesAndTargetInOrder) {
  auto prompt = CompiledPrompt::compile(default_prompt(PromptKind::silver));
  ASSERT_TRUE(prompt.is_ok()) << prompt.status().message();
  std::vector<GoldExample> examples = {
      {pair_with("g1", "Sort 3 1 2", "1 2 3", "3 2 1"), attributes_for("sorting", "Check the order.")}};
  data::Record target = pair_with("t1", "What is 2+3?", "five", "six");
  for (bool swapped : {false, true}) {
    auto context = silver_prompt_context(target, attributes_for("math", "Prefer the correct sum."), swapped,
                                         examples, 3, false);
    auto messages = prompt->render(context);
    ASSERT_TRUE(messages.is_ok()) << messages.status().message();
    const std::string& user = messages->back().content;
    size_t guideline = user.find("Prefer the correct sum.");
    size_t example = user.find("Sort 3 1 2");
    size_t target_at = user.find("What is 2+3?");
    ASSERT_NE(guideline, std::string::npos);
    ASSERT_NE(example, std::string::npos);
    ASSERT_NE(target_at, std::string::npos);
    EXPECT_LT(guideline, example);
    EXPECT_LT(example, target_at);
    // The example's preferred candidate is the one showing its chosen response.
    bool example_swapped = candidate_swapped(3, "g1");
    EXPECT_NE(user.find("Preferred: Candidate " + std::to_string(example_swapped ? 2 : 1)),
              std::string::npos);
    size_t first = user.find("## Candidate 1\n", target_at);
    ASSERT_NE(first, std::string::npos);
    EXPECT_EQ(user.substr(first + 15, 4), swapped ? "six\n" : "five");
    EXPECT_NE(user.find("Preferred: Candidate 1\" or"), std::string::npos);  // text-mode instruction
  }
}

TEST(Silver, ParsesFinalLineAndJsonStrictly) {
  EXPECT_EQ(parse_preference("Candidate 2 is wrong.\nPreferred: Candidate 1", false),
            Preference::candidate_1);
  EXPECT_EQ(parse_preference("reasoning\n\n**Preferred: candidate 2**.\n\n", false), Preference::candidate_2);
  EXPECT_EQ(parse_preference("Preferred: Candidate 1\nActually no.", false), Preference::unparseable);
  EXPECT_EQ(parse_preference("Preferred: Candidate 3", false), Preference::unparseable);
  EXPECT_EQ(parse_preference("Preferred: both", false), Preference::unparseable);
  EXPECT_EQ(parse_preference("", false), Preference::unparseable);
  EXPECT_EQ(parse_preference("I prefer Candidate 1", false), Preference::unparseable);
  EXPECT_EQ(parse_preference(R"({"preferred": 2})", true), Preference::candidate_2);
  EXPECT_EQ(parse_preference("```json\n{\"preferred\": 1}\n```", true), Preference::candidate_1);
  EXPECT_EQ(parse_preference(R"({"preferred": "1"})", true), Preference::unparseable);
  EXPECT_EQ(parse_preference(R"({"preferred": 1, "why": "x"})", true), Preference::unparseable);
  EXPECT_EQ(parse_preference(R"({"preferred": 0})", true), Preference::unparseable);
  EXPECT_EQ(parse_preference(R"({"preferred": 1)", true), Preference::unparseable);
  EXPECT_EQ(parse_preference("Preferred: Candidate 1", true), Preference::unparseable);
}

TEST(Silver, SelfConsistencyIsTheMajorityOfParseableSamples) {
  JudgeVote vote = self_consistency({+1, +1, -1});
  EXPECT_EQ(vote.verdict, +1);
  EXPECT_DOUBLE_EQ(vote.confidence, 2.0 / 3);
  EXPECT_EQ(vote.n_parseable, 3);
  vote = self_consistency({-1, 0, 0});
  EXPECT_EQ(vote.verdict, -1);
  EXPECT_DOUBLE_EQ(vote.confidence, 1.0);
  EXPECT_EQ(vote.n_samples, 3);
  EXPECT_EQ(vote.n_parseable, 1);
  EXPECT_EQ(self_consistency({+1, -1, 0}).verdict, 0);  // tie abstains
  EXPECT_EQ(self_consistency({0, 0}).verdict, 0);       // nothing parseable abstains
  EXPECT_EQ(self_consistency({}).verdict, 0);
}

TEST(Silver, AggregationModes) {
  auto vote = [](const std::string& judge, int verdict) {
    return NamedVote{judge, {verdict, 1, 1, 1, verdict > 0}};
  };
  std::vector<NamedVote> two_to_one = {vote("a", +1), vote("b", +1), vote("c", -1)};
  AggregateOptions majority;
  EXPECT_EQ(aggregate_votes(two_to_one, majority).verdict, +1);
  EXPECT_DOUBLE_EQ(aggregate_votes(two_to_one, majority).confidence, 2.0 / 3);
  AggregateOptions unanimity{AggregateMode::unanimity};
  EXPECT_EQ(aggregate_votes(two_to_one, unanimity).verdict, 0);
  EXPECT_EQ(aggregate_votes({vote("a", -1), vote("b", -1)}, unanimity).verdict, -1);
  EXPECT_EQ(aggregate_votes({vote("a", -1), vote("b", 0)}, unanimity).verdict, 0);  // an abstainer blocks it
  AggregateOptions weighted{AggregateMode::weighted, {{"c", 3.0}}};
  EXPECT_EQ(aggregate_votes(two_to_one, weighted).verdict, -1);
  EXPECT_DOUBLE_EQ(aggregate_votes(two_to_one, weighted).confidence, 0.6);
  AggregateOptions tie_weights{AggregateMode::weighted, {{"c", 2.0}}};
  EXPECT_EQ(aggregate_votes(two_to_one, tie_weights).verdict, 0);
  EXPECT_EQ(aggregate_votes(two_to_one, tie_weights).reason, "tie");
  EXPECT_EQ(aggregate_votes({vote("a", +1), vote("b", -1)}, majority).reason, "tie");
  EXPECT_EQ(aggregate_votes({vote("a", 0)}, majority).reason, "no_votes");
  AggregateOptions two_needed{AggregateMode::majority, {}, 2};
  EXPECT_EQ(aggregate_votes({vote("a", +1), vote("b", 0)}, two_needed).verdict, 0);
  EXPECT_FALSE(validate(AggregateOptions{AggregateMode::weighted, {{"x", -1.0}}}).is_ok());
  EXPECT_NE(validate(AggregateOptions{AggregateMode::weighted, {{"x", 0.0}}}).message().find("weights.x"),
            std::string::npos);
  EXPECT_FALSE(parse_aggregate_mode("vote").is_ok());
}

// Random judge panels: the invariants every aggregation must keep.
TEST(Silver, AggregationProperties) {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 3000; ++trial) {
    int n_judges = 1 + static_cast<int>(rng() % 6);
    std::vector<NamedVote> votes;
    std::map<std::string, double> weights;
    for (int j = 0; j < n_judges; ++j) {
      std::vector<int> samples(1 + rng() % 5);
      for (int& s : samples) s = static_cast<int>(rng() % 3) - 1;
      std::string name = "judge-" + std::to_string(j);
      votes.push_back({name, self_consistency(samples)});
      weights[name] = 0.25 + static_cast<double>(rng() % 100) / 10;
    }
    std::vector<NamedVote> permuted = votes;
    std::shuffle(permuted.begin(), permuted.end(), rng);
    for (AggregateMode mode : {AggregateMode::majority, AggregateMode::unanimity, AggregateMode::weighted}) {
      AggregateOptions options{mode, weights};
      SilverLabel label = aggregate_votes(votes, options);
      SilverLabel again = aggregate_votes(permuted, options);
      EXPECT_EQ(label.verdict, again.verdict);
      EXPECT_EQ(label.confidence, again.confidence);
      EXPECT_EQ(label.reason, again.reason);
      bool all_abstain =
          std::all_of(votes.begin(), votes.end(), [](const NamedVote& v) { return v.vote.verdict == 0; });
      if (all_abstain) {
        EXPECT_EQ(label.verdict, 0) << "abstentions became a label";
      }
      if (label.verdict != 0) {
        // The label is a side some judge actually voted for, with a confidence above one half.
        bool someone = std::any_of(votes.begin(), votes.end(),
                                   [&](const NamedVote& v) { return v.vote.verdict == label.verdict; });
        EXPECT_TRUE(someone);
        EXPECT_GT(label.confidence, 0.5);
        EXPECT_LE(label.confidence, 1.0);
      } else {
        EXPECT_EQ(label.confidence, 0);
      }
    }
    SilverLabel unanimous = aggregate_votes(votes, {AggregateMode::unanimity});
    if (unanimous.verdict != 0) {
      EXPECT_EQ(aggregate_votes(votes, {AggregateMode::majority}).verdict, unanimous.verdict);
      EXPECT_EQ(aggregate_votes(votes, {AggregateMode::weighted, weights}).verdict, unanimous.verdict);
    }
  }
}

TEST(Silver, PositionBiasComparesCandidateOneShareWithExpected) {
  PositionBias bias;
  EXPECT_TRUE(std::isnan(bias.share_candidate_1()));
  // A judge that always answers "Candidate 1" on pairs shown half swapped.
  for (int i = 0; i < 10; ++i) bias.add(Preference::candidate_1, i % 2 == 0);
  bias.add(Preference::unparseable, false);
  EXPECT_EQ(bias.parseable, 10);
  EXPECT_DOUBLE_EQ(bias.share_candidate_1(), 1.0);
  EXPECT_DOUBLE_EQ(bias.expected_share(), 0.5);
}

TEST(Silver, SchemaIsValidJson) {
  EXPECT_TRUE(chat::Value::parse_json(silver_json_schema()).is_ok());
}

}  // namespace
}  // namespace synpref::curate
