// The reward server in process, spoken to over loopback HTTP with the project's batch client:
// every endpoint's scores are bitwise those of the offline `synpref score` (the real binary) on the
// same conversations, alone and under concurrency; limits, malformed bodies and authentication are
// 4xx JSON errors; an overloaded queue answers 429 with Retry-After (never hangs); stop() answers
// every accepted request. A tiny random-weight Qwen3 model with the real Qwen3 tokenizer is made
// with `synpref init-model`.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "synpref/encode/rm_input.h"
#include "synpref/http/client.h"
#include "synpref/serve/server.h"
#include "test_util.h"

using namespace synpref;
using namespace synpref::testing;
using data::Role;

namespace {

const std::string kDate = "2025-01-01";

const std::string& model_dir() {
  static const std::string dir = [] {
    const std::string d = temp_dir("serve_model") + "/rm";
    auto r = run_synpref("init-model --arch qwen3 --preset qwen3-tiny --tokenizer " +
                         shared_data("tokenizers/qwen3") + " --seed 5 --init-std 0.2 --out " + d);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return d;
  }();
  return dir;
}

// The test conversations: pairs and a best-of-4 set, one with a multi-turn context.
struct Case {
  std::string id;
  std::vector<data::Turn> context;
  std::vector<std::string> responses;
};
const std::vector<Case>& cases() {
  static const std::vector<Case> all = [] {
    std::vector<Case> c;
    for (int i = 0; i < 6; ++i)
      c.push_back(
          {"p" + std::to_string(i),
           {{Role::user, "Question " + std::to_string(i) + ": what is " + std::to_string(i) + " + 1?"}},
           {"It is " + std::to_string(i + 1) + ".", std::string(static_cast<size_t>(i % 3 + 1), '?')}});
    c.push_back({"multi",
                 {{Role::system, "Be brief."},
                  {Role::user, "Hi"},
                  {Role::assistant, "Hello!"},
                  {Role::user, "Name a colour."}},
                 {"Blue.", "I will not answer that.", "Red, like a fire engine.", "green"}});
    return c;
  }();
  return all;
}

nlohmann::json turns_json(const std::vector<data::Turn>& turns) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : turns)
    out.push_back({{"role", std::string(data::role_name(t.role))}, {"content", t.content}});
  return out;
}

// Canonical records of cases(), one JSON object each.
nlohmann::json records_json() {
  nlohmann::json records = nlohmann::json::array();
  for (const Case& c : cases()) {
    nlohmann::json r = {{"id", c.id}, {"context", turns_json(c.context)}};
    if (c.responses.size() == 2) {
      r["kind"] = "pair";
      r["chosen"] = {{"content", c.responses[0]}};
      r["rejected"] = {{"content", c.responses[1]}};
    } else {
      r["kind"] = "response_set";
      for (const auto& resp : c.responses) r["responses"].push_back({{"content", resp}});
    }
    records.push_back(r);
  }
  return records;
}

// `synpref score` on the records: its output lines (without '\n') and scores, in case order.
struct Offline {
  std::vector<std::string> lines;
  std::vector<std::vector<float>> scores;
};
const Offline& offline() {
  static const Offline result = [] {
    Offline o;
    const std::string dir = temp_dir("serve_offline");
    std::string input;
    for (const auto& r : records_json()) input += r.dump() + "\n";
    spit(dir + "/in.jsonl", input);
    auto r = run_synpref("score --model " + model_dir() + " --input " + dir + "/in.jsonl --output " + dir +
                         "/out.jsonl --threads 2 --date " + kDate);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string text = slurp(dir + "/out.jsonl");
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t nl = text.find('\n', pos);
      o.lines.push_back(text.substr(pos, nl - pos));
      o.scores.push_back(nlohmann::json::parse(o.lines.back())["scores"].get<std::vector<float>>());
      pos = nl + 1;
    }
    return o;
  }();
  return result;
}

// Rendered conversations (what OpenRLHF decodes and sends): case c, response k.
std::string rendered(size_t c, size_t k) {
  static const encode::RmInputBuilder builder = [] {
    encode::RmInputSettings settings;
    settings.tokenizer_dir = model_dir();
    settings.date = kDate;
    auto b = encode::open_builder(settings);
    EXPECT_TRUE(b.is_ok()) << b.status().message();
    return std::move(b).value();
  }();
  std::vector<data::Turn> conv = cases()[c].context;
  conv.push_back({Role::assistant, cases()[c].responses[k]});
  auto text = builder.render(conv);
  EXPECT_TRUE(text.is_ok()) << text.status().message();
  return *text;
}

serve::ServeOptions base_options() {
  serve::ServeOptions o;
  o.scorer.model_dir = model_dir();
  o.scorer.n_threads = 2;
  o.scorer.input.date = kDate;
  o.port = 0;
  o.http_threads = 16;
  return o;
}

// A server running on its own thread; stopped and joined on destruction.
class Running {
 public:
  explicit Running(const serve::ServeOptions& options) {
    auto opened = serve::RewardServer::open(options);
    EXPECT_TRUE(opened.is_ok()) << opened.status().message();
    server_ = std::move(opened).value();
    thread_ = std::thread([this] { result_ = server_->run(); });
  }
  // A server whose run() failed fails the test even when the test never calls stop() itself.
  ~Running() {
    Status status = stop();
    EXPECT_TRUE(status.is_ok()) << status.message();
  }
  Status stop() {
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
    return result_;
  }
  serve::RewardServer& server() { return *server_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  http::ClientRequest post(const std::string& path, std::string body) const {
    http::ClientRequest r;
    r.url = url(path);
    r.body = std::move(body);
    r.headers = {{"Content-Type", "application/json"}};
    return r;
  }
  http::ClientResponse call(http::ClientRequest request) const {
    return http::perform_all({std::move(request)}, {.max_concurrency = 1})[0];
  }

 private:
  std::unique_ptr<serve::RewardServer> server_;
  std::thread thread_;
  Status result_;
};

// The OpenRLHF body for a set of cases: every response of each, prompts = the context render.
nlohmann::json get_reward_body(const std::vector<size_t>& case_indices) {
  nlohmann::json query = nlohmann::json::array(), prompts = nlohmann::json::array(),
                 labels = nlohmann::json::array();
  for (size_t c : case_indices) {
    for (size_t k = 0; k < cases()[c].responses.size(); ++k) {
      query.push_back(rendered(c, k));
      prompts.push_back(cases()[c].context.back().content);
      labels.push_back(nullptr);
    }
  }
  return {{"query", query}, {"prompts", prompts}, {"labels", labels}};
}

// Checks the rewards of a get_reward_body(case_indices) answer against offline scores, bitwise.
void expect_offline_rewards(const std::string& body, const std::vector<size_t>& case_indices) {
  const nlohmann::json out = nlohmann::json::parse(body);
  size_t i = 0;
  for (size_t c : case_indices) {
    for (size_t k = 0; k < cases()[c].responses.size(); ++k, ++i) {
      ASSERT_LT(i, out["rewards"].size());
      EXPECT_EQ(out["rewards"][i].get<float>(), offline().scores[c][k]) << "case " << c << " response " << k;
    }
  }
  EXPECT_EQ(out["rewards"].size(), i);
}

std::vector<size_t> all_cases() {
  std::vector<size_t> v(cases().size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

}  // namespace

TEST(Serve, V1ScoreAnswersTheLinesOfSynprefScoreByteForByte) {
  ASSERT_EQ(offline().lines.size(), cases().size());
  Running s(base_options());
  const nlohmann::json body = {{"records", records_json()}};
  auto r = s.call(s.post("/v1/score", body.dump()));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  size_t from = 0;
  for (const std::string& line : offline().lines) {
    const size_t at = r.body.find(line, from);
    ASSERT_NE(at, std::string::npos) << "offline line " << line << " not in " << r.body;
    from = at + line.size();
  }
  // Conversations: each ends with its scored turn.
  nlohmann::json conversations = nlohmann::json::array();
  for (size_t c = 0; c < cases().size(); ++c) {
    nlohmann::json conv = turns_json(cases()[c].context);
    conv.push_back({{"role", "assistant"}, {"content", cases()[c].responses.back()}});
    conversations.push_back(conv);
  }
  r = s.call(s.post("/v1/score", nlohmann::json{{"conversations", conversations}}.dump()));
  ASSERT_EQ(r.status, 200) << r.body;
  const nlohmann::json out = nlohmann::json::parse(r.body);
  for (size_t c = 0; c < cases().size(); ++c)
    EXPECT_EQ(out["results"][c]["scores"][0].get<float>(), offline().scores[c].back()) << c;
}

TEST(Serve, OpenRlhfSglangAndVllmShapesScoreTheSameAsOffline) {
  Running s(base_options());
  auto r = s.call(s.post("/get_reward", get_reward_body(all_cases()).dump()));
  ASSERT_EQ(r.status, 200) << r.body;
  expect_offline_rewards(r.body, all_cases());
  const nlohmann::json reward = nlohmann::json::parse(r.body);
  EXPECT_EQ(reward["scores"], reward["rewards"]);
  EXPECT_TRUE(reward["extra_logs"].is_object());

  // sglang /classify: a list of {"embedding": [score]}; a single text answers one object.
  const nlohmann::json texts = {rendered(6, 0), rendered(6, 1), rendered(6, 2), rendered(6, 3)};
  r = s.call(s.post("/classify", nlohmann::json{{"text", texts}}.dump()));
  ASSERT_EQ(r.status, 200) << r.body;
  nlohmann::json out = nlohmann::json::parse(r.body);
  ASSERT_EQ(out.size(), 4u);
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(out[k]["embedding"][0].get<float>(), offline().scores[6][k]);
  r = s.call(s.post("/classify", nlohmann::json{{"text", rendered(0, 1)}}.dump()));
  ASSERT_EQ(r.status, 200) << r.body;
  out = nlohmann::json::parse(r.body);
  EXPECT_EQ(out["embedding"][0].get<float>(), offline().scores[0][1]);

  // vLLM /pooling: {"data": [{"data": [score]}]}.
  r = s.call(s.post("/pooling", nlohmann::json{{"input", texts}, {"model", "rm"}}.dump()));
  ASSERT_EQ(r.status, 200) << r.body;
  out = nlohmann::json::parse(r.body);
  ASSERT_EQ(out["data"].size(), 4u);
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(out["data"][k]["data"][0].get<float>(), offline().scores[6][k]);

  r = s.call([&] {
    http::ClientRequest h;
    h.method = "GET";
    h.url = s.url("/health");
    return h;
  }());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["status"], "ok");
}

TEST(Serve, ConcurrentRequestsAreBatchedTogetherAndScoreAsAlone) {
  Running s(base_options());
  std::vector<http::ClientRequest> requests;
  std::vector<std::vector<size_t>> subsets;
  for (size_t i = 0; i < 48; ++i) {
    subsets.push_back({i % cases().size(), (i * 5 + 1) % cases().size()});
    requests.push_back(s.post("/get_reward", get_reward_body(subsets.back()).dump()));
  }
  auto responses = http::perform_all(requests, {.max_concurrency = 16});
  for (size_t i = 0; i < responses.size(); ++i) {
    ASSERT_EQ(responses[i].status, 200) << responses[i].body << responses[i].error;
    expect_offline_rewards(responses[i].body, subsets[i]);
  }
  const serve::ServeStats stats = s.server().stats();
  EXPECT_EQ(stats.requests, 48u);
  EXPECT_LE(stats.batches, 48u);
  // The metrics page counts them, in the Prometheus text format.
  http::ClientRequest m;
  m.method = "GET";
  m.url = s.url("/metrics");
  auto r = s.call(m);
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("synpref_serve_requests_total{endpoint=\"/get_reward\",code=\"200\"} 48\n"),
            std::string::npos)
      << r.body;
  for (const char* name :
       {"synpref_serve_queue_sequences ", "synpref_serve_batch_sequences_bucket{le=\"+Inf\"}",
        "synpref_serve_request_duration_seconds_bucket{endpoint=\"/get_reward\",le=\"0.1\"}",
        "synpref_serve_tokens_per_second ", "# TYPE synpref_serve_batch_tokens histogram"})
    EXPECT_NE(r.body.find(name), std::string::npos) << name;
}

TEST(Serve, AnOverloadedQueueAnswers429WithRetryAfterAndNeverHangs) {
  serve::ServeOptions o = base_options();
  o.max_items = 8;
  o.max_queue = 8;      // one request of 8 sequences fills the queue
  o.http_threads = 40;  // one per client connection (an idle keep-alive connection holds its thread)
  Running s(o);
  std::vector<http::ClientRequest> requests;
  for (int i = 0; i < 64; ++i) requests.push_back(s.post("/get_reward", get_reward_body({6, 0, 1}).dump()));
  auto responses = http::perform_all(requests, {.max_concurrency = 32});
  size_t ok = 0, refused = 0;
  for (const auto& r : responses) {
    if (r.status == 200) {
      ++ok;
      expect_offline_rewards(r.body, {6, 0, 1});
    } else {
      ASSERT_EQ(r.status, 429) << r.body << r.error;
      ++refused;
      EXPECT_GE(std::atoi(r.header("Retry-After").c_str()), 1);
      EXPECT_NE(r.body.find("max_queue"), std::string::npos) << r.body;
    }
  }
  EXPECT_GE(ok, 1u);
  EXPECT_EQ(ok + refused, 64u);
  EXPECT_EQ(s.server().stats().rejected_full, refused);
}

TEST(Serve, LimitsMalformedBodiesAndAuthAreJsonErrors) {
  serve::ServeOptions o = base_options();
  o.max_items = 4;
  o.max_body_bytes = 4096;
  o.max_request_tokens = 200;
  o.api_key = "s3cret";
  Running s(o);
  auto with_key = [&](http::ClientRequest r, const std::string& key) {
    r.headers.push_back({"Authorization", "Bearer " + key});
    return r;
  };
  struct Expect {
    http::ClientRequest request;
    int status;
    std::string needle;
  };
  std::vector<Expect> expects = {
      {s.post("/get_reward", get_reward_body({0}).dump()), 401, "bearer"},
      {with_key(s.post("/get_reward", get_reward_body({0}).dump()), "wrong"), 401, "bearer"},
      {with_key(s.post("/get_reward", "{\"query\": [\"a\""), "s3cret"), 400, "not valid JSON"},
      {with_key(s.post("/get_reward", get_reward_body({6, 0}).dump()), "s3cret"), 413, "max_items"},
      {with_key(s.post("/classify", std::string(5000, ' ')), "s3cret"), 413, ""},
      {with_key(s.post("/v1/score", "{\"conversations\": 3}"), "s3cret"), 400, "'conversations' must be"},
      {with_key(s.post("/pooling", nlohmann::json{{"input", {rendered(0, 0)}}}.dump()), "s3cret"), 200, ""},
      {with_key(s.post("/nope", "{}"), "s3cret"), 404, ""},
  };
  // The token limit: 4 distinct long texts over 200 tokens in all.
  std::string words;
  for (int i = 0; i < 80; ++i) words += " w" + std::to_string(i);
  expects.push_back(
      {with_key(s.post("/classify", nlohmann::json{{"text", {words, words + " x"}}}.dump()), "s3cret"), 413,
       "max_request_tokens"});
  for (auto& e : expects) {
    auto r = s.call(e.request);
    EXPECT_EQ(r.status, e.status) << e.request.url << " " << e.request.body.substr(0, 60) << ": " << r.body;
    if (e.status != 200) {
      const nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
      ASSERT_FALSE(body.is_discarded()) << r.body;
      EXPECT_TRUE(body["error"]["message"].is_string()) << r.body;
      EXPECT_NE(r.body.find(e.needle), std::string::npos) << r.body;
      EXPECT_EQ(r.body.find("s3cret"), std::string::npos);
    }
  }
  http::ClientRequest health;
  health.method = "GET";
  health.url = s.url("/health");
  EXPECT_EQ(s.call(health).status, 200);  // open without the key
}

TEST(Serve, StopAnswersEveryAcceptedRequest) {
  Running s(base_options());
  std::vector<http::ClientRequest> requests;
  for (int i = 0; i < 40; ++i) requests.push_back(s.post("/get_reward", get_reward_body(all_cases()).dump()));
  std::vector<http::ClientResponse> responses;
  std::thread client([&] { responses = http::perform_all(requests, {.max_concurrency = 8}); });
  while (s.server().stats().batches < 2) std::this_thread::yield();
  ASSERT_TRUE(s.stop().is_ok());
  client.join();
  size_t answered = 0;
  for (const auto& r : responses) {
    if (r.status == 0) continue;  // not connected before the listener closed
    ++answered;
    if (r.status == 200) {
      expect_offline_rewards(r.body, all_cases());
    } else {
      EXPECT_EQ(r.status, 503) << r.body;
      EXPECT_FALSE(r.header("Retry-After").empty());
    }
  }
  EXPECT_GE(answered, 2u);
  EXPECT_EQ(s.server().stats().requests, answered);
}

TEST(Serve, OptionsAreValidatedByFieldName) {
  serve::ServeOptions o = base_options();
  o.max_queue = 1;
  o.max_items = 2;
  auto opened = serve::RewardServer::open(o);
  ASSERT_FALSE(opened.is_ok());
  EXPECT_NE(opened.status().message().find("max_queue"), std::string::npos);
  o = base_options();
  o.scorer.model_dir = "/nonexistent/model";
  opened = serve::RewardServer::open(o);
  ASSERT_FALSE(opened.is_ok());
  EXPECT_NE(opened.status().message().find("/nonexistent/model"), std::string::npos)
      << opened.status().message();
}
