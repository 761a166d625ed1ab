// The judge client against judge-sim over loopback HTTP with fault injection (429 with
// Retry-After, 500, garbage bodies, disconnects mid-body, timeouts, refusals and garbage content):
// every request ends with exactly its samples, each one a choice the server delivered, none twice,
// or with a failure naming why; the cache makes a rerun free and survives kill -9; the budget cap
// stops spending; the API key reaches the server and never a message.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "judge_test_util.h"
#include "synpref/common/hash.h"
#include "test_util.h"

using namespace synpref;
using namespace synpref::judge;
using namespace synpref::judge::testing;

namespace {

struct Workload {
  std::vector<ChatRequest> requests;
  std::vector<int> truth;
};

Workload pairs_for_judges(const data::SynthOptions& pool, const std::vector<std::string>& models, int n_pairs,
                          int n, double temperature) {
  Workload w;
  for (int idx = 0; idx < n_pairs; ++idx) {
    VerdictPrompt prompt =
        verdict_prompt(data::synth_record(pool, "train", static_cast<uint64_t>(idx)), idx % 2);
    for (const std::string& model : models) {
      ChatRequest r;
      r.endpoint = model + "@sim";
      r.messages = prompt.messages;
      r.n = n;
      r.temperature = temperature;
      w.requests.push_back(r);
      w.truth.push_back(prompt.correct);
    }
  }
  return w;
}

Config config_for(const Sim& sim, const std::string& cache_path = "") {
  Config config;
  for (const SimJudge& j : sim.judges()) config.endpoints.push_back(sim_endpoint(sim, j.model));
  config.cache_path = cache_path;
  config.backoff_initial_seconds = 0.001;
  config.backoff_max_seconds = 0.02;
  return config;
}

std::unique_ptr<Client> client_for(const Config& config) {
  auto client = Client::create(config);
  EXPECT_TRUE(client.is_ok()) << client.status().message();
  return std::move(client).value();
}

// Every sample of every ok result is a distinct choice the sim delivered for that request.
void expect_samples_were_served(const Sim& sim, const std::vector<ChatRequest>& requests,
                                const std::vector<ChatResult>& results) {
  std::map<std::pair<std::string, uint64_t>, std::multiset<std::string>> delivered;
  for (const ServedChoice& c : sim.served_choices())
    if (c.delivered) delivered[{c.model, c.prompt_key}].insert(c.content);
  for (size_t idx = 0; idx < results.size(); ++idx) {
    if (!results[idx].status.is_ok()) continue;
    const ChatRequest& request = requests[idx];
    ASSERT_EQ(results[idx].samples.size(), static_cast<size_t>(request.n)) << "request " << idx;
    std::string model = request.endpoint.substr(0, request.endpoint.find('@'));
    auto& pool = delivered[{model, hash64(request.messages.back().content)}];
    std::set<long> numbers;
    for (const Sample& sample : results[idx].samples) {
      auto it = pool.find(sample.content);
      ASSERT_NE(it, pool.end()) << "request " << idx
                                << ": sample never delivered (invented or duplicated): " << sample.content;
      pool.erase(it);
      long number = sample_number(sample.content);
      if (number >= 0) EXPECT_TRUE(numbers.insert(number).second) << "request " << idx << " repeats a sample";
    }
  }
}

}  // namespace

TEST(JudgeEndToEnd, FaultsNeverLoseDuplicateOrInventSamplesAndTheRerunIsFree) {
  synpref::testing::TempDir dir;
  SimOptions options;
  options.synth = small_pool(80);
  options.judges = {{.model = "a", .accuracy = 0.9, .refusal_rate = 0.05, .garbage_rate = 0.05},
                    {.model = "b", .accuracy = 0.7, .position_bias = 0.7, .refusal_rate = 0.05},
                    {.model = "c", .accuracy = 0.8, .garbage_rate = 0.1}};
  options.rate_429 = 0.1;
  options.retry_after_seconds = 0.01;
  options.rate_500 = 0.1;
  options.rate_garbage_body = 0.05;
  options.rate_disconnect = 0.1;
  options.latency_ms = 20;
  options.record_choices = true;
  SimThread sim(options);
  Config config = config_for(*sim, dir.file("cache.db"));
  for (Endpoint& e : config.endpoints) {
    e.timeout_seconds = 0.1;  // latency is exponential with mean 20 ms: a few requests time out
    e.max_retries = 12;
  }
  Workload w = pairs_for_judges(options.synth, {"a", "b", "c"}, 60, 3, 0.8);

  std::vector<ChatResult> first;
  {
    auto client = client_for(config);
    first = client->run(w.requests);
    Usage usage = client->usage();
    EXPECT_GT(usage.retries, 0);
    // Timed-out attempts may never have been read by the server, so only a bound holds.
    EXPECT_GE(usage.requests, sim->stats().answered);
  }
  SimStats stats = sim->stats();
  EXPECT_GT(stats.rate_limited, 0);
  EXPECT_GT(stats.server_errors, 0);
  EXPECT_GT(stats.garbage_bodies, 0);
  EXPECT_GT(stats.disconnects, 0);
  EXPECT_GT(stats.refusals, 0);

  size_t n_ok = 0;
  std::vector<ChatRequest> ok_requests;
  for (size_t idx = 0; idx < first.size(); ++idx) {
    if (first[idx].status.is_ok()) {
      ++n_ok;
      ok_requests.push_back(w.requests[idx]);
    } else {
      EXPECT_NE(first[idx].status.message().find("endpoint '"), std::string::npos)
          << first[idx].status.message();
      EXPECT_TRUE(first[idx].samples.empty());
    }
  }
  EXPECT_GE(n_ok, first.size() * 9 / 10);
  expect_samples_were_served(*sim, w.requests, first);

  // The rerun of every request that succeeded makes no HTTP call and returns the same samples.
  const int64_t requests_before = sim->stats().requests;
  auto client = client_for(config);
  auto second = client->run(ok_requests);
  EXPECT_EQ(sim->stats().requests, requests_before);
  size_t ok_idx = 0;
  for (size_t idx = 0; idx < first.size(); ++idx) {
    if (!first[idx].status.is_ok()) continue;
    const ChatResult& again = second[ok_idx++];
    ASSERT_TRUE(again.status.is_ok());
    EXPECT_TRUE(again.cached);
    for (size_t s = 0; s < again.samples.size(); ++s)
      EXPECT_EQ(again.samples[s].content, first[idx].samples[s].content);
  }
}

TEST(JudgeEndToEnd, TimeoutsEndInANamedFailure) {
  SimOptions options;
  options.synth = small_pool();
  options.judges = {{.model = "slow"}};
  options.latency_ms = 2000;
  SimThread sim(options);
  Config config = config_for(*sim);
  config.endpoints[0].timeout_seconds = 0.05;
  config.endpoints[0].max_retries = 1;
  auto client = client_for(config);
  Workload w = pairs_for_judges(options.synth, {"slow"}, 2, 1, 0);
  auto results = client->run(w.requests);
  for (const ChatResult& r : results) {
    ASSERT_FALSE(r.status.is_ok());
    EXPECT_NE(r.status.message().find("timeout"), std::string::npos) << r.status.message();
    EXPECT_TRUE(r.samples.empty());
  }
}

TEST(JudgeEndToEnd, BudgetCapStopsSpendingAndARerunWithMoreBudgetFinishes) {
  synpref::testing::TempDir dir;
  SimOptions options;
  options.synth = small_pool();
  options.judges = {{.model = "paid", .accuracy = 1.0}};
  SimThread sim(options);
  Config config = config_for(*sim, dir.file("cache.db"));
  config.endpoints[0].max_concurrency = 4;
  config.endpoints[0].usd_per_million_prompt_tokens = 10000;  // about $1 per request
  config.budget_usd = 10;
  Workload w = pairs_for_judges(options.synth, {"paid"}, 50, 1, 0);
  auto client = client_for(config);
  auto results = client->run(w.requests);
  size_t n_ok = 0, n_budget = 0;
  double max_cost = 0;
  for (const ChatResult& r : results) {
    max_cost = std::max(max_cost, r.cost_usd);
    if (r.status.is_ok()) {
      ++n_ok;
      EXPECT_EQ(parse_verdict(r.samples[0].content).has_value(), true);
    } else {
      ++n_budget;
      EXPECT_EQ(r.status.code(), StatusCode::interrupted);
      EXPECT_NE(r.status.message().find("budget"), std::string::npos) << r.status.message();
    }
  }
  Usage usage = client->usage();
  EXPECT_GT(n_budget, 0u);
  EXPECT_GE(usage.cost_usd, config.budget_usd);
  EXPECT_LE(usage.cost_usd, config.budget_usd + config.endpoints[0].max_concurrency * max_cost)
      << "overshoot bounded by the requests in flight";
  EXPECT_EQ(sim->stats().requests, static_cast<int64_t>(n_ok));

  config.budget_usd = 1000;
  auto richer = client_for(config);
  auto finished = richer->run(w.requests);
  for (const ChatResult& r : finished) EXPECT_TRUE(r.status.is_ok()) << r.status.message();
  EXPECT_EQ(sim->stats().requests, static_cast<int64_t>(w.requests.size()))
      << "paid answers are not bought twice";
}

TEST(JudgeEndToEnd, ApiKeyReachesTheServerAndNoMessage) {
  const std::string key = "sk-sim-0123456789abcdef";
  SimOptions options;
  options.synth = small_pool();
  options.judges = {{.model = "guarded", .accuracy = 1.0}};
  options.api_key = key;
  SimThread sim(options);
  Config config = config_for(*sim);
  config.endpoints[0].api_key_env = "SYNPREF_TEST_SIM_KEY";
  config.endpoints[0].max_retries = 0;
  Workload w = pairs_for_judges(options.synth, {"guarded"}, 4, 1, 0);

  ASSERT_EQ(setenv("SYNPREF_TEST_SIM_KEY", key.c_str(), 1), 0);
  auto results = client_for(config)->run(w.requests);
  for (size_t idx = 0; idx < results.size(); ++idx) {
    ASSERT_TRUE(results[idx].status.is_ok()) << results[idx].status.message();
    EXPECT_EQ(parse_verdict(results[idx].samples[0].content), w.truth[idx]);
  }
  EXPECT_EQ(sim->stats().unauthorized, 0);

  const std::string wrong = key + "-revoked";
  ASSERT_EQ(setenv("SYNPREF_TEST_SIM_KEY", wrong.c_str(), 1), 0);
  results = client_for(config)->run(w.requests);
  for (const ChatResult& r : results) {
    ASSERT_FALSE(r.status.is_ok());
    EXPECT_NE(r.status.message().find("HTTP 401"), std::string::npos) << r.status.message();
    EXPECT_EQ(r.status.message().find(key), std::string::npos);
  }
  EXPECT_EQ(sim->stats().unauthorized, static_cast<int64_t>(w.requests.size()));
  unsetenv("SYNPREF_TEST_SIM_KEY");
}

TEST(JudgeEndToEnd, CacheSurvivesKillNineAndTheRerunCompletesWithoutRepeats) {
  synpref::testing::TempDir dir;
  SimOptions options;
  options.synth = small_pool(200);
  options.judges = {{.model = "k", .accuracy = 0.8}};
  options.latency_ms = 5;
  SimThread sim(options);
  Config config = config_for(*sim, dir.file("cache.db"));
  config.endpoints[0].max_concurrency = 4;
  Workload w = pairs_for_judges(options.synth, {"k"}, 200, 2, 0.7);

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto client = Client::create(config);
    if (client.is_ok()) (void)(*client)->run(w.requests);
    _exit(0);
  }
  // Kill it once it is well under way (answers are being cached), never after it is done.
  for (int wait_ms = 0; sim->stats().answered < 40 && wait_ms < 20000; wait_ms += 2)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child finished before it was killed; make the workload longer";
  const int64_t answered_before = sim->stats().answered;

  auto client = client_for(config);
  auto results = client->run(w.requests);
  for (const ChatResult& r : results) {
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    ASSERT_EQ(r.samples.size(), 2u);
    EXPECT_NE(sample_number(r.samples[0].content), sample_number(r.samples[1].content));
  }
  EXPECT_GT(client->usage().cached, 0) << "what the killed run received was kept";
  EXPECT_LT(sim->stats().answered - answered_before, static_cast<int64_t>(w.requests.size()));
  const int64_t requests_after = sim->stats().requests;
  auto third = client_for(config)->run(w.requests);
  EXPECT_EQ(sim->stats().requests, requests_after);
}
