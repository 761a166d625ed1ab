// The benchmark registry: an 8th benchmark is one file plus one registry line. This test is that
// file: a toy benchmark (loader + rule) registered with SYNPREF_BENCHMARK exactly as
// src/eval/benchmarks/<name>.cpp do, then run end to end through the generic code paths
// (load_benchmark, read_scores/match_scores, score_items, evaluate with the bootstrap,
// report_json, read_report, format_table) that never mention it by name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "eval/registry.h"
#include "synpref/eval/benchmark.h"
#include "synpref/eval/report.h"
#include "synpref/eval/scores.h"
#include "synpref/eval/scoring.h"

namespace synpref::eval {
namespace {

// ---- The toy benchmark: what a new benchmarks/<name>.cpp holds ---------------------------------

// Released format (JSON lines): {"uid": ..., "question": ..., "good": ..., "bad": ..., "topic": ...}
constexpr std::string_view kToy = "toy record: uid, question, good, bad, topic";

Status load_toy_file(DatasetBuilder& builder, const std::string& path) {
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    SP_ASSIGN_OR_RETURN(item.id, get_id(obj, "uid", where, kToy));
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "question", where, kToy));
    SP_ASSIGN_OR_RETURN(std::string_view good, get_string(obj, "good", where, kToy));
    SP_ASSIGN_OR_RETURN(std::string_view bad, get_string(obj, "bad", where, kToy));
    SP_ASSIGN_OR_RETURN(std::string_view topic, get_string(obj, "topic", where, kToy));
    item.responses = {std::string(good), std::string(bad)};
    item.n_chosen = 1;
    item.subset = std::string(topic);
    return builder.add(std::move(item), where);
  });
}

// Official rule of the toy: a pair is correct iff score(good) > score(bad); the score is the
// accuracy over all pairs.
class ToyRule : public Rule {
 public:
  explicit ToyRule(std::span<const ScoredItem> items) {
    for (size_t i = 0; i < items.size(); ++i) {
      const auto& s = *items[i].scores;
      outcome_.push_back(s[0] > s[1] ? 1.0 : 0.0);
      all_.push_back(uint32_t(i));
    }
    names_ = {"accuracy"};
    tie_policy = "toy: equal scores are incorrect";
  }
  void compute(std::span<const double> w, std::span<double> value, std::span<double> n) const override {
    value[0] = group_mean(all_, outcome_, w, &n[0]);
  }

 private:
  std::vector<double> outcome_;
  std::vector<uint32_t> all_;
};

Result<std::unique_ptr<Rule>> make_toy_rule(std::span<const ScoredItem> items) {
  return std::unique_ptr<Rule>(std::make_unique<ToyRule>(items));
}

// The one registry line.
SYNPREF_BENCHMARK({.name = "toy-pairs",
                   .column = "Toy",
                   .order = 9000,
                   .load_file = load_toy_file,
                   .make_rule = make_toy_rule});

// ---- The test ------------------------------------------------------------------------------------

class Registry : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("synpref_eval_registry_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(Registry, TheSevenBuiltinsComeFirstInTableOrderAndTheToyJoinsThem) {
  std::vector<std::string> names;
  for (const BenchmarkInfo& b : all_benchmarks()) names.emplace_back(b.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"rewardbench", "rewardbench2", "ppe-preference", "ppe-correctness",
                                      "rmb", "rm-bench", "judgebench", "toy-pairs"}));
  ASSERT_TRUE(find_benchmark("toy-pairs").has_value());
  EXPECT_EQ(find_benchmark("toy-pairs")->column, "Toy");
  EXPECT_FALSE(find_benchmark("nope").has_value());
  EXPECT_NE(benchmark_names().find("judgebench, toy-pairs"), std::string::npos);
}

TEST_F(Registry, ToyBenchmarkRunsEndToEndThroughTheGenericPaths) {
  std::string data = write("toy.jsonl",
                           "{\"uid\": 1, \"question\": \"q1\", \"good\": \"long answer\", \"bad\": \"no\", "
                           "\"topic\": \"math\"}\n"
                           "{\"uid\": 2, \"question\": \"q2\", \"good\": \"yes\", \"bad\": \"a long no\", "
                           "\"topic\": \"math\"}\n"
                           "{\"uid\": \"x\", \"question\": \"q3\", \"good\": \"fine\", \"bad\": \"bad\", "
                           "\"topic\": \"chat\"}\n");
  auto dataset = load_benchmark("toy-pairs", data);
  ASSERT_TRUE(dataset.is_ok()) << dataset.status().message();
  EXPECT_EQ(dataset->benchmark, "toy-pairs");
  ASSERT_EQ(dataset->items.size(), 3u);
  EXPECT_EQ(dataset->items[0].id, "1");
  EXPECT_EQ(dataset->items[2].subset, "chat");
  EXPECT_EQ(dataset->files[0].sha256.size(), 64u);

  // Scores from a file: pair 2 is lost, pair "x" is a tie (incorrect).
  std::string scores_path = write("toy.scores.jsonl",
                                  "{\"id\": 1, \"scores\": [2.0, 1.0]}\n"
                                  "{\"id\": \"2\", \"scores\": [0.5, 1.5]}\n"
                                  "{\"id\": \"x\", \"scores\": [3.0, 3.0]}\n");
  auto table = read_scores(scores_path);
  ASSERT_TRUE(table.is_ok()) << table.status().message();
  auto scores = match_scores(*dataset, *table);
  ASSERT_TRUE(scores.is_ok()) << scores.status().message();

  // Scores from a scorer callback (response length): pairs 1 and x won, pair 2 lost.
  auto by_length = score_items(
      *dataset,
      [](std::span<const data::Turn>, std::span<const std::string> responses) -> Result<std::vector<double>> {
        std::vector<double> out;
        for (const auto& r : responses) out.push_back(double(r.size()));
        return out;
      });
  ASSERT_TRUE(by_length.is_ok()) << by_length.status().message();

  BootstrapOptions options{200, 7, 0.95};
  auto evaluation = evaluate(*dataset, *scores, options);
  ASSERT_TRUE(evaluation.is_ok()) << evaluation.status().message();
  EXPECT_EQ(evaluation->benchmark, "toy-pairs");
  EXPECT_EQ(evaluation->headline, "accuracy");
  const Metric* accuracy = find_metric(*evaluation, "accuracy");
  ASSERT_NE(accuracy, nullptr);
  EXPECT_DOUBLE_EQ(accuracy->value, 1.0 / 3);
  EXPECT_LE(accuracy->ci_low, accuracy->value);
  EXPECT_GE(accuracy->ci_high, accuracy->value);
  auto from_scorer = evaluate(*dataset, *by_length, options);
  ASSERT_TRUE(from_scorer.is_ok());
  EXPECT_DOUBLE_EQ(find_metric(*from_scorer, "accuracy")->value, 2.0 / 3);
  // Report, read back, and Table 1 with the toy's column.
  ScoreSource source;
  source.model = "toy-rm";
  std::string report =
      write("toy.report.json", report_json({&*dataset, &*scores, &*evaluation, source, options, data}));
  auto summary = read_report(report);
  ASSERT_TRUE(summary.is_ok()) << summary.status().message();
  EXPECT_EQ(summary->benchmark, "toy-pairs");
  EXPECT_DOUBLE_EQ(summary->value, 1.0 / 3);
  auto rendered = format_table({*summary}, true);
  ASSERT_TRUE(rendered.is_ok()) << rendered.status().message();
  EXPECT_NE(rendered->find(" Toy |"), std::string::npos) << *rendered;
  EXPECT_NE(rendered->find("33.3"), std::string::npos) << *rendered;
  EXPECT_NE(rendered->find("| toy-pairs"), std::string::npos) << *rendered;  // the breakdown table
}

TEST_F(Registry, UnknownNamesAndUnsupportedOptionsAreRefused) {
  std::string data = write(
      "t.jsonl", "{\"uid\": 1, \"question\": \"q\", \"good\": \"g\", \"bad\": \"b\", \"topic\": \"t\"}\n");
  auto unknown = load_benchmark("toy-pair", data);
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::invalid_argument);
  EXPECT_NE(unknown.status().message().find("toy-pairs"), std::string::npos) << unknown.status().message();
  LoadOptions llmbar;
  llmbar.llmbar = true;
  auto variant = load_benchmark("toy-pairs", data, llmbar);
  ASSERT_FALSE(variant.is_ok());
  EXPECT_NE(variant.status().message().find("llmbar"), std::string::npos);
  auto missing_field = load_benchmark("toy-pairs", write("m.jsonl", "{\"uid\": 1, \"question\": \"q\"}\n"));
  ASSERT_FALSE(missing_field.is_ok());
  EXPECT_NE(missing_field.status().message().find("m.jsonl:1"), std::string::npos);
  EXPECT_NE(missing_field.status().message().find("'good'"), std::string::npos);
}

TEST(RegistryDeathTest, ADuplicateNameIsAProgrammingError) {
  BenchmarkSpec again{.name = "toy-pairs",
                      .column = "Toy 2",
                      .order = 9001,
                      .load_file = load_toy_file,
                      .make_rule = make_toy_rule};
  EXPECT_DEATH(register_benchmark(again), "");
}

}  // namespace
}  // namespace synpref::eval
