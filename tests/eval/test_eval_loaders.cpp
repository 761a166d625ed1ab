// Loaders on the real released files in ../shared/data (JudgeBench, RM-Bench, RMB, LLMBar as
// RewardBench's llmbar subsets) and on small crafted files in the released formats of the
// benchmarks we cannot ship (RewardBench v1/v2, PPE), plus hostile inputs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "synpref/eval/benchmark.h"

namespace synpref::eval {
namespace {

namespace fs = std::filesystem;

const std::string kShared = "../shared/data";
const std::string kCrafted = "tests/fixtures/eval";

Dataset load_ok(const std::string& b, const std::string& path, LoadOptions options = {}) {
  auto result = load_benchmark(b, path, options);
  EXPECT_TRUE(result.is_ok()) << result.status().message();
  return result.is_ok() ? std::move(result).value() : Dataset{};
}

std::map<std::string, size_t> count_subsets(const Dataset& d) {
  std::map<std::string, size_t> out;
  for (const auto& item : d.items) out[item.subset]++;
  return out;
}

const Item* find_item(const Dataset& d, const std::string& id) {
  for (const auto& item : d.items) {
    if (item.id == id) return &item;
  }
  return nullptr;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

TEST(RealData, JudgeBench) {
  Dataset d = load_ok("judgebench", kShared + "/judgebench");
  ASSERT_EQ(d.items.size(), 620u);
  ASSERT_EQ(d.files.size(), 2u);
  EXPECT_EQ(d.files[0].n_items, 270u);  // claude-3-5-sonnet sorts before gpt-4o
  EXPECT_EQ(d.files[1].n_items, 350u);
  EXPECT_EQ(d.files[0].sha256.substr(0, 16), "3b70504588e40061");  // shared/data/SOURCES.md
  size_t a_better = 0;
  std::set<std::string> ids;
  for (const auto& item : d.items) {
    a_better += item.label == 0;
    ids.insert(item.id);
    ASSERT_EQ(item.responses.size(), 2u);
    ASSERT_EQ(item.context.size(), 1u);
  }
  EXPECT_EQ(a_better, 143u + 193u);
  EXPECT_EQ(ids.size(), 620u);
  const Item& first = d.items[0];
  EXPECT_EQ(first.id, "b5ce1305-50fe-5a5e-b785-325ab15c6d2b");
  EXPECT_EQ(first.subset, "mmlu-pro-health");
  EXPECT_EQ(first.label, 0);
  EXPECT_TRUE(starts_with(first.context[0].content, "In the brain stem, pathways fo"));
  EXPECT_TRUE(starts_with(first.responses[1], "Let's think through this step-"));  // response_B second
  auto subsets = count_subsets(d);
  EXPECT_EQ(subsets["livebench-reasoning"], 149u);
  EXPECT_EQ(subsets["livecodebench"], 73u);
}

TEST(RealData, RmBenchFourFiles) {
  Dataset d = load_ok("rm-bench", kShared + "/rm-bench/data");
  ASSERT_EQ(d.files.size(), 4u);
  ASSERT_EQ(d.items.size(), 798u);
  auto subsets = count_subsets(d);
  EXPECT_EQ(subsets["chat"], 129u);
  EXPECT_EQ(subsets["code"], 228u);
  EXPECT_EQ(subsets["safety-refuse"], 284u);
  EXPECT_EQ(subsets["safety-response"], 157u);
  // The released ids repeat across chat and code (23 of them): the key carries the domain.
  const Item* chat = find_item(d, "chat:8");
  ASSERT_NE(chat, nullptr);
  ASSERT_NE(find_item(d, "code:8"), nullptr);
  ASSERT_EQ(chat->responses.size(), 6u);
  EXPECT_EQ(chat->n_chosen, 3);
  EXPECT_TRUE(starts_with(chat->responses[0], "Organize your wardrobe with dr"));  // chosen[0]
  EXPECT_TRUE(starts_with(chat->responses[5], "Organizing your wardrobe with "));  // rejected[2]
  EXPECT_EQ(chat->tag("source"), "alpacaeval");
  for (const auto& f : d.files) {
    if (f.path.find("chat_filtered") != std::string::npos) {
      EXPECT_EQ(f.sha256.substr(0, 16), "1df6053a68119c17");
    }
  }
}

TEST(RealData, RmbWalkedRecursively) {
  Dataset d = load_ok("rmb", kShared + "/rmb");
  ASSERT_EQ(d.items.size(), 4412u);
  ASSERT_EQ(d.files.size(), 21u);
  auto subsets = count_subsets(d);
  EXPECT_EQ(subsets["Harmlessness/BoN"], 111u);
  EXPECT_EQ(subsets["Helpfulness/BoN"], 59u);
  EXPECT_EQ(subsets["Harmlessness/Pairwise"], 459u + 502u + 360u + 317u);
  EXPECT_EQ(subsets["Helpfulness/Pairwise"], 4412u - 170u - 1638u);
  const Item* bon = find_item(d, "1679");
  ASSERT_NE(bon, nullptr);
  EXPECT_EQ(bon->subset, "Helpfulness/BoN");
  EXPECT_EQ(bon->responses.size(), 4u);  // bon_best then the three losers
  EXPECT_TRUE(starts_with(bon->responses[3], "GPT-3.5 is a highly advanced n"));
  EXPECT_EQ(bon->tag("scenario"), "Chat/Discussion");
  const Item* multi = find_item(d, "15035");
  ASSERT_NE(multi, nullptr);
  ASSERT_EQ(multi->context.size(), 3u);
  EXPECT_EQ(multi->context[1].role, data::Role::assistant);
  EXPECT_EQ(multi->subset, "Harmlessness/Pairwise");
  EXPECT_EQ(multi->tag("scenario"), "multi");
}

TEST(RealData, LlmbarAsRewardBenchSubsets) {
  LoadOptions options;
  options.llmbar = true;
  Dataset d = load_ok("rewardbench", kShared + "/llmbar", options);
  ASSERT_EQ(d.items.size(), 419u);
  ASSERT_EQ(d.files.size(), 5u);  // Processed/ is skipped
  auto subsets = count_subsets(d);
  EXPECT_EQ(subsets["llmbar-natural"], 100u);
  EXPECT_EQ(subsets["llmbar-adver-neighbor"], 134u);
  EXPECT_EQ(subsets["llmbar-adver-GPTInst"], 92u);
  EXPECT_EQ(subsets["llmbar-adver-GPTOut"], 47u);
  EXPECT_EQ(subsets["llmbar-adver-manual"], 46u);
  const Item* first = find_item(d, "llmbar-natural:0");
  ASSERT_NE(first, nullptr);
  // label 1: output_1 is the chosen response.
  EXPECT_TRUE(starts_with(first->responses[0], "My girlfriend's visa to stay in the UK e"));
  EXPECT_TRUE(starts_with(first->responses[1], "My girlfriend is Malaysian and has been "));
  EXPECT_TRUE(starts_with(first->context[0].content, "Summarize the following content."));
}

TEST(RealData, LlmbarNeedsTheFlag) {
  auto result = load_benchmark("rewardbench", kShared + "/llmbar/Dataset/LLMBar/Natural/dataset.json");
  ASSERT_FALSE(result.is_ok());
  EXPECT_NE(result.status().message().find("--llmbar"), std::string::npos);
  EXPECT_NE(result.status().message().find("dataset.json: record 1"), std::string::npos);
}

TEST(CraftedData, RewardBenchV1AndPrefSets) {
  Dataset d = load_ok("rewardbench", kCrafted + "/rewardbench");
  ASSERT_EQ(d.items.size(), 26u);
  const Item* item = find_item(d, "1000");  // integer id in the file
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(item->subset, "alpacaeval-easy");
  EXPECT_TRUE(starts_with(item->responses[0], "Answer 0"));  // chosen first
  EXPECT_TRUE(starts_with(item->responses[1], "Reply 0"));
  const Item* pref = find_item(d, "pref-0");
  ASSERT_NE(pref, nullptr);
  ASSERT_EQ(pref->context.size(), 3u);  // prompt given as a message list
  EXPECT_EQ(pref->context[1].role, data::Role::assistant);
  EXPECT_EQ(pref->subset, "anthropic_helpful");
}

TEST(CraftedData, RewardBench2) {
  Dataset d = load_ok("rewardbench2", kCrafted + "/rewardbench2");
  ASSERT_EQ(d.items.size(), 15u);
  const Item* tied = find_item(d, "tied:0");
  ASSERT_NE(tied, nullptr);
  EXPECT_EQ(tied->n_chosen, 3);
  ASSERT_EQ(tied->responses.size(), 6u);
  EXPECT_EQ(tied->responses[0], "Two.");
  EXPECT_EQ(tied->responses[3], "Four is prime.");  // rejected follow the chosen
  EXPECT_EQ(count_subsets(d)["Ties"], 5u);
}

TEST(CraftedData, PpePreferenceExcludesTies) {
  Dataset d = load_ok("ppe-preference", kCrafted + "/ppe_preference");
  EXPECT_EQ(d.items.size(), 10u);
  EXPECT_EQ(d.n_excluded, 2u);
  EXPECT_NE(d.excluded_reason.find("tie"), std::string::npos);
  EXPECT_EQ(d.items[0].label, 0);  // winner model_a
  EXPECT_EQ(d.items[1].label, 1);
  EXPECT_EQ(d.items[0].tag("language"), "English");
  EXPECT_EQ(d.items[0].tag("hard_prompt"), "true");
  EXPECT_TRUE(starts_with(d.items[0].responses[0], "Response A 0"));
}

TEST(CraftedData, PpeCorrectnessThirtyTwoResponses) {
  Dataset d = load_ok("ppe-correctness", kCrafted + "/ppe_correctness");
  ASSERT_EQ(d.items.size(), 9u);
  auto subsets = count_subsets(d);
  EXPECT_EQ(subsets["mmlu_pro"], 6u);
  EXPECT_EQ(subsets["math"], 3u);
  // One record per (question, model): the key joins question_id and model_name.
  const Item* item = find_item(d, "mmlu-000|gpt-4o-mini-2024-07-18");
  ASSERT_NE(item, nullptr);
  ASSERT_NE(find_item(d, "mmlu-000|claude-3-haiku-20240307"), nullptr);
  EXPECT_EQ(item->responses.size(), 32u);
  EXPECT_EQ(item->correct.size(), 32u);
  EXPECT_TRUE(starts_with(item->responses[31], "The answer is 31."));
}

class HostileInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("synpref_eval_loaders_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::string error(const std::string& b, const std::string& path) {
    auto result = load_benchmark(b, path);
    EXPECT_FALSE(result.is_ok());
    return result.is_ok() ? "" : result.status().message();
  }
  fs::path dir_;
};

TEST_F(HostileInput, MissingFieldNamesFileLineAndField) {
  std::string path =
      write("jb.jsonl",
            "{\"pair_id\": \"a\", \"source\": \"livecodebench\", \"question\": \"q\", \"response_A\": \"x\", "
            "\"response_B\": \"y\", \"label\": \"A>B\"}\n"
            "{\"pair_id\": \"b\", \"source\": \"livecodebench\", \"question\": \"q\", \"response_A\": \"x\", "
            "\"label\": \"A>B\"}\n");
  std::string message = error("judgebench", path);
  EXPECT_NE(message.find("jb.jsonl:2"), std::string::npos) << message;
  EXPECT_NE(message.find("'response_B'"), std::string::npos) << message;
}

TEST_F(HostileInput, DuplicateIdsAreRefused) {
  std::string record =
      "{\"pair_id\": \"same\", \"source\": \"livecodebench\", \"question\": \"q\", \"response_A\": \"x\", "
      "\"response_B\": \"y\", \"label\": \"B>A\"}\n";
  std::string message = error("judgebench", write("dup.jsonl", record + "\n" + record));
  EXPECT_NE(message.find("duplicate item id 'same'"), std::string::npos) << message;
  EXPECT_NE(message.find("dup.jsonl:3"), std::string::npos) << message;  // blank line 2 skipped
  EXPECT_NE(message.find("first at"), std::string::npos) << message;
}

TEST_F(HostileInput, BadLabelsAndShapes) {
  std::string jb =
      "{\"pair_id\": \"a\", \"source\": \"s\", \"question\": \"q\", \"response_A\": \"x\", \"response_B\": "
      "\"y\", \"label\": \"A=B\"}\n";
  EXPECT_NE(error("judgebench", write("l.jsonl", jb)).find("\"A>B\" or \"B>A\""), std::string::npos);
  std::string rb2 =
      "{\"id\": \"1\", \"prompt\": \"p\", \"chosen\": [\"a\"], \"rejected\": [\"b\", \"c\"], "
      "\"num_correct\": 2, \"subset\": \"Math\"}\n";
  EXPECT_NE(error("rewardbench2", write("r.jsonl", rb2)).find("num_correct is 2"), std::string::npos);
  std::string ties =
      "{\"id\": \"5\", \"prompt\": \"p\", \"chosen\": [\"a\", \"b\"], \"rejected\": [\"c\"], "
      "\"num_correct\": 2, \"subset\": \"Ties\"}\n";
  EXPECT_NE(error("rewardbench2", write("t.jsonl", ties)).find("'ref:<n>' or 'tied:<n>'"), std::string::npos);
  std::string rmbench =
      "[{\"id\": 1, \"prompt\": \"p\", \"chosen\": [\"a\", \"b\"], \"rejected\": [\"c\", \"d\", \"e\"]}]";
  std::string m = error("rm-bench", write("chat_filtered.json", rmbench));
  EXPECT_NE(m.find("chat_filtered.json: record 1"), std::string::npos) << m;
  EXPECT_NE(m.find("3 responses"), std::string::npos) << m;
  std::string ppe =
      "{\"question_id\": \"q\", \"prompt\": \"p\", \"response_1\": \"a\", \"response_2\": \"b\", "
      "\"winner\": \"model_c\"}\n";
  EXPECT_NE(error("ppe-preference", write("p.jsonl", ppe)).find("model_c"), std::string::npos);
}

TEST_F(HostileInput, BrokenFiles) {
  EXPECT_NE(error("judgebench", write("empty.jsonl", "\n\n")).find("empty"), std::string::npos);
  EXPECT_NE(error("judgebench", write("trunc.jsonl", "{\"pair_id\": \"a\", \"sour")).find("trunc.jsonl:1"),
            std::string::npos);
  EXPECT_NE(error("rm-bench", write("arr.json", "[1, 2]")).find("expected a JSON object"), std::string::npos);
  std::string truncated =
      error("rmb", write("bad.json", "[{\"pair_uid\": \"1\", \"conversation_input\": \"x\"}"));
  EXPECT_NE(truncated.find("bad.json: not valid JSON"), std::string::npos) << truncated;
  fs::create_directories(dir_ / "nothing");
  EXPECT_NE(error("rmb", (dir_ / "nothing").string()).find("no .json or .jsonl"), std::string::npos);
  EXPECT_NE(error("rmb", (dir_ / "absent").string()).find("no such file"), std::string::npos);
  // Invalid UTF-8 inside a string is refused by the JSON parser.
  std::string bad_utf8 = "{\"pair_id\": \"a\xff\", \"source\": \"s\"}\n";
  EXPECT_NE(error("judgebench", write("u.jsonl", bad_utf8)).find("u.jsonl:1"), std::string::npos);
}

TEST_F(HostileInput, RmbWithoutGoalIsRefused) {
  std::string rec =
      "[{\"pair_uid\": \"1\", \"conversation_input\": [{\"role\": \"user\", \"content\": \"hi\"}], "
      "\"chosen\": {\"llm_name\": \"a\", \"answer\": \"x\"}, \"reject\": {\"llm_name\": \"b\", \"answer\": "
      "\"y\"}, \"category_path\": \"Pairwise_set/Other/S1\"}]";
  EXPECT_NE(error("rmb", write("S1.json", rec)).find("Helpfulness from Harmlessness"), std::string::npos);
}

}  // namespace
}  // namespace synpref::eval
