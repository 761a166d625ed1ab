// judge-sim over loopback HTTP: it recognizes synth pairs in prompts (gold examples before the
// target included), answers in the documented protocol, its judges are as accurate and as
// position-biased as configured, attributes come from the ground truth, answers are
// deterministic, and bad requests get the right HTTP errors.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "judge_test_util.h"
#include "synpref/http/client.h"

using namespace synpref;
using namespace synpref::judge;
using namespace synpref::judge::testing;
using nlohmann::json;

namespace {

Config sim_config(const Sim& sim) {
  Config config;
  for (const SimJudge& j : sim.judges()) config.endpoints.push_back(sim_endpoint(sim, j.model));
  config.backoff_initial_seconds = 0.001;
  config.backoff_max_seconds = 0.01;
  return config;
}

std::unique_ptr<Client> client_for(const Config& config) {
  auto client = Client::create(config);
  EXPECT_TRUE(client.is_ok()) << client.status().message();
  return std::move(client).value();
}

ChatRequest verdict_request(const std::string& model, const VerdictPrompt& prompt, double temperature = 0) {
  ChatRequest r;
  r.endpoint = model + "@sim";
  r.messages = prompt.messages;
  r.temperature = temperature;
  return r;
}

// Fraction of verdicts equal to the truth, and of verdicts naming Candidate 1, over `n_pairs` pairs
// shown in both orders.
struct Agreement {
  double correct = 0, first = 0;
  int unparsed = 0;
};
Agreement measure(Client& client, const data::SynthOptions& pool, const std::string& model, int n_pairs) {
  std::vector<ChatRequest> requests;
  std::vector<int> truth;
  for (int idx = 0; idx < n_pairs; ++idx) {
    data::Record record = data::synth_record(pool, "train", static_cast<uint64_t>(idx));
    for (bool swap : {false, true}) {
      VerdictPrompt prompt = verdict_prompt(record, swap);
      requests.push_back(verdict_request(model, prompt));
      truth.push_back(prompt.correct);
    }
  }
  auto results = client.run(requests);
  Agreement agreement;
  for (size_t idx = 0; idx < results.size(); ++idx) {
    EXPECT_TRUE(results[idx].status.is_ok()) << results[idx].status.message();
    if (!results[idx].status.is_ok()) continue;
    auto verdict = parse_verdict(results[idx].samples[0].content);
    if (!verdict) {
      ++agreement.unparsed;
      continue;
    }
    agreement.correct += *verdict == truth[idx];
    agreement.first += *verdict == 1;
  }
  agreement.correct /= static_cast<double>(results.size());
  agreement.first /= static_cast<double>(results.size());
  return agreement;
}

}  // namespace

TEST(JudgeSim, JudgesAreAsAccurateAndAsBiasedAsConfigured) {
  SimOptions options;
  options.synth = small_pool(200);
  options.judges = {{.model = "oracle", .accuracy = 1.0},
                    {.model = "coin-first", .accuracy = 0.0, .position_bias = 1.0},
                    {.model = "coin-second", .accuracy = 0.0, .position_bias = 0.0},
                    {.model = "noisy", .accuracy = 0.6, .position_bias = 0.5}};
  SimThread sim(options);
  auto client = client_for(sim_config(*sim));

  Agreement oracle = measure(*client, options.synth, "oracle", 100);
  EXPECT_EQ(oracle.correct, 1.0);
  EXPECT_EQ(oracle.unparsed, 0);
  EXPECT_DOUBLE_EQ(oracle.first, 0.5) << "each pair shown in both orders";
  EXPECT_EQ(measure(*client, options.synth, "coin-first", 50).first, 1.0);
  EXPECT_EQ(measure(*client, options.synth, "coin-second", 50).first, 0.0);
  // accuracy 0.6 + 0.4 * 0.5 = 0.8 expected agreement; 400 deterministic draws.
  Agreement noisy = measure(*client, options.synth, "noisy", 200);
  EXPECT_NEAR(noisy.correct, 0.8, 0.06);
}

TEST(JudgeSim, PerCategoryAccuracyOverridesTheJudgeDefault) {
  SimOptions options;
  options.synth = small_pool(200);
  options.judges = {
      {.model = "bad-at-math", .accuracy = 1.0, .category_accuracy = {{"math", 0.0}}, .position_bias = 1.0}};
  SimThread sim(options);
  auto client = client_for(sim_config(*sim));
  int n_math = 0;
  for (int idx = 0; idx < 200; ++idx) {
    data::Record record = data::synth_record(options.synth, "train", static_cast<uint64_t>(idx));
    VerdictPrompt prompt = verdict_prompt(record, /*swap=*/true);  // truth: Candidate 2
    auto result = client->run({verdict_request("bad-at-math", prompt)})[0];
    ASSERT_TRUE(result.status.is_ok());
    int verdict = parse_verdict(result.samples[0].content).value_or(0);
    if (record.attributes.task_category == "math") {
      ++n_math;
      EXPECT_EQ(verdict, 1) << "unsure on math: answers by position";
    } else {
      EXPECT_EQ(verdict, 2);
    }
  }
  EXPECT_GT(n_math, 0);
}

TEST(JudgeSim, FindsTheTargetAfterGoldExamplesAndAnswersJsonWhenAskedForASchema) {
  SimOptions options;
  options.synth = small_pool();
  options.judges = {{.model = "oracle", .accuracy = 1.0}};
  SimThread sim(options);
  Config config = sim_config(*sim);
  config.endpoints[0].json_schema = true;
  auto client = client_for(config);
  data::Record gold = data::synth_record(options.synth, "train", 3);
  data::Record target = data::synth_record(options.synth, "train", 4);
  VerdictPrompt gold_prompt = verdict_prompt(gold, false);
  VerdictPrompt target_prompt = verdict_prompt(target, true);
  ChatRequest request = verdict_request("oracle", target_prompt);
  request.messages[1].content = "Example (preferred: Candidate 1):\n" + gold_prompt.messages[1].content +
                                "\nNow the pair to judge:\n" + target_prompt.messages[1].content;
  request.json_schema = R"({"type":"object","properties":{"preferred":{"type":"integer","enum":[1,2]}}})";
  auto result = client->run({request})[0];
  ASSERT_TRUE(result.status.is_ok()) << result.status.message();
  EXPECT_EQ(result.samples[0].content, "{\"preferred\":2}");
}

TEST(JudgeSim, AttributesComeFromTheGroundTruth) {
  SimOptions options;
  options.synth = small_pool();
  options.judges = {{.model = "describer", .attribute_accuracy = 1.0}};
  SimThread sim(options);
  auto client = client_for(sim_config(*sim));
  std::set<std::string> categories;
  for (uint64_t idx = 0; idx < 30; ++idx) {
    data::Record record = data::synth_record(options.synth, "train", idx);
    VerdictPrompt prompt = verdict_prompt(record, idx % 2 == 1, /*attributes=*/true);
    auto result = client->run({verdict_request("describer", prompt)})[0];
    ASSERT_TRUE(result.status.is_ok()) << result.status.message();
    json attributes = json::parse(result.samples[0].content);
    EXPECT_EQ(attributes["task_category"], record.attributes.task_category);
    EXPECT_EQ(attributes["objectivity"], record.attributes.objectivity);
    EXPECT_EQ(attributes["controversiality"], record.attributes.controversiality);
    EXPECT_FALSE(attributes["desired_attributes"].get<std::string>().empty());
    EXPECT_FALSE(attributes["annotation_guideline"].get<std::string>().empty());
    categories.insert(record.attributes.task_category);
  }
  EXPECT_GE(categories.size(), 3u);
}

TEST(JudgeSim, DeterministicAnswersAndFreshSamplesAboveTemperatureZero) {
  SimOptions options;
  options.synth = small_pool();
  options.judges = {{.model = "noisy", .accuracy = 0.5}};
  std::vector<std::string> runs[2];
  for (auto& contents : runs) {
    SimThread sim(options);
    auto client = client_for(sim_config(*sim));
    for (uint64_t idx = 0; idx < 10; ++idx) {
      VerdictPrompt prompt = verdict_prompt(data::synth_record(options.synth, "train", idx), false);
      ChatRequest request = verdict_request("noisy", prompt, 0.9);
      request.n = 3;
      auto result = client->run({request})[0];
      ASSERT_TRUE(result.status.is_ok());
      std::set<long> numbers;
      for (const Sample& s : result.samples) {
        contents.push_back(s.content);
        numbers.insert(sample_number(s.content));
      }
      EXPECT_EQ(numbers, (std::set<long>{0, 1, 2}));
      // Asked again (no cache): the next samples, not the same ones.
      auto again = client->run({request})[0];
      EXPECT_EQ(sample_number(again.samples[0].content), 3);
    }
  }
  EXPECT_EQ(runs[0], runs[1]) << "same seed, same requests, same answers";
}

TEST(JudgeSim, ProtocolDetailsModelsErrorsAuthAndLogprobs) {
  SimOptions options;
  options.synth = small_pool();
  options.judges = {{.model = "j", .accuracy = 0.7, .position_bias = 0.5}};
  options.api_key = "sim-key";
  SimThread sim(options);
  const std::string base = sim->base_url();
  VerdictPrompt prompt = verdict_prompt(data::synth_record(options.synth, "train", 1), false);
  auto chat = [&](json body, const std::string& key = "sim-key") {
    http::ClientRequest r;
    r.url = base + "/chat/completions";
    r.body = body.dump();
    r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + key}};
    return http::perform_all({r}, {})[0];
  };
  json messages = json::array();
  for (const Message& m : prompt.messages) messages.push_back({{"role", m.role}, {"content", m.content}});

  http::ClientRequest models;
  models.method = "GET";
  models.url = base + "/models";
  auto listed = http::perform_all({models}, {})[0];
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(json::parse(listed.body)["data"][0]["id"], "j");

  auto answered = chat({{"model", "j"}, {"messages", messages}, {"logprobs", true}, {"temperature", 0}});
  ASSERT_EQ(answered.status, 200) << answered.body;
  json body = json::parse(answered.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_GT(body["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_EQ(body["usage"]["total_tokens"].get<int>(),
            body["usage"]["prompt_tokens"].get<int>() + body["usage"]["completion_tokens"].get<int>());
  double sum = 0;
  for (const json& token : body["choices"][0]["logprobs"]["content"]) sum += token["logprob"].get<double>();
  // Truth is Candidate 1: P(1) = 0.7 + 0.3 * 0.5 = 0.85.
  int verdict = parse_verdict(body["choices"][0]["message"]["content"]).value_or(0);
  EXPECT_NEAR(sum, std::log(verdict == 1 ? 0.85 : 0.15), 1e-9);

  EXPECT_EQ(chat({{"model", "j"}, {"messages", messages}}, "wrong").status, 401);
  EXPECT_EQ(chat({{"model", "other"}, {"messages", messages}}).status, 404);
  EXPECT_EQ(chat({{"model", "j"}}).status, 400);
  auto unknown = chat({{"model", "j"}, {"messages", {{{"role", "user"}, {"content", "what is 2+2?"}}}}});
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("no pool pair"), std::string::npos);
  EXPECT_EQ(sim->stats().unrecognized, 1);
  EXPECT_EQ(sim->stats().unauthorized, 1);
}

TEST(JudgeSim, JudgeSpecsAndOptionErrors) {
  auto judge =
      parse_sim_judge("qwen:accuracy=0.9,position_bias=0.7,refusal=0.01,garbage=0.02,category.math=0.4");
  ASSERT_TRUE(judge.is_ok()) << judge.status().message();
  EXPECT_EQ(judge->model, "qwen");
  EXPECT_DOUBLE_EQ(judge->accuracy, 0.9);
  EXPECT_DOUBLE_EQ(judge->position_bias, 0.7);
  EXPECT_DOUBLE_EQ(judge->refusal_rate, 0.01);
  EXPECT_DOUBLE_EQ(judge->garbage_rate, 0.02);
  ASSERT_EQ(judge->category_accuracy.size(), 1u);
  EXPECT_EQ(judge->category_accuracy[0].first, "math");
  EXPECT_TRUE(parse_sim_judge("plain").is_ok());
  EXPECT_NE(parse_sim_judge("x:speed=3").status().message().find("unknown key 'speed'"), std::string::npos);
  EXPECT_NE(parse_sim_judge("x:accuracy=high").status().message().find("accuracy must be a number"),
            std::string::npos);

  SimOptions options;
  options.synth = small_pool();
  options.judges = {{.model = "a", .accuracy = 1.5}};
  EXPECT_NE(Sim::create(options).status().message().find("judges[0].accuracy must be in [0, 1]"),
            std::string::npos);
  options.judges = {{.model = "a"}};
  options.rate_429 = 0.7;
  options.rate_500 = 0.7;
  EXPECT_FALSE(Sim::create(options).is_ok());
}
