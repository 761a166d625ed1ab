// End to end, through the real binary: data synth pool -> curate init -> attributes -> label ->
// stage2 (tiny RMs) -> export, against an in-process OpenAI-compatible judge server on loopback
// that knows the ground truth. Asserts the recorded decisions equal the stage-2 rule computed here
// independently from the recorded scores and silver samples, that sharded runs merge to the same
// decisions, and that reruns make no new judge calls.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "synpref/common/hash.h"
#include "synpref/curate/project.h"
#include "synpref/data/synthetic.h"
#include "synpref/data/writer.h"
#include "synpref/encode/rm_input.h"
#include "synpref/http/server.h"
#include "test_util.h"

namespace synpref::curate {
namespace {

using nlohmann::json;
using synpref::testing::run_synpref;

constexpr int kPairs = 48;
constexpr int kGold = 8;
const std::string kShared = std::string(SYNPREF_SOURCE_DIR) + "/../shared/data";

bool flipped(int index) {
  return index % 5 == 3;
}

// The pool: synth pairs with every 5th label flipped and attributes removed (the judge supplies them).
struct Pool {
  std::vector<data::Record> records;
  std::map<std::string, std::string> category_of_question;
  std::set<std::pair<std::string, std::string>> correct;  // (question, correct response)
};

Pool make_pool(const std::string& path, int n_pairs = kPairs) {
  Pool pool;
  data::SynthOptions options;
  options.seed = 3;
  std::string out;
  for (int i = 0; i < n_pairs; ++i) {
    data::Record record = data::synth_record(options, "train", static_cast<uint64_t>(i));
    pool.category_of_question[record.context.back().content] = record.attributes.task_category;
    pool.correct.insert({record.context.back().content, record.responses[0].content});
    record.attributes = {};
    if (flipped(i)) std::swap(record.responses[0], record.responses[1]);
    record.id = "pair-" + std::to_string(i);
    EXPECT_TRUE(data::append_record(out, record, data::OutputFormat::canonical).is_ok());
    pool.records.push_back(record);
  }
  synpref::testing::spit(path, out);
  return pool;
}

std::string between(const std::string& text, const std::string& open, const std::string& close, bool last) {
  size_t start = last ? text.rfind(open) : text.find(open);
  if (start == std::string::npos) return "";
  start += open.size();
  size_t end = text.find(close, start);
  return end == std::string::npos ? "" : text.substr(start, end - start);
}

// Two judges behind one OpenAI-compatible server: judge-a is right (its third sample is garbage),
// judge-b is wrong on about a quarter of the pairs.
class FakeJudges {
 public:
  explicit FakeJudges(const Pool& pool, int latency_ms = 0) : pool_(pool), latency_ms_(latency_ms) {
    server_ = std::move(http::Server::create({}).value());
    server_->route("POST", "/v1/chat/completions", [this](const http::Request& r) { return handle(r); });
    thread_ = std::thread([this] { (void)server_->run(); });
  }
  ~FakeJudges() {
    server_->stop();
    thread_.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/v1"; }
  int attribute_requests() const { return attribute_requests_; }
  int silver_requests() const { return silver_requests_; }

 private:
  http::Response handle(const http::Request& request) {
    if (latency_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(latency_ms_));
    json body = json::parse(request.body);
    const std::string model = body["model"];
    const std::string user = body["messages"].back()["content"];
    int n = body.value("n", 1);
    json choices = json::array();
    if (user.find("\"annotation_guideline\"") != std::string::npos) {
      ++attribute_requests_;
      std::string question = between(user, "# Conversation\n[user]\n", "\n\n", false);
      auto it = pool_.category_of_question.find(question);
      json answer = {
          {"task_category", it == pool_.category_of_question.end() ? "other" : it->second},
          {"objectivity", "objective"},
          {"controversiality", "low"},
          {"desired_attributes", {"correct", "follows the instructions"}},
          {"annotation_guideline", "Prefer the reply that is correct and follows every instruction."}};
      for (int i = 0; i < n; ++i)
        choices.push_back({{"index", i}, {"message", {{"role", "assistant"}, {"content", answer.dump()}}}});
    } else {
      ++silver_requests_;
      std::string question = between(user, "\n## Conversation\n[user]\n", "\n\n", true);
      std::string first = between(user, "\n## Candidate 1\n", "\n\n## Candidate 2\n", true);
      bool first_correct = pool_.correct.count({question, first}) > 0;
      bool wrong = model == "model-b" && hash64(first) % 4 == 0;
      int preferred = (first_correct != wrong) ? 1 : 2;
      for (int i = 0; i < n; ++i) {
        std::string content = "The candidates differ.\nPreferred: Candidate " + std::to_string(preferred);
        if (model == "model-a" && i == 2) content = "I cannot decide.";
        choices.push_back({{"index", i}, {"message", {{"role", "assistant"}, {"content", content}}}});
      }
    }
    json response = {{"choices", choices}, {"usage", {{"prompt_tokens", 100}, {"completion_tokens", 10}}}};
    return http::json_response(response.dump());
  }

  const Pool& pool_;
  int latency_ms_ = 0;
  std::atomic<int> attribute_requests_{0}, silver_requests_{0};
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

std::string make_model(const std::string& dir, int seed) {
  auto r = run_synpref("init-model --arch qwen3 --preset qwen3-tiny --tokenizer " + kShared +
                       "/tokenizers/qwen3 --seed " + std::to_string(seed) + " --init-std 0.2 --out " + dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir;
}

json run_json(const std::string& args) {
  auto r = run_synpref("--json -q " + args);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err << r.out;
  if (r.exit_code != 0) return json::object();
  return json::parse(r.out);
}

// The silver verdict recomputed from the recorded samples: per judge the majority of parseable
// samples, then the majority of the judges that voted; ties abstain.
std::map<std::string, int> expected_llm_verdicts(const Project& project) {
  std::set<std::string> aggregated;
  const std::vector<Label> aggregates = project.labels_for("silver_aggregate").value();
  for (const Label& label : aggregates) aggregated.insert(label.pair_id);
  std::map<std::string, std::map<std::string, int>> sums;  // pair -> judge -> sum of verdicts
  const std::vector<Label> silver = project.labels_for("silver").value();
  for (const Label& label : silver) sums[label.pair_id][label.annotator] += label.verdict;
  std::map<std::string, int> verdicts;
  for (const auto& [pair, judges] : sums) {
    if (!aggregated.count(pair)) continue;
    int votes = 0;
    for (const auto& [judge, sum] : judges) votes += (sum > 0) - (sum < 0);
    verdicts[pair] = (votes > 0) - (votes < 0);
  }
  return verdicts;
}

std::string expected_reason(const std::array<double, 2>& best, const std::array<double, 2>& gold,
                            std::optional<int> llm, double margin) {
  double p_best = 1 / (1 + std::exp(-(best[0] - best[1])));
  double p_gold = 1 / (1 + std::exp(-(gold[0] - gold[1])));
  if (!(p_gold > 0.5)) return "dropped_gold_disagrees";
  if (p_best > 0.5 + margin) return "kept_best_confident";
  if (!llm) return "pending_llm_label";
  if (*llm == 1) return "kept_llm_agrees";
  if (p_best > 0.5) return "kept_best_agrees";
  return "dropped_llm_and_best_disagree";
}

TEST(CurateE2E, PoolToKeptSetThroughJudgesAndRewardModels) {
  synpref::testing::TempDir tmp;
  const std::string dir = tmp.file("project");
  Pool pool = make_pool(tmp.file("pool.jsonl"));
  FakeJudges judges(pool);
  const std::string config = tmp.file("judges.json");
  json judge_config = {{"endpoints",
                        {{{"name", "judge-a"}, {"base_url", judges.base_url()}, {"model", "model-a"}},
                         {{"name", "judge-b"}, {"base_url", judges.base_url()}, {"model", "model-b"}}}}};
  synpref::testing::spit(config, judge_config.dump());

  ASSERT_EQ(run_synpref("-q curate init " + dir + " --pool " + tmp.file("pool.jsonl")).exit_code, 0);

  // Attributes: a partial run, then the rest; no pair is asked twice.
  json first = run_json("curate attributes " + dir + " --judges " + config + " --limit 20 --batch 8");
  EXPECT_EQ(first["valid"], 20);
  json rest = run_json("curate attributes " + dir + " --judges " + config + " --batch 8");
  EXPECT_EQ(rest["already_done"], 20);
  EXPECT_EQ(rest["valid"], kPairs - 20);
  EXPECT_EQ(rest["invalid"], 0);
  EXPECT_EQ(judges.attribute_requests(), kPairs);

  // Gold: the first pairs, verified by a "human" (flipped ones carry verdict -1).
  {
    auto project = Project::open(dir).value();
    std::vector<std::string> gold_ids;
    std::vector<Label> gold_labels;
    for (int i = 0; i < kGold; ++i) {
      gold_ids.push_back(pool.records[i].id);
      Label label;
      label.pair_id = pool.records[i].id;
      label.source = "human";
      label.annotator = "annotator-1";
      label.verdict = flipped(i) ? -1 : +1;
      label.kind = "gold";
      gold_labels.push_back(label);
    }
    ASSERT_TRUE(project->set_membership(gold_ids, "gold", true).is_ok());
    ASSERT_TRUE(project->add_labels(gold_labels).is_ok());
    auto attributes = project->attributes_of(pool.records[0].id).value();
    ASSERT_TRUE(attributes.has_value());
    EXPECT_EQ(attributes->task_category,
              pool.category_of_question.at(pool.records[0].context.back().content));
  }

  // Silver labels from both judges, 3 samples each.
  json labeled = run_json("curate label " + dir + " --judges " + config + " --n 3 --batch 10");
  EXPECT_EQ(labeled["targets"], kPairs - kGold);
  EXPECT_EQ(labeled["labeled"], kPairs - kGold);
  EXPECT_EQ(labeled["gold_examples"], kGold);
  EXPECT_EQ(labeled["judges"]["judge-a"]["unparseable"], kPairs - kGold);  // the garbage third sample
  const int silver_requests = judges.silver_requests();
  EXPECT_EQ(silver_requests, 2 * (kPairs - kGold));
  json again = run_json("curate label " + dir + " --judges " + config + " --n 3");
  EXPECT_EQ(again["labeled"], 0);
  EXPECT_EQ(again["already_labeled"], kPairs - kGold);
  EXPECT_EQ(judges.silver_requests(), silver_requests);  // nothing asked again

  // The truthful judge outvotes nobody alone: with two judges a disagreement is a tie (abstain).
  {
    auto project = Project::open(dir).value();
    auto verdicts = expected_llm_verdicts(*project);
    for (int i = kGold; i < kPairs; ++i) {
      int verdict = verdicts.at(pool.records[i].id);
      if (verdict != 0) {
        EXPECT_EQ(verdict, flipped(i) ? -1 : +1) << i;
      }
    }
  }

  // Stage 2 with two tiny random RMs.
  const std::string best = make_model(tmp.file("best-rm"), 9);
  const std::string gold = make_model(tmp.file("gold-rm"), 10);
  const double margin = 0.05;
  json stage2 = run_json("curate stage2 " + dir + " --best-model " + best + " --gold-model " + gold +
                         " --margin 0.05 --threads 2");
  ASSERT_TRUE(stage2.contains("best"));
  EXPECT_EQ(stage2["scored_best"], kPairs);

  auto project = Project::open(dir).value();
  std::map<std::string, std::array<double, 2>> best_scores, gold_scores;
  const std::vector<Score> best_rows = project->scores(stage2["best"].get<std::string>()).value();
  for (const Score& s : best_rows) best_scores[s.pair_id] = {s.chosen, s.rejected};
  const std::vector<Score> gold_rows = project->scores(stage2["gold"].get<std::string>()).value();
  for (const Score& s : gold_rows) gold_scores[s.pair_id] = {s.chosen, s.rejected};
  ASSERT_EQ(best_scores.size(), static_cast<size_t>(kPairs));
  ASSERT_EQ(gold_scores.size(), static_cast<size_t>(kPairs));
  auto llm = expected_llm_verdicts(*project);
  std::map<std::string, std::string> expected;
  int64_t expected_kept = 0;
  for (const data::Record& record : pool.records) {
    auto it = llm.find(record.id);
    std::optional<int> verdict;
    if (it != llm.end()) verdict = it->second;
    expected[record.id] = expected_reason(best_scores[record.id], gold_scores[record.id], verdict, margin);
    expected_kept += expected[record.id].starts_with("kept");
  }
  std::map<std::string, std::string> recorded;
  const std::vector<Decision> decisions = project->decisions("stage2").value();
  for (const Decision& d : decisions) {
    recorded[d.pair_id] = d.reason;
    EXPECT_EQ(d.keep, d.reason.starts_with("kept")) << d.pair_id << " " << d.reason;
  }
  for (const auto& [id, reason] : expected) {
    if (reason == "pending_llm_label") {
      EXPECT_FALSE(recorded.count(id)) << id;
    } else {
      EXPECT_EQ(recorded[id], reason) << id;
    }
  }
  EXPECT_EQ(stage2["counts"]["kept"], expected_kept);
  std::set<std::string> distinct;
  for (const auto& [id, reason] : expected) distinct.insert(reason);
  EXPECT_GE(distinct.size(), 3u) << stage2["counts"].dump();  // the fixture exercises several branches

  // The same decisions from two shard jobs and a merge, under another stage name.
  for (const char* shard : {"1/2", "0/2"}) {
    run_json("curate stage2 " + dir + " --best-model " + best + " --gold-model " + gold +
             " --margin 0.05 --threads 2 --stage sharded --shard " + shard);
  }
  run_json("curate stage2 " + dir + " --stage sharded --merge 2");
  project = Project::open(dir).value();
  std::map<std::string, std::string> merged;
  const std::vector<Decision> sharded = project->decisions("sharded").value();
  for (const Decision& d : sharded) merged[d.pair_id] = d.reason;
  EXPECT_EQ(merged, recorded);

  json exported =
      run_json("curate export " + dir + " --set kept --stage stage2 -o " + tmp.file("kept.jsonl"));
  EXPECT_EQ(exported["written"], expected_kept);
}

// Starts `synpref <args>` (split on spaces) without a shell, so SIGKILL hits synpref itself.
pid_t spawn_synpref(const std::string& args) {
  std::vector<std::string> words = {SYNPREF_BINARY, "-q"};
  std::istringstream in(args);
  for (std::string word; in >> word;) words.push_back(word);
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// A project with attributes for every pair and gold labels on the first `n_gold` pairs.
void prepare_project(const std::string& dir, const std::string& pool_path, const std::string& config,
                     const Pool& pool, int n_gold) {
  ASSERT_EQ(run_synpref("-q curate init " + dir + " --pool " + pool_path).exit_code, 0);
  json attributes = run_json("curate attributes " + dir + " --judges " + config);
  ASSERT_EQ(attributes["valid"], static_cast<int64_t>(pool.records.size()));
  auto project = Project::open(dir).value();
  std::vector<std::string> ids;
  std::vector<Label> labels;
  for (int i = 0; i < n_gold; ++i) {
    ids.push_back(pool.records[i].id);
    labels.push_back(
        {pool.records[i].id, "human", "annotator-1", 0, "", flipped(i) ? -1 : +1, NAN, "gold", ""});
  }
  ASSERT_TRUE(project->set_membership(ids, "gold", true).is_ok());
  ASSERT_TRUE(project->add_labels(labels).is_ok());
}

// Silver state of a project, comparable across projects: every sample and aggregate (without
// times), and the silver set.
std::vector<std::string> silver_state(const std::string& dir) {
  auto project = Project::open(dir).value();
  std::vector<std::string> state;
  for (const char* kind : {"silver", "silver_aggregate"}) {
    const std::vector<Label> labels = project->labels_for(kind).value();
    for (const Label& l : labels) {
      state.push_back(std::string(kind) + " " + l.pair_id + " " + l.annotator + " " +
                      std::to_string(l.sample_index) + " " + l.prompt_hash + " " + std::to_string(l.verdict) +
                      " " + (std::isnan(l.confidence) ? "nan" : std::to_string(l.confidence)));
    }
  }
  const std::vector<std::string> members = project->members("silver").value();
  for (const std::string& id : members) state.push_back("member " + id);
  return state;
}

// kill -9 at random points of `curate label`, rerun until done: the same labels as an
// uninterrupted run, none duplicated or lost, and no judge call repeated except those in flight
// at a kill.
TEST(CurateE2E, LabelSurvivesKillNineAndRerunsFromTheCache) {
  synpref::testing::TempDir tmp;
  const int n_pairs = 40, n_gold = 5;
  Pool pool = make_pool(tmp.file("pool.jsonl"), n_pairs);
  FakeJudges judges(pool, /*latency_ms=*/20);
  const std::string config = tmp.file("judges.json");
  json judge_config = {
      {"endpoints",
       {{{"name", "judge-a"}, {"base_url", judges.base_url()}, {"model", "model-a"}, {"max_concurrency", 2}},
        {{"name", "judge-b"},
         {"base_url", judges.base_url()},
         {"model", "model-b"},
         {"max_concurrency", 2}}}}};
  synpref::testing::spit(config, judge_config.dump());
  const std::string label_args = " --judges " + config + " --n 3 --batch 4";

  const std::string reference = tmp.file("reference");
  prepare_project(reference, tmp.file("pool.jsonl"), config, pool, n_gold);
  int before = judges.silver_requests();
  run_json("curate label " + reference + label_args);
  const int uninterrupted_calls = judges.silver_requests() - before;
  EXPECT_EQ(uninterrupted_calls, 2 * (n_pairs - n_gold));

  const std::string killed = tmp.file("killed");
  prepare_project(killed, tmp.file("pool.jsonl"), config, pool, n_gold);
  before = judges.silver_requests();
  std::mt19937 rng(11);
  int kills = 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    pid_t pid = spawn_synpref("curate label " + killed + label_args);
    std::this_thread::sleep_for(std::chrono::milliseconds(60 + rng() % 250));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      ++kills;
      waitpid(pid, &status, 0);
    }
  }
  EXPECT_GT(kills, 0) << "no run was interrupted; the test proves nothing";
  json last = run_json("curate label " + killed + label_args);
  EXPECT_EQ(last["already_labeled"].get<int64_t>() + last["labeled"].get<int64_t>(), n_pairs - n_gold);
  const int interrupted_calls = judges.silver_requests() - before;
  // Each kill can lose at most the requests in flight (2 judges x max_concurrency 2).
  EXPECT_GE(interrupted_calls, uninterrupted_calls);
  EXPECT_LE(interrupted_calls, uninterrupted_calls + kills * 4);
  EXPECT_EQ(silver_state(killed), silver_state(reference));

  before = judges.silver_requests();
  json again = run_json("curate label " + killed + label_args);
  EXPECT_EQ(again["labeled"], 0);
  EXPECT_EQ(judges.silver_requests(), before);
}

double served_reward(const std::string& model, const std::string& text) {
  return static_cast<double>(hash64(model + "\n" + text) % 1000) / 250.0 - 2.0;
}

// sglang's native reward API: POST /classify {"model", "text": [...]} -> [{"embedding": [r]}, ...].
class FakeRewardServer {
 public:
  FakeRewardServer() {
    server_ = std::move(http::Server::create({}).value());
    server_->route("POST", "/classify", [this](const http::Request& request) {
      json body = json::parse(request.body);
      if (++requests_ % 4 == 0) return http::error_response(503, "busy", "try another server");
      json out = json::array();
      for (const auto& text : body["text"]) {
        out.push_back({{"embedding", {served_reward(body["model"], text.get<std::string>())}}});
      }
      return http::json_response(out.dump());
    });
    thread_ = std::thread([this] { (void)server_->run(); });
  }
  ~FakeRewardServer() {
    server_->stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

 private:
  std::atomic<int> requests_{0};
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

// Stage 2 scored by a fleet of reward servers: the recorded scores are the servers' rewards for the
// conversations rendered with the tokenizer's chat template, and the decisions follow the rule.
TEST(CurateE2E, Stage2ScoresOnRewardServers) {
  synpref::testing::TempDir tmp;
  const int n_pairs = 30;
  Pool pool = make_pool(tmp.file("pool.jsonl"), n_pairs);
  const std::string dir = tmp.file("project");
  ASSERT_EQ(run_synpref("-q curate init " + dir + " --pool " + tmp.file("pool.jsonl")).exit_code, 0);
  FakeRewardServer a, b;
  const std::string tokenizer = kShared + "/tokenizers/qwen3";
  json stage2 =
      run_json("curate stage2 " + dir + " --best-model best --gold-model gold --rm-endpoint " + a.url() +
               " " + b.url() + " --tokenizer " + tokenizer + " --rm-version v1 --pairs-per-request 4");
  ASSERT_EQ(stage2.value("best", ""), "best@v1");
  EXPECT_EQ(stage2["scored_best"], n_pairs);
  EXPECT_EQ(stage2["scored_gold"], n_pairs);

  encode::RmInputSettings settings;
  settings.tokenizer_dir = tokenizer;
  auto builder = encode::open_builder(settings);
  ASSERT_TRUE(builder.is_ok()) << builder.status().message();
  auto project = Project::open(dir).value();
  const std::vector<Score> best_rows = project->scores("best@v1").value();
  const std::vector<Score> gold_rows = project->scores("gold@v1").value();
  ASSERT_EQ(best_rows.size(), static_cast<size_t>(n_pairs));
  ASSERT_EQ(gold_rows.size(), static_cast<size_t>(n_pairs));
  const std::vector<Decision> decisions = project->decisions("stage2").value();
  std::map<std::string, std::string> recorded;
  for (const Decision& d : decisions) recorded[d.pair_id] = d.reason;
  for (int i = 0; i < n_pairs; ++i) {
    const data::Record& record = pool.records[i];
    std::array<double, 2> expected_best, expected_gold;
    for (int r = 0; r < 2; ++r) {
      std::vector<data::Turn> conversation = record.context;
      conversation.push_back({data::Role::assistant, record.responses[r].content});
      std::string text = builder->render(conversation).value();
      expected_best[r] = served_reward("best", text);
      expected_gold[r] = served_reward("gold", text);
    }
    EXPECT_EQ(best_rows[i].pair_id, record.id);
    EXPECT_DOUBLE_EQ(best_rows[i].chosen, expected_best[0]) << record.id;
    EXPECT_DOUBLE_EQ(best_rows[i].rejected, expected_best[1]) << record.id;
    EXPECT_DOUBLE_EQ(gold_rows[i].chosen, expected_gold[0]) << record.id;
    EXPECT_DOUBLE_EQ(gold_rows[i].rejected, expected_gold[1]) << record.id;
    std::string reason = expected_reason(expected_best, expected_gold, std::nullopt, 0.1);
    if (reason == "pending_llm_label") {
      EXPECT_FALSE(recorded.count(record.id)) << record.id;
    } else {
      EXPECT_EQ(recorded[record.id], reason) << record.id;
    }
  }
  // A rerun scores nothing again.
  json again = run_json("curate stage2 " + dir + " --best-model best --gold-model gold --rm-endpoint " +
                        a.url() + " --tokenizer " + tokenizer + " --rm-version v1");
  EXPECT_EQ(again["scored_best"], 0);
  EXPECT_EQ(again["scored_gold"], 0);
}

// `synpref judge-sim` as a child process: its address is the first stdout line.
class JudgeSimProcess {
 public:
  explicit JudgeSimProcess(const std::string& args) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    std::vector<std::string> words = {SYNPREF_BINARY, "-q", "judge-sim"};
    std::istringstream in(args);
    for (std::string word; in >> word;) words.push_back(word);
    std::vector<char*> argv;
    for (std::string& word : words) argv.push_back(word.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    std::string line;
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    close(fds[0]);
    size_t at = line.find("http://");
    EXPECT_NE(at, std::string::npos) << "judge-sim said: " << line;
    if (at != std::string::npos) url_ = line.substr(at);
  }
  ~JudgeSimProcess() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = -1;
  std::string url_;
};

// The pipeline against synpref judge-sim with transport faults: perfect judges recover the truth
// of a noisy `data synth` pool exactly (flipped pairs are labeled -1), attributes name the true
// categories, and a position-biased judge shows up in the position-bias report.
TEST(CurateE2E, JudgeSimRecoversTheTruthOfANoisyPool) {
  synpref::testing::TempDir tmp;
  const std::string synth = tmp.file("synth");
  ASSERT_EQ(
      run_synpref("-q data synth -o " + synth + " --train 60 --test 10 --seed 4 --noise 0.25").exit_code, 0);
  JudgeSimProcess sim(
      "--train 60 --test 10 --seed 4 --judge perfect-a:accuracy=1,attribute_accuracy=1 "
      "--judge perfect-b:accuracy=1,attribute_accuracy=1 --judge biased:accuracy=0.5,position_bias=0.95 "
      "--rate-429 0.05 --retry-after 0 --rate-500 0.05 --rate-disconnect 0.03");
  ASSERT_FALSE(sim.url().empty());
  json endpoints = json::array();
  for (const char* name : {"perfect-a", "perfect-b", "biased"}) {
    endpoints.push_back(
        {{"name", name}, {"base_url", sim.url() + "/v1"}, {"model", name}, {"max_retries", 20}});
  }
  const std::string config = tmp.file("judges.json");
  synpref::testing::spit(
      config,
      json({{"endpoints", endpoints}, {"backoff_initial_seconds", 0.01}, {"backoff_max_seconds", 0.05}})
          .dump());
  std::set<std::string> flipped_ids;
  {
    std::istringstream in(synpref::testing::slurp(synth + "/flipped_ids.txt"));
    for (std::string id; std::getline(in, id);)
      if (!id.empty()) flipped_ids.insert(id);
  }
  ASSERT_FALSE(flipped_ids.empty());

  const std::string dir = tmp.file("project");
  ASSERT_EQ(run_synpref("-q curate init " + dir + " --pool " + synth + "/train.jsonl").exit_code, 0);
  json attributes = run_json("curate attributes " + dir + " --judges " + config + " --judge perfect-a");
  EXPECT_EQ(attributes["valid"], 60);
  auto project = Project::open(dir).value();
  const auto all_attributes = project->attributes().value();
  std::vector<std::string> gold_ids;
  std::vector<Label> gold_labels;
  for (const auto& [id, attrs] : all_attributes) {
    EXPECT_FALSE(attrs.annotation_guideline.empty());
    if (gold_ids.size() < 6) {
      gold_ids.push_back(id);
      gold_labels.push_back(
          {id, "human", "annotator-1", 0, "", flipped_ids.count(id) ? -1 : +1, NAN, "gold", ""});
    }
  }
  ASSERT_TRUE(project->set_membership(gold_ids, "gold", true).is_ok());
  ASSERT_TRUE(project->add_labels(gold_labels).is_ok());
  project.reset();

  json labeled = run_json("curate label " + dir + " --judges " + config +
                          " --judge perfect-a --judge perfect-b --n 3 --aggregate unanimity");
  EXPECT_EQ(labeled["labeled"], 54);
  EXPECT_EQ(labeled["abstain"], 0);
  EXPECT_EQ(labeled["disagree"].get<int64_t>(),
            static_cast<int64_t>(flipped_ids.size()) -
                std::count_if(gold_ids.begin(), gold_ids.end(),
                              [&](auto& id) { return flipped_ids.count(id) > 0; }));
  project = Project::open(dir).value();
  const std::vector<Label> aggregates = project->labels_for("silver_aggregate").value();
  ASSERT_EQ(aggregates.size(), 54u);
  for (const Label& label : aggregates)
    EXPECT_EQ(label.verdict, flipped_ids.count(label.pair_id) ? -1 : +1) << label.pair_id;

  // The biased judge on a second project: it prefers Candidate 1 far more often than expected.
  const std::string biased_dir = tmp.file("biased");
  ASSERT_EQ(run_synpref("-q curate init " + biased_dir + " --pool " + synth + "/train.jsonl").exit_code, 0);
  run_json("curate attributes " + biased_dir + " --judges " + config + " --judge perfect-a");
  json biased = run_json("curate label " + biased_dir + " --judges " + config + " --judge biased --n 3");
  const json& stats = biased["judges"]["biased"];
  EXPECT_EQ(stats["samples"], 180);
  EXPECT_GT(stats["share_candidate_1"].get<double>(),
            stats["expected_share_candidate_1"].get<double>() + 0.15)
      << stats.dump();
}

// kill -9 at random points of `curate attributes`, rerun: every pair described once, the same
// attributes as an uninterrupted run, judge calls repeated only for requests in flight at a kill.
TEST(CurateE2E, AttributesSurviveKillNine) {
  synpref::testing::TempDir tmp;
  const int n_pairs = 60;
  Pool pool = make_pool(tmp.file("pool.jsonl"), n_pairs);
  FakeJudges judges(pool, /*latency_ms=*/15);
  const std::string config = tmp.file("judges.json");
  synpref::testing::spit(config, json({{"endpoints",
                                        {{{"name", "judge-a"},
                                          {"base_url", judges.base_url()},
                                          {"model", "model-a"},
                                          {"max_concurrency", 2}}}}})
                                     .dump());
  const std::string dir = tmp.file("project");
  ASSERT_EQ(run_synpref("-q curate init " + dir + " --pool " + tmp.file("pool.jsonl")).exit_code, 0);
  std::mt19937 rng(5);
  int kills = 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    pid_t pid = spawn_synpref("curate attributes " + dir + " --judges " + config + " --batch 4");
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 200));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      ++kills;
      waitpid(pid, &status, 0);
    }
  }
  EXPECT_GT(kills, 0) << "no run was interrupted; the test proves nothing";
  json last = run_json("curate attributes " + dir + " --judges " + config + " --batch 4");
  EXPECT_EQ(last["already_done"].get<int64_t>() + last["valid"].get<int64_t>(), n_pairs);
  EXPECT_LE(judges.attribute_requests(), n_pairs + kills * 2);
  auto project = Project::open(dir).value();
  const auto attributes = project->attributes().value();
  ASSERT_EQ(attributes.size(), static_cast<size_t>(n_pairs));
  for (const auto& [id, attrs] : attributes) {
    const data::Record record = project->pair(id).value();
    EXPECT_EQ(attrs.task_category, pool.category_of_question.at(record.context.back().content)) << id;
  }
  const std::vector<Label> provenance = project->labels_for("attribute").value();
  EXPECT_EQ(provenance.size(), static_cast<size_t>(n_pairs));  // one per pair, none duplicated
  const int calls = judges.attribute_requests();
  json again = run_json("curate attributes " + dir + " --judges " + config);
  EXPECT_EQ(again["requested"], 0);
  EXPECT_EQ(judges.attribute_requests(), calls);
}

}  // namespace
}  // namespace synpref::curate
