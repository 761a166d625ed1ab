// Stage-1 rounds on a tiny RM trained from scratch, with judge-sim judges over loopback HTTP and
// simulated annotators for gold: what a round records is checked against what it stored (scores,
// retrieval lines, labels), the k rule holds per gold pair, retrieved pairs are never gold or
// labeled before, and a second round continues the first.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "synpref/curate/gold.h"
#include "synpref/curate/round.h"
#include "synpref/data/synthetic.h"
#include "synpref/judge/sim.h"
#include "synpref/tokenizer/train.h"
#include "test_util.h"

namespace synpref::curate {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using synpref::testing::TempDir;

struct SimServer {
  std::unique_ptr<judge::Sim> sim;
  std::thread thread;
  explicit SimServer(const judge::SimOptions& options) {
    auto created = judge::Sim::create(options);
    EXPECT_TRUE(created.is_ok()) << created.status().message();
    sim = std::move(*created);
    thread = std::thread([this] { (void)sim->run(); });
  }
  ~SimServer() {
    sim->stop();
    thread.join();
  }
};

std::set<std::string> read_lines(const std::string& path) {
  std::set<std::string> out;
  std::istringstream in(synpref::testing::slurp(path));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.insert(line);
  return out;
}

TEST(CurateRound, TrainsScoresRetrievesLabelsAndRecords) {
  TempDir tmp;
  // A noisy pool: data synth with 30% of the labels flipped, all in math and safety.
  data::SynthOptions synth;
  synth.train_pairs = 240;
  synth.test_pairs = 20;
  synth.seed = 4;
  synth.noise = 0.3;
  synth.noise_categories = {"math", "safety"};
  ASSERT_TRUE(
      data::write_synth(synth, tmp.file("pool.jsonl"), tmp.file("test.jsonl"), tmp.file("flipped.txt"))
          .is_ok());
  const std::set<std::string> flipped = read_lines(tmp.file("flipped.txt"));
  auto opened = Project::init(tmp.file("p"), {tmp.file("pool.jsonl")}, {});
  ASSERT_TRUE(opened.is_ok()) << opened.status().message();
  Project& project = **opened;

  // Gold: simulated annotators (always right when decided, 10% cannot-determine) on 40 pairs.
  std::vector<std::string> ids;
  auto refs = project.pair_refs(0, 40);
  ASSERT_TRUE(refs.is_ok());
  for (const PairRef& ref : *refs) ids.push_back(ref.id);
  AnnotationSimOptions annotators;
  annotators.annotators = {{"ann-1", 1.0, 0.1}};
  annotators.budget = 40;
  auto truth = [&](const std::string& id) { return flipped.count(id) ? -1 : 1; };
  auto sim_summary = simulate_annotators(ids, truth, annotators, tmp.file("gold.jsonl"));
  ASSERT_TRUE(sim_summary.is_ok());
  ASSERT_TRUE(import_gold_labels(project, tmp.file("gold.jsonl")).is_ok());

  // A small tokenizer learned from the pool.
  {
    const std::string text = synpref::testing::slurp(tmp.file("pool.jsonl"));
    std::vector<std::string_view> texts = {text};
    ASSERT_TRUE(tokenizer::train_bpe_tokenizer(texts, {.vocab_size = 400}, tmp.file("tok")).is_ok());
  }

  // Judges over loopback HTTP.
  judge::SimOptions sim_options;
  sim_options.synth = synth;
  sim_options.judges = {{.model = "judge-a", .accuracy = 0.9}};
  SimServer server(sim_options);
  judge::Config config;
  config.endpoints = {{.name = "judge-a", .base_url = server.sim->base_url(), .model = "judge-a"}};
  config.cache_path = tmp.file("judge-cache.sqlite");
  auto client = judge::Client::create(config);
  ASSERT_TRUE(client.is_ok()) << client.status().message();

  // The label step needs each pair's attributes (and annotation guideline): the judges give them.
  RoundOptions o;
  auto no_attributes = run_round(project, **client, [&] {
    RoundOptions x;
    x.train.max_steps = 1;
    x.seed_pairs = 10;
    return x;
  }());
  ASSERT_FALSE(no_attributes.is_ok());
  EXPECT_NE(no_attributes.status().message().find("curate attributes"), std::string::npos)
      << no_attributes.status().message();
  auto attributes = run_attributes_step(project, **client, {});
  ASSERT_TRUE(attributes.is_ok()) << attributes.status().message();
  ASSERT_GE(attributes->valid, project.n_pairs() - 5)
      << "judge-sim names the attributes of (almost) every pair";

  o.train.model_init = "preset:qwen3-tiny";
  o.train.tokenizer_dir = tmp.file("tok");
  o.train.hidden_size = 32;
  o.train.intermediate_size = 64;
  o.train.n_layer = 1;
  o.train.n_head = 2;
  o.train.n_head_kv = 1;
  o.train.head_dim = 16;
  o.train.lr = 3e-3;
  o.train.batch_pairs = 8;
  o.train.micro_batch_tokens = 2048;
  o.train.epochs = 100;
  o.train.max_steps = 40;
  o.train.eval_every = 10;
  o.train.date = "2026-01-01";
  o.train.threads = 2;
  o.label.n = 1;
  o.seed_pairs = 60;

  // Errors before anything runs: a bad k_max names the field.
  RoundOptions bad = o;
  bad.k_max = 0;
  auto refused = run_round(project, **client, bad);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("k_max"), std::string::npos);

  auto r1 = run_round(project, **client, o);
  ASSERT_TRUE(r1.is_ok()) << r1.status().message();
  const RoundSummary& s = *r1;
  EXPECT_EQ(s.round, 1);
  EXPECT_EQ(s.seed_labeled, 60);
  EXPECT_TRUE(fs::exists(s.rm_dir + "/config.json"));
  EXPECT_EQ(s.gold_pairs, sim_summary->decided);
  EXPECT_EQ(s.index_kind, "flat");
  EXPECT_EQ(s.index_size, project.n_pairs());
  EXPECT_EQ(*finished_rounds(project, "stage1"), 1);

  // p per gold pair from the scores the round stored, oriented by the human verdict.
  auto verdicts = gold_verdicts(project);
  ASSERT_TRUE(verdicts.is_ok());
  auto scores = project.scores(s.rm_name);
  ASSERT_TRUE(scores.is_ok());
  ASSERT_EQ(scores->size(), verdicts->size());
  std::map<std::string, double> p_of;
  int64_t correct = 0;
  for (const Score& sc : *scores) {
    const double margin = (sc.chosen - sc.rejected) * verdicts->at(sc.pair_id);
    p_of[sc.pair_id] = 1 / (1 + std::exp(-margin));
    correct += p_of[sc.pair_id] > 0.5;
  }
  EXPECT_EQ(s.gold_correct, correct);
  EXPECT_DOUBLE_EQ(s.gold_accuracy, double(correct) / double(verdicts->size()));
  int64_t weakness_gold = 0;
  for (const Weakness& w : s.weaknesses)
    if (w.field == "task_category") weakness_gold += w.gold;
  EXPECT_EQ(weakness_gold, s.gold_pairs) << "every gold pair is in one category slice";

  // The retrieval lines: one per gold pair, k by the report's rule, neighbours never gold nor
  // labeled before the round, and the union of neighbours is what got labeled.
  std::set<std::string> gold_ids;
  for (const auto& [id, v] : *verdicts) gold_ids.insert(id);
  std::istringstream lines(synpref::testing::slurp(s.retrieval_path));
  std::string line;
  std::set<std::string> neighbours;
  int64_t n_lines = 0, wrong = 0;
  while (std::getline(lines, line)) {
    json j = json::parse(line);
    ++n_lines;
    const std::string gold_id = j["gold_id"];
    EXPECT_NEAR(j["p"].get<double>(), p_of.at(gold_id), 1e-9);
    const int k = retrieval_k(p_of.at(gold_id), 8);
    EXPECT_EQ(j["k"].get<int>(), k);
    EXPECT_EQ(j["neighbours"].size(), size_t(k)) << "the pool has enough unlabeled pairs";
    wrong += p_of.at(gold_id) <= 0.5;
    for (const json& nb : j["neighbours"]) {
      const std::string id = nb["id"];
      EXPECT_FALSE(gold_ids.count(id)) << id;
      neighbours.insert(id);
    }
  }
  EXPECT_EQ(n_lines, s.gold_pairs);
  EXPECT_EQ(wrong, s.queries_wrong);
  EXPECT_EQ(int64_t(neighbours.size()), s.retrieved);
  std::set<std::string> labeled;
  auto aggregates = project.labels_for("silver_aggregate");
  ASSERT_TRUE(aggregates.is_ok());
  for (const Label& l : *aggregates) labeled.insert(l.pair_id);
  for (const std::string& id : neighbours)
    EXPECT_TRUE(labeled.count(id)) << id << " was retrieved but not labeled";
  EXPECT_EQ(labeled.size(), 60 + neighbours.size()) << "seed and retrieved pairs are disjoint";
  EXPECT_EQ(s.label.labeled, s.retrieved);
  EXPECT_EQ(s.silver_after, int64_t(project.members("silver")->size()));
  EXPECT_GE(s.silver_after, s.silver_before);

  // The summary file says the same.
  json summary = json::parse(synpref::testing::slurp(s.summary_path));
  EXPECT_EQ(summary["round"], 1);
  EXPECT_EQ(summary["retrieved"], s.retrieved);
  EXPECT_EQ(summary["gold_accuracy"], s.gold_accuracy);

  // Round 2 trains on the grown silver set and retrieves only pairs not labeled yet.
  auto r2 = run_round(project, **client, o);
  ASSERT_TRUE(r2.is_ok()) << r2.status().message();
  EXPECT_EQ(r2->round, 2);
  EXPECT_EQ(r2->seed_labeled, 0);
  EXPECT_EQ(r2->silver_before, s.silver_after);
  EXPECT_NE(r2->rm_name, s.rm_name);
  std::istringstream lines2(synpref::testing::slurp(r2->retrieval_path));
  while (std::getline(lines2, line)) {
    const json row = json::parse(line);  // named: a range-for over a temporary's member dangles
    for (const json& nb : row["neighbours"]) {
      EXPECT_FALSE(labeled.count(nb["id"].get<std::string>())) << "round 2 re-retrieved a labeled pair";
    }
  }
  EXPECT_EQ(*finished_rounds(project, "stage1"), 2);
  auto status = project.status();
  ASSERT_TRUE(status.is_ok());
  EXPECT_EQ(status->rounds, 3) << "the failed call without attributes, round 1 and round 2";
}

}  // namespace
}  // namespace synpref::curate
