// The judge client against scripted loopback servers: the config file, the cache key, what is
// sent (auth, n, logprobs, json_schema), what is accepted (choices, usage, logprobs), and every
// failure path: fewer choices than asked, unparseable answers, non-retryable and retryable HTTP
// errors with Retry-After, timeouts, keys never in messages, the cache making reruns free.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "judge_test_util.h"
#include "synpref/http/server.h"
#include "test_util.h"

using namespace synpref;
using namespace synpref::judge;
using nlohmann::json;

namespace {

// An http::Server whose chat handler the test scripts; counts calls and keeps the bodies.
class ScriptedServer {
 public:
  using Script = std::function<http::Response(const json& request, int call_idx, const http::Request& raw)>;
  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    server_ = std::move(http::Server::create({.n_threads = 16})).value();
    server_->route("POST", "/v1/chat/completions", [this](const http::Request& r) {
      int call_idx;
      {
        std::lock_guard lock(mutex_);
        call_idx = static_cast<int>(bodies_.size());
        bodies_.push_back(json::parse(r.body, nullptr, false));
      }
      return script_(bodies_[call_idx], call_idx, r);
    });
    thread_ = std::thread([this] { (void)server_->run(); });
  }
  ~ScriptedServer() {
    server_->stop();
    thread_.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/v1"; }
  int calls() {
    std::lock_guard lock(mutex_);
    return static_cast<int>(bodies_.size());
  }
  json body(int idx) {
    std::lock_guard lock(mutex_);
    return bodies_[idx];
  }

 private:
  Script script_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  std::mutex mutex_;
  std::deque<json> bodies_;
};

json completion(const std::vector<std::string>& contents, int prompt_tokens = 10, int completion_tokens = 5) {
  json choices = json::array();
  for (size_t idx = 0; idx < contents.size(); ++idx)
    choices.push_back({{"index", idx},
                       {"message", {{"role", "assistant"}, {"content", contents[idx]}}},
                       {"finish_reason", "stop"}});
  return {{"choices", choices},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}}}};
}

Config one_endpoint(const std::string& base_url, const std::string& cache_path = "") {
  Config config;
  Endpoint e;
  e.name = "judge@test";
  e.base_url = base_url;
  e.model = "test-model";
  e.max_concurrency = 4;
  e.timeout_seconds = 5;
  e.max_retries = 3;
  config.endpoints.push_back(e);
  config.cache_path = cache_path;
  config.backoff_initial_seconds = 0.001;
  config.backoff_max_seconds = 0.01;
  return config;
}

ChatRequest ask(const std::string& text, int n = 1, double temperature = 0) {
  ChatRequest r;
  r.endpoint = "judge@test";
  r.messages = {{"user", text}};
  r.n = n;
  r.temperature = temperature;
  return r;
}

std::unique_ptr<Client> make_client(const Config& config) {
  auto client = Client::create(config);
  EXPECT_TRUE(client.is_ok()) << client.status().message();
  return std::move(client).value();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

}  // namespace

TEST(JudgeConfig, LoadsEveryFieldAndResolvesTheCacheNextToTheConfig) {
  synpref::testing::TempDir dir;
  std::string path = dir.path() + "/judges.json";
  write_file(path, R"({
    "budget_usd": 12.5, "cache_path": "cache.db", "backoff_initial_seconds": 0.25, "backoff_max_seconds": 8,
    "endpoints": [
      {"name": "a", "base_url": "http://127.0.0.1:8000/v1", "model": "qwen3-32b", "api_key_env": "KEY_A",
       "max_concurrency": 32, "requests_per_second": 5, "timeout_seconds": 60, "max_retries": 6,
       "json_schema": true, "logprobs": true,
       "usd_per_million_prompt_tokens": 0.5, "usd_per_million_completion_tokens": 1.5},
      {"name": "b", "base_url": "https://api.example.com/v1", "model": "gpt-x"}
    ]})");
  auto config = load_config(path);
  ASSERT_TRUE(config.is_ok()) << config.status().message();
  EXPECT_DOUBLE_EQ(config->budget_usd, 12.5);
  EXPECT_EQ(config->cache_path, dir.path() + "/cache.db");
  EXPECT_DOUBLE_EQ(config->backoff_initial_seconds, 0.25);
  ASSERT_EQ(config->endpoints.size(), 2u);
  const Endpoint& a = config->endpoints[0];
  EXPECT_EQ(a.model, "qwen3-32b");
  EXPECT_EQ(a.api_key_env, "KEY_A");
  EXPECT_EQ(a.max_concurrency, 32);
  EXPECT_DOUBLE_EQ(a.requests_per_second, 5);
  EXPECT_EQ(a.max_retries, 6);
  EXPECT_TRUE(a.json_schema && a.logprobs);
  EXPECT_DOUBLE_EQ(a.usd_per_million_completion_tokens, 1.5);
  EXPECT_EQ(config->endpoints[1].max_concurrency, 8) << "defaults apply";
}

TEST(JudgeConfig, ErrorsNameTheFileAndTheField) {
  synpref::testing::TempDir dir;
  std::string path = dir.path() + "/j.json";
  auto expect_error = [&](const std::string& text, const std::string& needle) {
    write_file(path, text);
    auto config = load_config(path);
    ASSERT_FALSE(config.is_ok()) << text;
    EXPECT_NE(config.status().message().find(needle), std::string::npos) << config.status().message();
    EXPECT_NE(config.status().message().find(path), std::string::npos) << config.status().message();
  };
  expect_error("{", "not valid JSON");
  expect_error("{}", "endpoints is required");
  expect_error(R"({"endpoints": [{"name": "a", "model": "m"}]})", "endpoints[0].base_url is required");
  expect_error(
      R"({"endpoints": [{"name": "a", "base_url": "http://x/v1", "model": "m", "max_concurency": 3}]})",
      "endpoints[0].max_concurency is not a known field");
  expect_error(
      R"({"endpoints": [{"name": "a", "base_url": "http://x/v1", "model": "m", "max_concurrency": 0}]})",
      "endpoints[0].max_concurrency must be in");
  expect_error(R"({"endpoints": [{"name": "a", "base_url": "x/v1", "model": "m"}]})",
               "endpoints[0].base_url must start with http");
  expect_error(
      R"({"endpoints": [{"name": "a", "base_url": "http://x/v1", "model": "m"}, {"name": "a", "base_url": "http://y/v1", "model": "m"}]})",
      "endpoints[1].name \"a\" is used by an earlier endpoint");
  expect_error(
      R"({"budget_usd": "ten", "endpoints": [{"name": "a", "base_url": "http://x/v1", "model": "m"}]})",
      "budget_usd must be a number");
  EXPECT_EQ(load_config(dir.path() + "/missing.json").status().code(), StatusCode::not_found);
}

TEST(JudgePromptHash, CoversModelMessagesTemperatureMaxTokensSchemaButNotN) {
  ChatRequest base = ask("hello");
  const std::string h = prompt_hash("m", base);
  EXPECT_EQ(h.size(), 32u);
  EXPECT_EQ(prompt_hash("m", base), h);
  EXPECT_NE(prompt_hash("m2", base), h);
  ChatRequest other = base;
  other.messages[0].content = "hello!";
  EXPECT_NE(prompt_hash("m", other), h);
  other = base;
  other.messages[0].role = "system";
  EXPECT_NE(prompt_hash("m", other), h);
  other = base;
  other.temperature = 0.7;
  EXPECT_NE(prompt_hash("m", other), h);
  other = base;
  other.max_tokens = 10;
  EXPECT_NE(prompt_hash("m", other), h);
  other = base;
  other.json_schema = "{}";
  EXPECT_NE(prompt_hash("m", other), h);
  other = base;
  other.n = 5;
  EXPECT_EQ(prompt_hash("m", other), h) << "n is not in the key: more samples extend the cached ones";
  other = base;
  other.endpoint = "elsewhere";
  EXPECT_EQ(prompt_hash("m", other), h) << "two endpoints serving one model share answers";
}

TEST(JudgeClient, SendsTheOpenAiRequestAndReadsChoicesUsageAndLogprobs) {
  ScriptedServer server([](const json&, int, const http::Request&) {
    json answer = completion({"first", "second"}, 1000, 200);
    answer["choices"][0]["logprobs"] = {
        {"content", {{{"token", "fi"}, {"logprob", -0.5}}, {{"token", "rst"}, {"logprob", -0.25}}}}};
    return http::json_response(answer.dump());
  });
  Config config = one_endpoint(server.base_url());
  config.endpoints[0].logprobs = true;
  config.endpoints[0].json_schema = true;
  config.endpoints[0].usd_per_million_prompt_tokens = 2;
  config.endpoints[0].usd_per_million_completion_tokens = 10;
  auto client = make_client(config);
  ChatRequest request = ask("judge this", 2, 0.7);
  request.max_tokens = 77;
  request.json_schema = R"({"type": "object", "properties": {"preferred": {"type": "integer"}}})";
  auto results = client->run({request});
  ASSERT_TRUE(results[0].status.is_ok()) << results[0].status.message();
  ASSERT_EQ(results[0].samples.size(), 2u);
  EXPECT_EQ(results[0].samples[0].content, "first");
  EXPECT_EQ(results[0].samples[1].content, "second");
  ASSERT_TRUE(results[0].samples[0].logprob.has_value());
  EXPECT_DOUBLE_EQ(*results[0].samples[0].logprob, -0.75);
  EXPECT_FALSE(results[0].samples[1].logprob.has_value());
  EXPECT_EQ(results[0].samples[0].finish_reason, "stop");
  EXPECT_EQ(results[0].prompt_tokens, 1000);
  EXPECT_EQ(results[0].completion_tokens, 200);
  EXPECT_NEAR(results[0].cost_usd, 1000 * 2e-6 + 200 * 10e-6, 1e-12);
  EXPECT_EQ(results[0].prompt_hash, prompt_hash("test-model", request));

  json sent = server.body(0);
  EXPECT_EQ(sent["model"], "test-model");
  EXPECT_EQ(sent["n"], 2);
  EXPECT_DOUBLE_EQ(sent["temperature"].get<double>(), 0.7);
  EXPECT_EQ(sent["max_tokens"], 77);
  EXPECT_EQ(sent["messages"][0]["content"], "judge this");
  EXPECT_EQ(sent["logprobs"], true);
  EXPECT_EQ(sent["response_format"]["type"], "json_schema");
  EXPECT_EQ(sent["response_format"]["json_schema"]["schema"]["properties"]["preferred"]["type"], "integer");

  Usage usage = client->usage();
  EXPECT_EQ(usage.requests, 1);
  EXPECT_EQ(usage.prompt_tokens, 1000);
  EXPECT_NEAR(usage.cost_usd, results[0].cost_usd, 1e-12);
}

TEST(JudgeClient, NoSchemaOrLogprobsForEndpointsWithoutThem) {
  ScriptedServer server(
      [](const json&, int, const http::Request&) { return http::json_response(completion({"x"}).dump()); });
  auto client = make_client(one_endpoint(server.base_url()));
  ChatRequest request = ask("q");
  request.json_schema = R"({"type": "object"})";
  ASSERT_TRUE(client->run({request})[0].status.is_ok());
  json sent = server.body(0);
  EXPECT_FALSE(sent.contains("response_format"));
  EXPECT_FALSE(sent.contains("logprobs"));
}

TEST(JudgeClient, FewerChoicesThanAskedAreToppedUpNeverInvented) {
  // Like servers that ignore n: one choice per call, different each call.
  ScriptedServer server([](const json& request, int call_idx, const http::Request&) {
    EXPECT_GE(request["n"].get<int>(), 1);
    return http::json_response(completion({"answer-" + std::to_string(call_idx)}).dump());
  });
  auto client = make_client(one_endpoint(server.base_url()));
  auto results = client->run({ask("q", 4, 1.0)});
  ASSERT_TRUE(results[0].status.is_ok()) << results[0].status.message();
  ASSERT_EQ(results[0].samples.size(), 4u);
  for (int idx = 0; idx < 4; ++idx)
    EXPECT_EQ(results[0].samples[idx].content, "answer-" + std::to_string(idx));
  EXPECT_EQ(server.calls(), 4);
  EXPECT_EQ(server.body(0)["n"], 4);
  EXPECT_EQ(server.body(1)["n"], 3) << "only the missing samples are asked again";
  EXPECT_EQ(server.body(3)["n"], 1);
  EXPECT_EQ(client->usage().retries, 0) << "a top-up is not a retry";
}

TEST(JudgeClient, ExtraChoicesBeyondWhatWasAskedAreDropped) {
  ScriptedServer server([](const json&, int, const http::Request&) {
    return http::json_response(completion({"a", "b", "c"}).dump());
  });
  auto client = make_client(one_endpoint(server.base_url()));
  auto results = client->run({ask("q", 1)});
  ASSERT_TRUE(results[0].status.is_ok());
  ASSERT_EQ(results[0].samples.size(), 1u);
  EXPECT_EQ(results[0].samples[0].content, "a");
}

TEST(JudgeClient, UnparseableAnswersFailWithTheReasonAfterRetries) {
  struct Case {
    std::string body, reason;
  };
  for (const Case& c : {Case{"<html>oops</html>", "response is not JSON"},
                        Case{R"({"id": "x"})", "response has no choices array"},
                        Case{R"({"choices": []})", "choices is empty"},
                        Case{R"({"choices": [{"message": {"role": "assistant", "content": null}}]})",
                             "choices[0].message.content is not a string"}}) {
    ScriptedServer server([&](const json&, int, const http::Request&) {
      http::Response r;
      r.body = c.body;
      return r;
    });
    auto client = make_client(one_endpoint(server.base_url()));
    auto results = client->run({ask("q")});
    ASSERT_FALSE(results[0].status.is_ok()) << c.body;
    EXPECT_NE(results[0].status.message().find(c.reason), std::string::npos) << results[0].status.message();
    EXPECT_NE(results[0].status.message().find("unparseable answer"), std::string::npos);
    EXPECT_TRUE(results[0].samples.empty()) << "nothing defaulted";
    EXPECT_EQ(server.calls(), 4) << "max_retries 3: four attempts";
    EXPECT_EQ(results[0].http_calls, 4);
    EXPECT_EQ(client->usage().failures, 1);
  }
}

TEST(JudgeClient, ClientErrorsAreNotRetriedServerErrorsAreAndRetryAfterIsHonoured) {
  ScriptedServer bad_request([](const json&, int, const http::Request&) {
    return http::json_response(R"({"error": {"message": "max_tokens is too large"}})", 400);
  });
  auto client = make_client(one_endpoint(bad_request.base_url()));
  auto results = client->run({ask("q")});
  ASSERT_FALSE(results[0].status.is_ok());
  EXPECT_NE(results[0].status.message().find("HTTP 400: max_tokens is too large"), std::string::npos)
      << results[0].status.message();
  EXPECT_EQ(bad_request.calls(), 1);

  std::vector<std::chrono::steady_clock::time_point> seen;
  ScriptedServer flaky([&](const json&, int call_idx, const http::Request&) {
    seen.push_back(std::chrono::steady_clock::now());
    if (call_idx == 0) {
      http::Response r = http::json_response(R"({"error": {"message": "slow down"}})", 429);
      r.headers.emplace_back("Retry-After", "0.3");
      return r;
    }
    if (call_idx == 1) return http::json_response(R"({"error": {"message": "overloaded"}})", 503);
    return http::json_response(completion({"fine"}).dump());
  });
  auto flaky_client = make_client(one_endpoint(flaky.base_url()));
  results = flaky_client->run({ask("q")});
  ASSERT_TRUE(results[0].status.is_ok()) << results[0].status.message();
  EXPECT_EQ(results[0].samples[0].content, "fine");
  EXPECT_EQ(results[0].http_calls, 3);
  EXPECT_EQ(flaky_client->usage().retries, 2);
  ASSERT_EQ(seen.size(), 3u);
  // Retry-After (0.3 s) exceeds the configured backoff (<= 0.01 s): the wait is at least it.
  EXPECT_GE(seen[1] - seen[0], std::chrono::milliseconds(300));
}

TEST(JudgeClient, TimeoutsAreRetriedThenReported) {
  ScriptedServer slow([](const json&, int, const http::Request&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return http::json_response(completion({"late"}).dump());
  });
  Config config = one_endpoint(slow.base_url());
  config.endpoints[0].timeout_seconds = 0.1;
  config.endpoints[0].max_retries = 1;
  auto client = make_client(config);
  auto results = client->run({ask("q")});
  ASSERT_FALSE(results[0].status.is_ok());
  EXPECT_NE(results[0].status.message().find("timeout"), std::string::npos) << results[0].status.message();
  EXPECT_NE(results[0].status.message().find("gave up after 2 attempts"), std::string::npos);
  EXPECT_TRUE(results[0].samples.empty());
}

TEST(JudgeClient, ApiKeyIsSentButNeverInAnyMessage) {
  const std::string key = "sk-test-4f1d9a-very-secret";
  ASSERT_EQ(setenv("SYNPREF_TEST_JUDGE_KEY", key.c_str(), 1), 0);
  // A server that echoes the Authorization header in its error message, as some proxies do.
  ScriptedServer echo([](const json&, int, const http::Request& raw) {
    std::string auth = raw.header("Authorization").value_or("(none)");
    return http::json_response(json{{"error", {{"message", "bad upstream for " + auth}}}}.dump(), 502);
  });
  Config config = one_endpoint(echo.base_url());
  config.endpoints[0].api_key_env = "SYNPREF_TEST_JUDGE_KEY";
  config.endpoints[0].max_retries = 1;
  auto client = make_client(config);
  auto results = client->run({ask("q")});
  ASSERT_FALSE(results[0].status.is_ok());
  const std::string& message = results[0].status.message();
  EXPECT_EQ(message.find(key), std::string::npos) << message;
  EXPECT_NE(message.find("Bearer [redacted]"), std::string::npos)
      << "the key reached the server: " << message;

  config.endpoints[0].api_key_env = "SYNPREF_TEST_JUDGE_KEY_UNSET";
  unsetenv("SYNPREF_TEST_JUDGE_KEY_UNSET");
  auto missing = Client::create(config);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("SYNPREF_TEST_JUDGE_KEY_UNSET is not set"), std::string::npos);
}

TEST(JudgeClient, BadRequestsFailAloneWithoutACall) {
  ScriptedServer server(
      [](const json&, int, const http::Request&) { return http::json_response(completion({"ok"}).dump()); });
  auto client = make_client(one_endpoint(server.base_url()));
  ChatRequest unknown = ask("q");
  unknown.endpoint = "nope";
  ChatRequest no_messages = ask("q");
  no_messages.messages.clear();
  ChatRequest bad_schema = ask("q");
  bad_schema.json_schema = "{not json";
  Config schema_config = one_endpoint(server.base_url());
  auto results = client->run({unknown, ask("fine"), no_messages});
  EXPECT_NE(results[0].status.message().find("requests[0].endpoint 'nope' is not in the judge config"),
            std::string::npos);
  EXPECT_TRUE(results[1].status.is_ok());
  EXPECT_NE(results[2].status.message().find("requests[2].messages is empty"), std::string::npos);
  EXPECT_EQ(server.calls(), 1);
  schema_config.endpoints[0].json_schema = true;
  auto schema_client = make_client(schema_config);
  auto schema_results = schema_client->run({bad_schema});
  EXPECT_NE(schema_results[0].status.message().find("json_schema is not a JSON object"), std::string::npos)
      << schema_results[0].status.message();
}

TEST(JudgeClient, CacheMakesARerunFreeAndSurvivesReopening) {
  synpref::testing::TempDir dir;
  const std::string cache = dir.path() + "/judge-cache.db";
  ScriptedServer server([](const json& request, int call_idx, const http::Request&) {
    std::vector<std::string> contents;
    for (int idx = 0; idx < request["n"].get<int>(); ++idx)
      contents.push_back("call" + std::to_string(call_idx) + "-choice" + std::to_string(idx));
    return http::json_response(completion(contents).dump());
  });
  std::vector<ChatRequest> requests;
  for (int idx = 0; idx < 10; ++idx) requests.push_back(ask("question " + std::to_string(idx), 3, 0.8));
  std::vector<ChatResult> first;
  {
    auto client = make_client(one_endpoint(server.base_url(), cache));
    first = client->run(requests);
  }
  ASSERT_EQ(server.calls(), 10);
  auto client = make_client(one_endpoint(server.base_url(), cache));
  auto second = client->run(requests);
  EXPECT_EQ(server.calls(), 10) << "a rerun makes no HTTP call";
  for (size_t idx = 0; idx < requests.size(); ++idx) {
    ASSERT_TRUE(second[idx].status.is_ok());
    EXPECT_TRUE(second[idx].cached);
    EXPECT_EQ(second[idx].prompt_tokens, 0);
    ASSERT_EQ(second[idx].samples.size(), 3u);
    for (size_t s = 0; s < 3; ++s) EXPECT_EQ(second[idx].samples[s].content, first[idx].samples[s].content);
  }
  EXPECT_EQ(client->usage().cached, 10);
  EXPECT_EQ(client->usage().requests, 0);

  // Asking for more samples asks only for the new ones; the first three stay as they were.
  requests.resize(1);
  requests[0].n = 5;
  auto more = client->run(requests);
  ASSERT_TRUE(more[0].status.is_ok());
  EXPECT_EQ(server.calls(), 11);
  EXPECT_EQ(server.body(10)["n"], 2);
  EXPECT_EQ(more[0].samples[0].content, first[0].samples[0].content);
  EXPECT_EQ(more[0].samples[3].content, "call10-choice0");
  EXPECT_FALSE(more[0].cached);
}

TEST(JudgeClient, ConcurrencyAndRateLimitsPerEndpoint) {
  std::atomic<int> in_flight{0}, max_in_flight{0};
  ScriptedServer server([&](const json&, int, const http::Request&) {
    int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    --in_flight;
    return http::json_response(completion({"ok"}).dump());
  });
  Config config = one_endpoint(server.base_url());
  config.endpoints[0].max_concurrency = 3;
  auto client = make_client(config);
  std::vector<ChatRequest> requests;
  for (int idx = 0; idx < 30; ++idx) requests.push_back(ask("q" + std::to_string(idx)));
  size_t last_done = 0;
  auto results = client->run(requests, [&](size_t done, size_t total) {
    EXPECT_EQ(total, 30u);
    EXPECT_GE(done, last_done);
    last_done = done;
  });
  EXPECT_EQ(last_done, 30u);
  for (const auto& r : results) EXPECT_TRUE(r.status.is_ok());
  EXPECT_LE(max_in_flight.load(), 3);

  // 20 requests/s: ten requests need at least 9 intervals of 50 ms.
  config.endpoints[0].max_concurrency = 8;
  config.endpoints[0].requests_per_second = 20;
  auto limited = make_client(config);
  requests.resize(10);
  for (auto& r : requests) r.messages[0].content += "-again";
  auto start = std::chrono::steady_clock::now();
  results = limited->run(requests);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(450));
  for (const auto& r : results) EXPECT_TRUE(r.status.is_ok());
}
