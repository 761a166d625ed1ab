// Human verdicts from annotation tools (Label Studio JSON export, Argilla record exports and API
// pages; fixtures shaped as the tools write them) and from simulated annotators.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "synpref/common/hash.h"
#include "synpref/curate/gold.h"
#include "synpref/curate/steps.h"
#include "test_project_util.h"

namespace synpref::curate {
namespace {

using nlohmann::json;
using synpref::testing::TempDir;

const std::string kFixtures = synpref::testing::source_path("tests/fixtures/curate/");

std::unique_ptr<Project> make_project(const TempDir& tmp, int n = 12) {
  std::string pool;
  for (int i = 0; i < n; ++i) pool += synpref::testing::pool_line(i, "math", "pair-" + std::to_string(i));
  synpref::testing::spit(tmp.file("pool.jsonl"), pool);
  auto project = Project::init(tmp.file("p"), {tmp.file("pool.jsonl")}, {});
  EXPECT_TRUE(project.is_ok()) << project.status().message();
  return std::move(*project);
}

// (pair id, annotator) -> verdict of the gold labels.
std::map<std::pair<std::string, std::string>, int> gold_of(const Project& project) {
  std::map<std::pair<std::string, std::string>, int> out;
  auto labels = project.labels_for("gold");
  EXPECT_TRUE(labels.is_ok());
  for (const Label& l : *labels) {
    EXPECT_EQ(l.source, "human");
    out[{l.pair_id, l.annotator}] = l.verdict;
  }
  return out;
}

TEST(GoldImport, LabelStudioExport) {
  TempDir tmp;
  auto project = make_project(tmp);
  auto s = import_gold_labels(*project, kFixtures + "label-studio-export.json");
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(s->format, "label-studio");
  EXPECT_EQ(s->imported, 6);
  EXPECT_EQ(s->pairs, 5);
  EXPECT_EQ(s->cannot_determine, 1) << "pair-3: discarded, as the report prescribes";
  EXPECT_EQ(s->skipped, 1) << "the cancelled annotation of pair-2";
  EXPECT_EQ(s->rejected, 2) << "an unknown pair id and an annotation without a choice";
  EXPECT_EQ(s->lines, 9);
  const auto gold = gold_of(*project);
  const std::map<std::pair<std::string, std::string>, int> expected = {
      {{"pair-0", "label-studio:3"}, 1},
      {{"pair-1", "ada@example.com"}, -1},  // "Response 1" shown first, but the task says swapped
      {{"pair-2", "label-studio:3"}, -1},
      {{"pair-4", "label-studio:4"}, 0},
      {{"pair-5", "label-studio:3"}, 1},
      {{"pair-5", "label-studio:4"}, 1},
  };
  EXPECT_EQ(gold, expected);
  auto members = project->members("gold");
  ASSERT_TRUE(members.is_ok());
  EXPECT_EQ(*members, (std::vector<std::string>{"pair-0", "pair-1", "pair-2", "pair-4", "pair-5"}));
  // The rejects file names the task and why.
  const std::string rejects = synpref::testing::slurp(s->rejects_path);
  EXPECT_NE(rejects.find("no-such-pair"), std::string::npos) << rejects;
  EXPECT_NE(rejects.find("task 7 annotation 0"), std::string::npos) << rejects;
  // Re-importing changes nothing.
  auto again = import_gold_labels(*project, kFixtures + "label-studio-export.json");
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(gold_of(*project), expected);
  // Another control name: no verdict anywhere -> an error with the counts.
  auto other = import_gold_labels(*project, kFixtures + "label-studio-export.json", {.question = "rating"});
  ASSERT_FALSE(other.is_ok());
  EXPECT_EQ(other.status().code(), StatusCode::data_error);
  EXPECT_NE(other.status().message().find("no usable gold label"), std::string::npos)
      << other.status().message();
}

TEST(GoldImport, ArgillaSdkRecords) {
  TempDir tmp;
  auto project = make_project(tmp);
  auto s = import_gold_labels(*project, kFixtures + "argilla-records.json");
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(s->format, "argilla");
  EXPECT_EQ(s->imported, 3);
  EXPECT_EQ(s->cannot_determine, 1);
  EXPECT_EQ(s->skipped, 1) << "pair-8 has suggestions but no human response";
  EXPECT_EQ(s->rejected, 0);
  const std::string a = "argilla:7c1e2f0a-2b8e-4a4e-9d1d-2f6b0c9e1a11";
  const std::map<std::pair<std::string, std::string>, int> expected = {
      {{"pair-0", a}, 1},  // the suggestion (response_2) is not a human verdict
      {{"pair-6", a}, 1},  // "response_2" of a swapped record is the pair's chosen
      {{"pair-7", a}, 1},
  };
  EXPECT_EQ(gold_of(*project), expected);
}

TEST(GoldImport, ArgillaApiPage) {
  TempDir tmp;
  auto project = make_project(tmp);
  auto s = import_gold_labels(*project, kFixtures + "argilla-api-page.json");
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(s->format, "argilla");
  EXPECT_EQ(s->imported, 1);
  EXPECT_EQ(s->skipped, 2) << "a discarded and a draft response";
  const std::map<std::pair<std::string, std::string>, int> expected = {
      {{"pair-9", "argilla:7c1e2f0a-2b8e-4a4e-9d1d-2f6b0c9e1a11"}, -1}};
  EXPECT_EQ(gold_of(*project), expected);
}

TEST(GoldImport, BrokenExportsAreCleanErrors) {
  TempDir tmp;
  auto project = make_project(tmp);
  std::string text = synpref::testing::slurp(kFixtures + "label-studio-export.json");
  synpref::testing::spit(tmp.file("cut.json"), text.substr(0, text.size() / 2));
  auto cut = import_gold_labels(*project, tmp.file("cut.json"), {.format = "label-studio"});
  ASSERT_FALSE(cut.is_ok());
  EXPECT_EQ(cut.status().code(), StatusCode::data_error);
  EXPECT_NE(cut.status().message().find("cut.json"), std::string::npos) << cut.status().message();
  auto bad_format = import_gold_labels(*project, tmp.file("cut.json"), {.format = "prodigy"});
  ASSERT_FALSE(bad_format.is_ok());
  EXPECT_NE(bad_format.status().message().find("format"), std::string::npos);
  synpref::testing::spit(tmp.file("bad.jsonl"), "{\"responses\": 7, \"id\": \"pair-1\"}\n[1, 2\n");
  auto bad = import_gold_labels(*project, tmp.file("bad.jsonl"), {.format = "argilla"});
  ASSERT_FALSE(bad.is_ok()) << "nothing usable";
  EXPECT_EQ(project->labels_for("gold")->size(), 0u);
}

int truth_of(const std::string& id) {
  return hash64(id, 99) % 3 == 0 ? -1 : 1;
}

TEST(SimulatedAnnotators, RatesBudgetAndDeterminism) {
  TempDir tmp;
  std::vector<std::string> candidates;
  for (int i = 0; i < 3000; ++i) candidates.push_back("c-" + std::to_string(i));
  AnnotationSimOptions options;
  options.annotators = {{"alice", 0.9, 0.1}, {"bob", 0.7, 0.0}};
  options.budget = 2000;
  options.seed = 5;
  auto s = simulate_annotators(candidates, truth_of, options, tmp.file("a.jsonl"));
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(s->shown, 2000);
  EXPECT_EQ(s->shown_by_annotator["alice"], 1000);
  EXPECT_EQ(s->shown_by_annotator["bob"], 1000);
  EXPECT_EQ(s->decided + s->cannot_determine, s->shown);
  // Binomial counts, within 5 standard deviations.
  EXPECT_NEAR(s->cannot_determine, 100, 5 * std::sqrt(1000 * 0.1 * 0.9));
  // Recount from the file: every line is a decided verdict; wrong ones per annotator.
  std::istringstream lines(synpref::testing::slurp(tmp.file("a.jsonl")));
  std::string line;
  std::map<std::string, int> decided, wrong;
  int64_t n_lines = 0, total_wrong = 0;
  while (std::getline(lines, line)) {
    json j = json::parse(line);
    ++n_lines;
    const std::string who = j["annotator"];
    ++decided[who];
    const bool w = j["verdict"].get<int>() != truth_of(j["id"]);
    wrong[who] += w;
    total_wrong += w;
    EXPECT_DOUBLE_EQ(j["confidence"].get<double>(), who == "alice" ? 0.9 : 0.7);
  }
  EXPECT_EQ(n_lines, s->decided);
  EXPECT_EQ(total_wrong, s->wrong);
  EXPECT_EQ(decided["bob"], 1000) << "bob never says cannot-determine";
  EXPECT_NEAR(wrong["alice"], 0.1 * decided["alice"], 5 * std::sqrt(decided["alice"] * 0.09));
  EXPECT_NEAR(wrong["bob"], 300, 5 * std::sqrt(1000 * 0.21));
  // Same seed: same file; another seed: other draws.
  ASSERT_TRUE(simulate_annotators(candidates, truth_of, options, tmp.file("b.jsonl")).is_ok());
  EXPECT_EQ(synpref::testing::slurp(tmp.file("a.jsonl")), synpref::testing::slurp(tmp.file("b.jsonl")));
  options.seed = 6;
  ASSERT_TRUE(simulate_annotators(candidates, truth_of, options, tmp.file("c.jsonl")).is_ok());
  EXPECT_NE(synpref::testing::slurp(tmp.file("a.jsonl")), synpref::testing::slurp(tmp.file("c.jsonl")));
  // A budget larger than the candidates shows each once.
  options.budget = 5000;
  auto all = simulate_annotators(candidates, truth_of, options, tmp.file("d.jsonl"));
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all->shown, 3000);
}

TEST(SimulatedAnnotators, VerdictsImportAsGold) {
  TempDir tmp;
  auto project = make_project(tmp, 40);
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) ids.push_back("pair-" + std::to_string(i));
  AnnotationSimOptions options;
  options.annotators = {{"sim-1", 1.0, 0.25}};
  options.budget = 30;
  auto s = simulate_annotators(ids, truth_of, options, tmp.file("v.jsonl"));
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(s->shown, 30);
  EXPECT_EQ(s->wrong, 0);
  auto imported = import_gold_labels(*project, tmp.file("v.jsonl"));
  ASSERT_TRUE(imported.is_ok()) << imported.status().message();
  EXPECT_EQ(imported->format, "synpref");
  EXPECT_EQ(imported->imported, s->decided);
  for (const auto& [key, verdict] : gold_of(*project)) EXPECT_EQ(verdict, truth_of(key.first)) << key.first;
}

TEST(SimulatedAnnotators, BadOptionsNameTheField) {
  TempDir tmp;
  AnnotationSimOptions options;
  auto r = simulate_annotators({"x"}, truth_of, options, tmp.file("x.jsonl"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("annotators"), std::string::npos);
  options.annotators = {{"a", 1.5, 0}};
  r = simulate_annotators({"x"}, truth_of, options, tmp.file("x.jsonl"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("annotators[0].accuracy"), std::string::npos) << r.status().message();
  options.annotators = {{"a", 0.9, 0}};
  options.budget = -1;
  EXPECT_FALSE(simulate_annotators({"x"}, truth_of, options, tmp.file("x.jsonl")).is_ok());
}

}  // namespace
}  // namespace synpref::curate
