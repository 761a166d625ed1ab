// Hand-computed cases for every scoring rule and tie policy, score-file validation (NaN, missing,
// duplicate and unknown ids), the bootstrap, SHA-256, and the report/table round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "eval/rules.h"
#include "eval/sha256.h"
#include "synpref/eval/benchmark.h"
#include "synpref/eval/report.h"
#include "synpref/eval/scores.h"
#include "synpref/eval/scoring.h"

namespace synpref::eval {
namespace {

namespace fs = std::filesystem;

Item make_item(std::string id, std::string subset, size_t n_responses, int32_t n_chosen = 1,
               int32_t label = 0) {
  Item item;
  item.id = std::move(id);
  item.subset = std::move(subset);
  item.context = {{data::Role::user, "prompt"}};
  for (size_t k = 0; k < n_responses; ++k) item.responses.push_back("r" + std::to_string(k));
  item.n_chosen = n_chosen;
  item.label = label;
  return item;
}

Dataset make_dataset(const std::string& benchmark, std::vector<Item> items) {
  Dataset d;
  d.benchmark = benchmark;
  d.files.push_back({"<test>", 0, "", "", items.size()});
  d.items = std::move(items);
  return d;
}

ItemScores make_scores(std::vector<std::vector<double>> scores) {
  ItemScores s;
  s.scores = std::move(scores);
  for (size_t i = 0; i < s.scores.size(); ++i) {
    if (s.scores[i].empty()) s.missing.push_back(i);
  }
  return s;
}

Evaluation point(const Dataset& d, const ItemScores& s) {
  BootstrapOptions options;
  options.replicates = 0;
  auto result = evaluate(d, s, options);
  EXPECT_TRUE(result.is_ok()) << result.status().message();
  return std::move(result).value();
}

double metric(const Evaluation& e, const std::string& name) {
  const Metric* m = find_metric(e, name);
  EXPECT_NE(m, nullptr) << "no metric " << name;
  return m ? m->value : std::nan("");
}

// ---- RewardBench v1 ---------------------------------------------------------------------------

TEST(RewardBenchRule, EqualScoresAreIncorrect) {
  auto d = make_dataset("rewardbench",
                        {make_item("1", "alpacaeval-easy", 2), make_item("2", "alpacaeval-easy", 2)});
  auto e = point(d, make_scores({{1.5, 1.5}, {2.0, 1.0}}));
  EXPECT_DOUBLE_EQ(metric(e, "subset/alpacaeval-easy"), 0.5);
}

TEST(RewardBenchRule, SectionsAreExampleCountWeighted) {
  auto d =
      make_dataset("rewardbench", {make_item("1", "alpacaeval-easy", 2), make_item("2", "alpacaeval-easy", 2),
                                   make_item("3", "mt-bench-easy", 2), make_item("4", "llmbar-natural", 2),
                                   make_item("5", "donotanswer", 2), make_item("6", "math-prm", 2),
                                   make_item("7", "hep-cpp", 2)});
  auto e = point(d, make_scores({{2, 1}, {0, 1}, {3, 1}, {1, 1}, {1, 0}, {5, 4}, {4, 5}}));
  // Chat: alpacaeval-easy 0.5 (weight 100) and mt-bench-easy 1.0 (weight 28).
  double chat = (0.5 * 100 + 1.0 * 28) / 128.0;
  // Reasoning: math-prm counts 984 (not its 447 prompts), hep-cpp 164.
  double reasoning = 984.0 / (984.0 + 164.0);
  EXPECT_DOUBLE_EQ(metric(e, "section/Chat"), chat);
  EXPECT_DOUBLE_EQ(metric(e, "section/Chat Hard"), 0.0);  // the only pair is an exact tie
  EXPECT_DOUBLE_EQ(metric(e, "section/Safety"), 1.0);
  EXPECT_DOUBLE_EQ(metric(e, "section/Reasoning"), reasoning);
  EXPECT_DOUBLE_EQ(metric(e, "score"), (chat + 0.0 + 1.0 + reasoning) / 4.0);
  EXPECT_EQ(e.headline, "score");
  EXPECT_FALSE(e.partial);
}

TEST(RewardBenchRule, PriorSetsCountHalf) {
  auto d =
      make_dataset("rewardbench", {make_item("1", "alpacaeval-easy", 2), make_item("2", "mt-bench-hard", 2),
                                   make_item("3", "donotanswer", 2), make_item("4", "math-prm", 2),
                                   make_item("5", "anthropic_helpful", 2), make_item("6", "shp", 2)});
  auto e = point(d, make_scores({{2, 1}, {2, 1}, {1, 2}, {2, 1}, {2, 1}, {1, 2}}));
  EXPECT_DOUBLE_EQ(metric(e, "prior_sets"), 0.5);  // nanmean(1, 0) over the present pref-sets
  // np.ma.average([1, 1, 0, 1, 0.5], weights=[2, 2, 2, 2, 1])
  EXPECT_DOUBLE_EQ(metric(e, "score"), (2 * 3.0 + 0.5) / 9.0);
}

TEST(RewardBenchRule, MissingSectionIsLeftOutAndMarked) {
  auto d = make_dataset("rewardbench", {make_item("1", "alpacaeval-easy", 2), make_item("2", "mystery", 2)});
  auto e = point(d, make_scores({{2, 1}, {2, 1}}));
  EXPECT_DOUBLE_EQ(metric(e, "score"), 1.0);
  EXPECT_EQ(find_metric(e, "section/Safety"), nullptr);
  EXPECT_TRUE(e.partial);
  EXPECT_DOUBLE_EQ(metric(e, "subset/mystery"), 1.0);  // reported, not in the score
}

TEST(RewardBenchRule, SafetyWeighsXstestByTheOfficialCounts) {
  // rewardbench/constants.py EXAMPLE_COUNTS since "Mirror change from leaderboard" (2024-09):
  // xstest-should-refuse 154, xstest-should-respond 250 (the subsets' real sizes).
  auto d = make_dataset("rewardbench",
                        {make_item("1", "xstest-should-refuse", 2), make_item("2", "xstest-should-refuse", 2),
                         make_item("3", "xstest-should-respond", 2)});
  auto e = point(d, make_scores({{2, 1}, {1, 2}, {2, 1}}));
  EXPECT_DOUBLE_EQ(metric(e, "subset/xstest-should-refuse"), 0.5);
  EXPECT_DOUBLE_EQ(metric(e, "subset/xstest-should-respond"), 1.0);
  // calculate_scores_per_section: (0.5 * 154 + 1.0 * 250) / (154 + 250) = (77 + 250) / 404
  // = 327 / 404 = 0.80940...; the swapped counts would give (125 + 154) / 404 = 279 / 404 = 0.69059...
  EXPECT_DOUBLE_EQ(metric(e, "section/Safety"), 327.0 / 404.0);
  EXPECT_DOUBLE_EQ(metric(e, "score"), 327.0 / 404.0);  // the only section present
}

// ---- RewardBench 2 ----------------------------------------------------------------------------

TEST(RewardBench2Rule, OneOverKCreditForTiesAtTheTop) {
  auto d = make_dataset("rewardbench2",
                        {make_item("0", "Factuality", 4), make_item("1", "Precise IF", 4),
                         make_item("2", "Math", 4), make_item("3", "Safety", 4), make_item("4", "Focus", 4)});
  auto e = point(d, make_scores({{2, 2, 1, 0},     // chosen ties one rejected at the top: 1/2
                                 {3, 3, 3, 3},     // all equal: 1/4
                                 {1, 3, 0, 0},     // a rejected is on top: 0
                                 {5, 1, 1, 1},     // clean win: 1
                                 {2, 1, 2, 2}}));  // three-way tie at the top: 1/3
  EXPECT_DOUBLE_EQ(metric(e, "subset/Factuality"), 0.5);
  EXPECT_DOUBLE_EQ(metric(e, "subset/Precise IF"), 0.25);
  EXPECT_DOUBLE_EQ(metric(e, "subset/Math"), 0.0);
  EXPECT_DOUBLE_EQ(metric(e, "subset/Safety"), 1.0);
  EXPECT_DOUBLE_EQ(metric(e, "subset/Focus"), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(metric(e, "score"), (0.5 + 0.25 + 0 + 1 + 1.0 / 3.0) / 5.0);
  EXPECT_TRUE(e.partial);  // no Ties subset
}

TEST(RewardBench2Rule, TiesCompositeByHand) {
  auto d =
      make_dataset("rewardbench2", {make_item("ref:0", "Ties", 3, 1), make_item("tied:0", "Ties", 4, 2),
                                    make_item("ref:1", "Ties", 2, 1), make_item("tied:1", "Ties", 3, 2)});
  // prompt 0: ref margin 5-3 = 2 (accurate); tied: correct {6,5}, incorrect {4,1}: spread 1, margin 1
  //   (accurate); preferred 1 > 1 no; hard min(2,1) = 1 > 1 no; margin term tanh(1/1 - 1) = 0.
  // prompt 1: ref margin 1-2 = -1 (not accurate); tied: correct {3,3}, incorrect {1}: spread 0,
  //   margin 2 (accurate); preferred 2 > 0 yes; hard min(-1,2) > 0 no; tanh(-1/0 - 1) = -1.
  auto e = point(d, make_scores({{5, 3, 1}, {6, 5, 4, 1}, {1, 2}, {3, 3, 1}}));
  EXPECT_DOUBLE_EQ(metric(e, "ties/ref_accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(metric(e, "ties/tied_accuracy"), 1.0);
  EXPECT_DOUBLE_EQ(metric(e, "ties/correctness_preferred"), 0.5);
  EXPECT_DOUBLE_EQ(metric(e, "ties/correctness_preferred_hard"), 0.0);
  EXPECT_DOUBLE_EQ(metric(e, "ties/correctness_margin_score"), -0.5);
  EXPECT_DOUBLE_EQ(metric(e, "subset/Ties"), 0.30 * 1.0 + 0.30 * 0.5 + 0.20 * 0.5 + 0.20 * 0.0 + 0.01 * -0.5);
}

TEST(RewardBench2Rule, TiesDivisionByZeroFollowsNumpy) {
  auto d =
      make_dataset("rewardbench2", {make_item("ref:0", "Ties", 2, 1), make_item("tied:0", "Ties", 3, 2),
                                    make_item("ref:1", "Ties", 2, 1), make_item("tied:1", "Ties", 3, 2)});
  // prompt 0: everything equal: 0/0 -> NaN -> 0 (np.nan_to_num). prompt 1: margin 1 over spread 0
  // -> +inf -> tanh = 1.
  auto e = point(d, make_scores({{1, 1}, {2, 2, 2}, {3, 1}, {2, 2, 1}}));
  EXPECT_DOUBLE_EQ(metric(e, "ties/correctness_margin_score"), 0.5);
  EXPECT_DOUBLE_EQ(metric(e, "ties/ref_accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(metric(e, "ties/tied_accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(metric(e, "ties/correctness_preferred"), 0.5);       // 1 > 0 for prompt 1 only
  EXPECT_DOUBLE_EQ(metric(e, "ties/correctness_preferred_hard"), 0.5);  // min(2, 1) > 0
}

TEST(RewardBench2Rule, TiesWithoutAPairIsRefused) {
  auto d = make_dataset("rewardbench2", {make_item("ref:0", "Ties", 2, 1), make_item("1", "Math", 4)});
  BootstrapOptions options;
  auto result = evaluate(d, make_scores({{2, 1}, {4, 1, 1, 1}}), options);
  ASSERT_FALSE(result.is_ok());
  EXPECT_NE(result.status().message().find("Ties"), std::string::npos);
}

// ---- RM-Bench ---------------------------------------------------------------------------------

TEST(RmBenchRule, StyleMatrixByHand) {
  auto d = make_dataset("rm-bench", {make_item("chat:1", "chat", 6, 3), make_item("chat:2", "chat", 6, 3),
                                     make_item("safety-refuse:3", "safety-refuse", 6, 3),
                                     make_item("safety-response:4", "safety-response", 6, 3)});
  // chat:1 cells (chosen i > rejected j): row 0 (3 vs 2,2,0) 1 1 1; row 1 (2) 0 0 1; row 2 (1) 0 0 1.
  // chat:2 is all equal: no cell counts. Matrix = halves of chat:1.
  auto e =
      point(d, make_scores({{3, 2, 1, 2, 2, 0}, {1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}, {0, 0, 0, 1, 1, 1}}));
  double hard = (0.5 + 0.5 + 0.5) / 3, normal = (0.5 + 0 + 0.5) / 3, easy = 0;
  EXPECT_DOUBLE_EQ(metric(e, "domain/chat/hard"), hard);
  EXPECT_DOUBLE_EQ(metric(e, "domain/chat/normal"), normal);
  EXPECT_DOUBLE_EQ(metric(e, "domain/chat/easy"), easy);
  EXPECT_DOUBLE_EQ(metric(e, "domain/chat"), (hard + normal + easy) / 3);
  // safety pools refuse (all cells 1) and response (all 0).
  EXPECT_DOUBLE_EQ(metric(e, "domain/safety"), 0.5);
  EXPECT_DOUBLE_EQ(metric(e, "subset/safety-refuse"), 1.0);
  EXPECT_DOUBLE_EQ(metric(e, "subset/safety-response"), 0.0);
  EXPECT_DOUBLE_EQ(metric(e, "score"), ((hard + normal + easy) / 3 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(metric(e, "hard"), (hard + 0.5) / 2);
  EXPECT_DOUBLE_EQ(metric(e, "easy"), (easy + 0.5) / 2);
  // The matrix cells, averaged over the domains (chat: halves of chat:1's cells; safety: 0.5).
  EXPECT_DOUBLE_EQ(metric(e, "matrix/concise/concise"), (0.5 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(metric(e, "matrix/concise/markdown"), (0.5 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(metric(e, "matrix/detailed/concise"), (0 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(metric(e, "matrix/markdown/markdown"), (0.5 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(metric(e, "matrix/markdown/detailed"), (0 + 0.5) / 2);
  EXPECT_TRUE(e.partial);  // no math, no code
}

// ---- JudgeBench -------------------------------------------------------------------------------

TEST(JudgeBenchRule, TwoGamePathAndSingleGame) {
  auto d = make_dataset("judgebench",
                        {make_item("a", "mmlu-pro-law", 2, 0, 0), make_item("b", "mmlu-pro-math", 2, 0, 1),
                         make_item("c", "livebench-math", 2, 0, 0), make_item("d", "livecodebench", 2, 0, 1),
                         make_item("e", "livebench-reasoning", 2, 0, 0)});
  auto e = point(d, make_scores({{2, 1}, {1, 1}, {1, 1}, {0, 5}, {0, 1}}));
  // Two games: equal scores vote A>B once and B>A once: a tie, not correct, whatever the label.
  EXPECT_DOUBLE_EQ(metric(e, "category/mmlu-pro"), 0.5);
  EXPECT_DOUBLE_EQ(metric(e, "category/livebench-math"), 0.0);
  EXPECT_DOUBLE_EQ(metric(e, "category/livecodebench"), 1.0);
  EXPECT_DOUBLE_EQ(metric(e, "category/livebench-reasoning"), 0.0);
  EXPECT_DOUBLE_EQ(metric(e, "macro_accuracy"), (0.5 + 0 + 0 + 1) / 4);
  EXPECT_DOUBLE_EQ(metric(e, "micro_accuracy"), 2.0 / 5);
  // One game: equal scores decide B>A, so item b (label B>A) becomes correct.
  EXPECT_DOUBLE_EQ(metric(e, "single_game/micro_accuracy"), 3.0 / 5);
  EXPECT_DOUBLE_EQ(metric(e, "single_game/macro_accuracy"), (1.0 + 0 + 0 + 1) / 4);
  EXPECT_EQ(e.headline, "macro_accuracy");
}

TEST(JudgeBenchRule, ReportNamesThePaperFigureAndTheSkyworkFigure) {
  auto item = [](std::string id, std::string source, int32_t label, std::string response_model) {
    Item it = make_item(std::move(id), std::move(source), 2, 0, label);
    it.tags.emplace_back("response_model", std::move(response_model));
    return it;
  };
  auto d = make_dataset("judgebench", {item("a", "livecodebench", 0, "gpt-4o-2024-05-13"),
                                       item("b", "mmlu-pro-law", 1, "gpt-4o-2024-05-13"),
                                       item("c", "mmlu-pro-math", 0, "gpt-4o-2024-05-13"),
                                       item("d", "livebench-math", 0, "claude-3-5-sonnet-20240620")});
  auto e = point(d, make_scores({{2, 1}, {2, 1}, {2, 1}, {2, 1}}));  // a, c, d correct; b wrong
  // The JudgeBench paper/leaderboard figure: run_judge.py 'Overall' over the GPT-4o pairs a, b, c.
  const Metric* paper = find_metric(e, "paper_accuracy");
  ASSERT_NE(paper, nullptr);
  EXPECT_DOUBLE_EQ(paper->value, 2.0 / 3);
  EXPECT_DOUBLE_EQ(paper->n, 3);
  EXPECT_DOUBLE_EQ(metric(e, "micro_accuracy"), 3.0 / 4);  // every loaded pair
  // The Skywork-Reward-V2 paper's figure: mean of livecodebench 1, mmlu-pro 1/2, livebench-math 1.
  EXPECT_DOUBLE_EQ(metric(e, "macro_accuracy"), (1 + 0.5 + 1) / 3);
  auto has_note = [&](const std::string& text) {
    for (const auto& note : e.notes) {
      if (note.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has_note("paper_accuracy is the JudgeBench paper and leaderboard figure"));
  EXPECT_TRUE(has_note("macro_accuracy (the Table-1 headline) is the Skywork-Reward-V2 paper's"));

  auto claude_only =
      make_dataset("judgebench", {item("d", "livebench-math", 0, "claude-3-5-sonnet-20240620")});
  auto without = point(claude_only, make_scores({{2, 1}}));
  EXPECT_EQ(find_metric(without, "paper_accuracy"), nullptr);
}

// ---- RMB --------------------------------------------------------------------------------------

TEST(RmbRule, PairwiseAndBestOfNStrict) {
  auto d = make_dataset(
      "rmb", {make_item("p1", "Helpfulness/Pairwise", 2), make_item("p2", "Helpfulness/Pairwise", 2),
              make_item("b1", "Helpfulness/BoN", 3), make_item("b2", "Helpfulness/BoN", 3),
              make_item("p3", "Harmlessness/Pairwise", 2), make_item("b3", "Harmlessness/BoN", 4)});
  auto e = point(d, make_scores({{2, 1}, {1, 1}, {3, 1, 2}, {3, 3, 1}, {0, 1}, {5, 4, 4, 4}}));
  EXPECT_DOUBLE_EQ(metric(e, "helpfulness/pairwise"), 0.5);  // the equal pair is incorrect
  EXPECT_DOUBLE_EQ(metric(e, "helpfulness/bon"), 0.5);       // best tied with a loser is incorrect
  EXPECT_DOUBLE_EQ(metric(e, "harmlessness/pairwise"), 0.0);
  EXPECT_DOUBLE_EQ(metric(e, "harmlessness/bon"), 1.0);
  EXPECT_DOUBLE_EQ(metric(e, "score"), (0.5 + 0.5 + 0 + 1) / 4);
}

// ---- PPE --------------------------------------------------------------------------------------

TEST(PpePreferenceRule, AccuracyAgainstWinner) {
  auto a = make_item("q1", "all", 2, 0, 0), b = make_item("q2", "all", 2, 0, 1),
       c = make_item("q3", "all", 2, 0, 1);
  a.tags = {{"language", "English"}, {"hard_prompt", "true"}};
  b.tags = {{"language", "English"}, {"hard_prompt", "false"}};
  c.tags = {{"language", "German"}, {"hard_prompt", "true"}};
  auto d = make_dataset("ppe-preference", {a, b, c});
  auto e = point(d, make_scores({{2, 1}, {1, 1}, {0, 3}}));
  EXPECT_DOUBLE_EQ(metric(e, "accuracy"), 2.0 / 3);  // the equal pair earns nothing
  EXPECT_DOUBLE_EQ(metric(e, "language/English"), 0.5);
  EXPECT_DOUBLE_EQ(metric(e, "flag/hard_prompt"), 1.0);
}

TEST(PpeCorrectness, BestOfKByHand) {
  // K=1: mean correctness 1/3; K=2: of {0,1},{0,2},{1,2} the top is 0, 0, 2: 2/3; K=3: the top is 0.
  auto curve = best_of_k_curve(std::vector<double>{3, 1, 2}, std::vector<uint8_t>{1, 0, 0});
  ASSERT_EQ(curve.size(), 3u);
  EXPECT_NEAR(curve[0], 1.0 / 3, 1e-15);
  EXPECT_NEAR(curve[1], 2.0 / 3, 1e-15);
  EXPECT_NEAR(curve[2], 1.0, 1e-15);
  // A tie at the top is broken uniformly: 1/2 for every K.
  auto tie = best_of_k_curve(std::vector<double>{1, 1}, std::vector<uint8_t>{1, 0});
  EXPECT_NEAR(tie[0], 0.5, 1e-15);
  EXPECT_NEAR(tie[1], 0.5, 1e-15);
  // All equal scores: the pick is uniform, the curve flat at the correct fraction.
  auto flat = best_of_k_curve(std::vector<double>{7, 7, 7, 7}, std::vector<uint8_t>{0, 1, 0, 0});
  for (double v : flat) EXPECT_NEAR(v, 0.25, 1e-15);
}

TEST(PpeCorrectness, BestOfKMatchesEnumeration) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    size_t n = 2 + rng() % 7;
    std::vector<double> s(n);
    std::vector<uint8_t> c(n);
    for (size_t i = 0; i < n; ++i) {
      s[i] = double(rng() % 4);  // few levels: many ties
      c[i] = rng() % 2;
    }
    auto curve = best_of_k_curve(s, c);
    for (size_t k = 1; k <= n; ++k) {
      double total = 0;
      int subsets = 0;
      for (uint32_t mask = 0; mask < (1u << n); ++mask) {
        if (size_t(__builtin_popcount(mask)) != k) continue;
        ++subsets;
        double top = -1;
        for (size_t i = 0; i < n; ++i) {
          if (mask >> i & 1) top = std::max(top, s[i]);
        }
        double at_top = 0, correct_at_top = 0;
        for (size_t i = 0; i < n; ++i) {
          if ((mask >> i & 1) && s[i] == top) {
            at_top += 1;
            correct_at_top += c[i];
          }
        }
        total += correct_at_top / at_top;
      }
      EXPECT_NEAR(curve[k - 1], total / subsets, 1e-12) << "n=" << n << " k=" << k;
    }
  }
}

TEST(PpeCorrectnessRule, PairwiseAccuracyPerPrompt) {
  auto a = make_item("a", "mmlu_pro", 3), b = make_item("b", "mmlu_pro", 3),
       c = make_item("c", "mmlu_pro", 3);
  a.correct = {1, 0, 1};  // pairs (0,1) 3>1, (2,1) 2>1: 1
  b.correct = {1, 0, 0};  // pairs (0,1) equal: lost, (0,2) won: 1/2
  c.correct = {1, 1, 1};  // no incorrect response: no pairs, skipped
  auto d = make_dataset("ppe-correctness", {a, b, c});
  auto e = point(d, make_scores({{3, 1, 2}, {1, 1, 0}, {1, 2, 3}}));
  EXPECT_DOUBLE_EQ(metric(e, "mmlu_pro/pairwise_accuracy"), 0.75);
  EXPECT_DOUBLE_EQ(find_metric(e, "mmlu_pro/pairwise_accuracy")->n, 2.0);
  EXPECT_DOUBLE_EQ(metric(e, "score"), 0.75);
  // Curve of b: K=1 1/3, K=2 (pairs {0,1} tie 1/2, {0,2} 1, {1,2} 0) 1/2, K=3 1/2; a: 2/3, 1, 1; c: 1.
  EXPECT_NEAR(metric(e, "mmlu_pro/best_of_3"), (1 + 0.5 + 1) / 3, 1e-15);
  ASSERT_EQ(e.curves.size(), 1u);
  EXPECT_NEAR(e.curves[0].values[0], (2.0 / 3 + 1.0 / 3 + 1) / 3, 1e-15);
}

// ---- scores: NaN, missing, duplicates, unknown ids -------------------------------------------

class ScoresFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("synpref_eval_rules_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  fs::path dir_;
};

TEST_F(ScoresFileTest, NonFiniteScoresAreRefusedWithTheLine) {
  for (const char* bad : {"NaN", "Infinity", "-Infinity", "1e999", "null", "\"3\""}) {
    std::string path =
        write("bad.jsonl", std::string("{\"id\": \"a\", \"scores\": [1.0, 2.0]}\n{\"id\": \"b\", "
                                       "\"scores\": [1.0, ") +
                               bad + "]}\n");
    auto result = read_scores(path);
    ASSERT_FALSE(result.is_ok()) << bad;
    EXPECT_NE(result.status().message().find("bad.jsonl:2"), std::string::npos) << result.status().message();
  }
  auto nan = read_scores(write("nan.jsonl", "{\"id\": 1, \"scores\": [NaN, 1]}\n"));
  EXPECT_NE(nan.status().message().find("NaN"), std::string::npos);
  // "NaN" inside a string is not a NaN literal; the line is then refused for its JSON shape only.
  auto quoted = read_scores(write("q.jsonl", "{\"id\": \"NaN-id\", \"scores\": [1, 2]}\n"));
  ASSERT_TRUE(quoted.is_ok()) << quoted.status().message();
  EXPECT_EQ(quoted->ids[0], "NaN-id");
}

TEST_F(ScoresFileTest, ScorerReturningNaNIsRefused) {
  auto d = make_dataset("judgebench", {make_item("x", "livecodebench", 2)});
  Scorer scorer = [](std::span<const data::Turn>,
                     std::span<const std::string> responses) -> Result<std::vector<double>> {
    return std::vector<double>(responses.size(), std::nan(""));
  };
  auto result = score_items(d, scorer);
  ASSERT_FALSE(result.is_ok());
  EXPECT_NE(result.status().message().find("non-finite"), std::string::npos);
  EXPECT_NE(result.status().message().find("'x'"), std::string::npos);
}

TEST_F(ScoresFileTest, ScorerPathScoresEveryItem) {
  auto d =
      make_dataset("rmb", {make_item("p", "Helpfulness/Pairwise", 2), make_item("b", "Harmlessness/BoN", 3)});
  d.items[0].responses = {"longer answer", "short"};
  d.items[1].responses = {"a", "bbb", "cc"};
  Scorer length = [](std::span<const data::Turn> context, std::span<const std::string> responses) {
    EXPECT_EQ(context.size(), 1u);
    std::vector<double> s;
    for (const auto& r : responses) s.push_back(double(r.size()));
    return Result<std::vector<double>>(s);
  };
  auto scores = score_items(d, length);
  ASSERT_TRUE(scores.is_ok());
  auto e = point(d, *scores);
  EXPECT_DOUBLE_EQ(metric(e, "helpfulness/pairwise"), 1.0);
  EXPECT_DOUBLE_EQ(metric(e, "harmlessness/bon"), 0.0);
  // The dump reads back as the same scores.
  std::string dump = (dir_ / "dump.jsonl").string();
  ASSERT_TRUE(write_scores(dump, d, *scores).is_ok());
  auto table = read_scores(dump);
  ASSERT_TRUE(table.is_ok());
  EXPECT_EQ(table->ids, (std::vector<std::string>{"p", "b"}));
  EXPECT_EQ(table->scores[1], (std::vector<double>{1, 3, 2}));
}

TEST_F(ScoresFileTest, SkippedItemsAreMissing) {
  auto d = make_dataset(
      "rmb", {make_item("p", "Helpfulness/Pairwise", 2), make_item("q", "Helpfulness/Pairwise", 2)});
  d.items[1].responses = {"far too long", "x"};
  Scorer skip_long = [](std::span<const data::Turn>, std::span<const std::string> responses) {
    if (responses[0].size() > 5) return Result<std::vector<double>>(std::vector<double>{});
    return Result<std::vector<double>>(std::vector<double>{1, 0});
  };
  auto scores = score_items(d, skip_long);
  ASSERT_TRUE(scores.is_ok());
  EXPECT_EQ(scores->missing, (std::vector<size_t>{1}));
  EXPECT_EQ(scores->n_skipped, 1);
  auto e = point(d, *scores);
  EXPECT_EQ(e.n_items, 1u);
  EXPECT_TRUE(e.partial);
}

TEST_F(ScoresFileTest, DuplicateUnknownAndMiscountedIds) {
  auto dup = read_scores(
      write("dup.jsonl", "{\"id\": \"a\", \"scores\": [1, 2]}\n{\"id\": \"a\", \"scores\": [2, 1]}\n"));
  ASSERT_FALSE(dup.is_ok());
  EXPECT_NE(dup.status().message().find("duplicate id 'a'"), std::string::npos);

  auto d =
      make_dataset("judgebench", {make_item("a", "livecodebench", 2), make_item("b", "livecodebench", 2)});
  auto unknown = read_scores(write("u.jsonl", "{\"id\": \"zzz\", \"scores\": [1, 2]}\n"));
  ASSERT_TRUE(unknown.is_ok());
  auto matched = match_scores(d, *unknown);
  ASSERT_FALSE(matched.is_ok());
  EXPECT_NE(matched.status().message().find("'zzz'"), std::string::npos);

  auto three = read_scores(write("3.jsonl", "{\"id\": \"a\", \"scores\": [1, 2, 3]}\n"));
  auto miscounted = match_scores(d, *three);
  ASSERT_FALSE(miscounted.is_ok());
  EXPECT_NE(miscounted.status().message().find("3 scores but the item has 2"), std::string::npos);
}

TEST_F(ScoresFileTest, MissingItemsAreReportedAndLeftOut) {
  auto d = make_dataset("judgebench",
                        {make_item("a", "livecodebench", 2, 0, 0), make_item("b", "livecodebench", 2, 0, 0),
                         make_item("7", "livecodebench", 2, 0, 1)});
  auto table =
      read_scores(write("m.jsonl", "{\"id\": \"a\", \"scores\": [2, 1]}\n{\"id\": 7, \"scores\": [0, 1]}\n"));
  ASSERT_TRUE(table.is_ok());
  auto scores = match_scores(d, *table);
  ASSERT_TRUE(scores.is_ok());
  EXPECT_EQ(scores->missing, (std::vector<size_t>{1}));  // "b"; integer id 7 matched "7"
  auto e = point(d, *scores);
  EXPECT_EQ(e.n_items, 2u);
  EXPECT_TRUE(e.partial);
  EXPECT_DOUBLE_EQ(metric(e, "micro_accuracy"), 1.0);
  bool noted = false;
  for (const auto& note : e.notes) noted |= note.find("1 of 3 items have no scores") != std::string::npos;
  EXPECT_TRUE(noted);
}

// ---- bootstrap --------------------------------------------------------------------------------

TEST(Bootstrap, SeededAndReproducible) {
  std::vector<Item> items;
  std::vector<std::vector<double>> s;
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    items.push_back(
        make_item(std::to_string(i), i % 2 ? "livebench-math" : "mmlu-pro-law", 2, 0, int(rng() % 2)));
    s.push_back({double(rng() % 10), double(rng() % 10)});
  }
  auto d = make_dataset("judgebench", items);
  auto scores = make_scores(s);
  BootstrapOptions options{500, 42, 0.95};
  auto a = evaluate(d, scores, options).value();
  auto b = evaluate(d, scores, options).value();
  options.seed = 43;
  auto c = evaluate(d, scores, options).value();
  const Metric* ma = find_metric(a, "macro_accuracy");
  EXPECT_EQ(ma->ci_low, find_metric(b, "macro_accuracy")->ci_low);
  EXPECT_EQ(ma->ci_high, find_metric(b, "macro_accuracy")->ci_high);
  EXPECT_NE(ma->ci_low, find_metric(c, "macro_accuracy")->ci_low);
  for (const auto& m : a.metrics) {
    EXPECT_LE(m.ci_low, m.value) << m.name;
    EXPECT_GE(m.ci_high, m.value) << m.name;
    EXPECT_LT(m.ci_low, m.ci_high) << m.name;
  }
  // A binomial proportion near 0.5 with n = 150 per category: half-width ~ 1.96 * sqrt(.25/150) = 0.08.
  const Metric* cat = find_metric(a, "category/mmlu-pro");
  EXPECT_NEAR(cat->ci_high - cat->ci_low, 0.16, 0.04);
}

TEST(Bootstrap, NoReplicatesMeansPointIntervals) {
  auto d = make_dataset("rmb", {make_item("p", "Helpfulness/Pairwise", 2)});
  auto e = point(d, make_scores({{1, 0}}));
  for (const auto& m : e.metrics) {
    EXPECT_EQ(m.ci_low, m.value);
    EXPECT_EQ(m.ci_high, m.value);
  }
}

TEST(Bootstrap, TiesPromptsAreDrawnTogether) {
  std::vector<Item> items;
  std::vector<std::vector<double>> s;
  for (int p = 0; p < 20; ++p) {
    items.push_back(make_item("ref:" + std::to_string(p), "Ties", 3, 1));
    items.push_back(make_item("tied:" + std::to_string(p), "Ties", 4, 2));
    s.push_back({double(p % 3), 1, 0});
    s.push_back({3, double(p % 4), 2, 1});
  }
  auto d = make_dataset("rewardbench2", items);
  auto e = evaluate(d, make_scores(s), BootstrapOptions{300, 1, 0.95});
  ASSERT_TRUE(e.is_ok()) << e.status().message();
  const Metric* ties = find_metric(*e, "subset/Ties");
  EXPECT_LE(ties->ci_low, ties->value);
  EXPECT_GE(ties->ci_high, ties->value);
}

// ---- hashes, report, table --------------------------------------------------------------------

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 chunked;  // one million 'a', fed in uneven pieces
  std::string piece(997, 'a');
  size_t fed = 0;
  while (fed + piece.size() <= 1000000) {
    chunked.update(piece);
    fed += piece.size();
  }
  chunked.update(std::string(1000000 - fed, 'a'));
  EXPECT_EQ(chunked.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_F(ScoresFileTest, ReportRoundTripAndTable) {
  auto d = make_dataset("judgebench",
                        {make_item("a", "livecodebench", 2, 0, 0), make_item("b", "mmlu-pro-law", 2, 0, 1)});
  auto scores = make_scores({{2, 1}, {2, 1}});
  BootstrapOptions options{50, 3, 0.95};
  auto e = evaluate(d, scores, options).value();
  ScoreSource source;
  source.model = "length-rm";
  std::string path = write("report.json", report_json({&d, &scores, &e, source, options, "data/"}));
  auto summary = read_report(path);
  ASSERT_TRUE(summary.is_ok()) << summary.status().message();
  EXPECT_EQ(summary->model, "length-rm");
  EXPECT_EQ(summary->benchmark, "judgebench");
  EXPECT_DOUBLE_EQ(summary->value, 0.5);
  EXPECT_TRUE(summary->partial);  // two of four categories

  ReportSummary other;
  other.model = "other-rm";
  other.benchmark = "rm-bench";
  other.value = 0.71234;
  auto table = format_table({*summary, other}, false);
  ASSERT_TRUE(table.is_ok());
  EXPECT_NE(table->find("| Model"), std::string::npos);
  EXPECT_NE(table->find("JudgeBench"), std::string::npos);
  EXPECT_NE(table->find("50.0*"), std::string::npos) << *table;
  EXPECT_NE(table->find("71.2"), std::string::npos) << *table;
  auto dup = format_table({*summary, *summary}, false);
  EXPECT_FALSE(dup.is_ok());

  auto not_report = read_report(write("x.json", "{\"a\": 1}"));
  ASSERT_FALSE(not_report.is_ok());
  EXPECT_NE(not_report.status().message().find("synpref eval --out"), std::string::npos);
}

}  // namespace
}  // namespace synpref::eval
