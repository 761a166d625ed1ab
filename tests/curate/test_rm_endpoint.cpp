// rm_endpoint: scoring pairs on in-process servers that play sglang's /classify, with faults
// (500, 429, garbage bodies, wrong result counts, a dead endpoint, a rejected request).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "synpref/common/hash.h"
#include "synpref/curate/rm_endpoint.h"
#include "synpref/http/server.h"

namespace synpref::curate {
namespace {

double reward_of(const std::string& text) {
  return static_cast<double>(hash64(text) % 2000) / 100.0 - 10.0;
}

enum class Fault {
  none,
  error_500_every_3rd,
  rate_limit_every_2nd,
  garbage_every_2nd,
  short_answer_always,
  reject_400
};

// An sglang-like reward server: POST /classify {"model", "text": [...]} -> [{"embedding": [r]}, ...].
class FakeRewardServer {
 public:
  explicit FakeRewardServer(Fault fault) : fault_(fault) {
    server_ = std::move(http::Server::create({}).value());
    server_->route("POST", "/classify", [this](const http::Request& request) { return handle(request); });
    thread_ = std::thread([this] { (void)server_->run(); });
  }
  ~FakeRewardServer() {
    server_->stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  int requests() const { return requests_; }

 private:
  http::Response handle(const http::Request& request) {
    int n = ++requests_;
    auto body = nlohmann::json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.contains("text") || !body["text"].is_array()) {
      return http::error_response(400, "bad_request", "text must be a list");
    }
    if (body.value("model", "") != "rm-test") return http::error_response(400, "bad_request", "wrong model");
    switch (fault_) {
      case Fault::error_500_every_3rd:
        if (n % 3 == 0) return http::error_response(500, "internal", "GPU fell off the bus");
        break;
      case Fault::rate_limit_every_2nd:
        if (n % 2 == 0) return http::error_response(429, "rate_limited", "slow down");
        break;
      case Fault::garbage_every_2nd:
        if (n % 2 == 0) return http::json_response("[{\"embedding\": [1.0]}, {\"embed");
        break;
      case Fault::reject_400:
        return http::error_response(400, "bad_request", "context too long");
      default:
        break;
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& text : body["text"]) {
      out.push_back({{"embedding", {reward_of(text.get<std::string>())}}, {"meta_info", {{"id", "x"}}}});
    }
    if (fault_ == Fault::short_answer_always) out.erase(out.begin());
    return http::json_response(out.dump());
  }

  Fault fault_;
  std::atomic<int> requests_{0};
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

std::vector<PairTexts> make_pairs(size_t n) {
  std::vector<PairTexts> pairs;
  for (size_t i = 0; i < n; ++i) {
    pairs.push_back({"<|user|>q" + std::to_string(i) + "<|assistant|>good",
                     "<|user|>q" + std::to_string(i) + "<|assistant|>bad"});
  }
  return pairs;
}

RmEndpointOptions options_for(const std::vector<std::string>& urls) {
  RmEndpointOptions options;
  options.urls = urls;
  options.model = "rm-test";
  options.pairs_per_request = 7;
  options.max_concurrency = 8;
  options.max_retries = 6;
  options.timeout_seconds = 10;
  options.backoff_initial_seconds = 0.001;
  options.backoff_max_seconds = 0.01;
  return options;
}

void expect_all_scored(const std::vector<PairTexts>& pairs, const std::vector<RmScore>& scores) {
  ASSERT_EQ(scores.size(), pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    ASSERT_TRUE(scores[i].ok) << "pair " << i << ": " << scores[i].error;
    EXPECT_DOUBLE_EQ(scores[i].chosen, reward_of(pairs[i].chosen)) << i;
    EXPECT_DOUBLE_EQ(scores[i].rejected, reward_of(pairs[i].rejected)) << i;
  }
}

TEST(RmEndpoint, ScoresEveryPairRoundRobin) {
  FakeRewardServer a(Fault::none), b(Fault::none), c(Fault::none);
  auto pairs = make_pairs(100);
  RmFleetStats stats;
  auto scores = score_pairs(pairs, options_for({a.url(), b.url(), c.url() + "/"}), &stats);
  expect_all_scored(pairs, scores);
  EXPECT_EQ(stats.requests, 15);  // ceil(100 / 7)
  EXPECT_EQ(stats.retries, 0);
  EXPECT_EQ(stats.requests_per_endpoint, (std::vector<int64_t>{5, 5, 5}));
  EXPECT_EQ(a.requests() + b.requests() + c.requests(), 15);
}

TEST(RmEndpoint, RetriesFaultsOnOtherEndpointsWithoutLosingOrMixingPairs) {
  FakeRewardServer flaky(Fault::error_500_every_3rd), limited(Fault::rate_limit_every_2nd),
      garbage(Fault::garbage_every_2nd), short_answers(Fault::short_answer_always);
  auto pairs = make_pairs(300);
  RmFleetStats stats;
  // A dead endpoint too: connection refused is a transport error, retried elsewhere.
  std::string dead = "http://127.0.0.1:1";
  auto options = options_for({flaky.url(), limited.url(), garbage.url(), short_answers.url(), dead});
  // Each round-robin cycle of 5 attempts meets three servers that answer at least every third
  // request: 20 retries make running out (about 0.7% per cycle) practically impossible.
  options.max_retries = 20;
  auto scores = score_pairs(pairs, options, &stats);
  expect_all_scored(pairs, scores);
  EXPECT_GT(stats.retries, 0);
  EXPECT_EQ(stats.failed_pairs, 0);
}

TEST(RmEndpoint, FailsPairsWithAReasonWhenRetriesRunOut) {
  FakeRewardServer short_answers(Fault::short_answer_always);
  auto pairs = make_pairs(10);
  auto options = options_for({short_answers.url()});
  options.max_retries = 2;
  RmFleetStats stats;
  auto scores = score_pairs(pairs, options, &stats);
  ASSERT_EQ(scores.size(), 10u);
  for (const RmScore& score : scores) {
    EXPECT_FALSE(score.ok);
    EXPECT_EQ(score.attempts, 3);
    EXPECT_NE(score.error.find("results for"), std::string::npos) << score.error;
  }
  EXPECT_EQ(stats.failed_pairs, 10);
  EXPECT_EQ(short_answers.requests(), 2 * 3);
}

TEST(RmEndpoint, ClientErrorsAreNotRetried) {
  FakeRewardServer rejecting(Fault::reject_400);
  auto pairs = make_pairs(5);
  auto scores = score_pairs(pairs, options_for({rejecting.url()}));
  for (const RmScore& score : scores) {
    EXPECT_FALSE(score.ok);
    EXPECT_EQ(score.attempts, 1);
    EXPECT_NE(score.error.find("HTTP 400"), std::string::npos) << score.error;
  }
  EXPECT_EQ(rejecting.requests(), 1);
}

TEST(RmEndpoint, ParsesAndValidates) {
  auto scores = parse_classify_response(R"([{"embedding":[1.5,0]},{"embedding":[-2],"meta_info":{}}])", 2);
  ASSERT_TRUE(scores.is_ok()) << scores.status().message();
  EXPECT_EQ(*scores, (std::vector<double>{1.5, -2}));
  EXPECT_FALSE(parse_classify_response(R"([{"embedding":[]}])", 1).is_ok());
  EXPECT_FALSE(parse_classify_response(R"([{"embedding":["x"]}])", 1).is_ok());
  EXPECT_FALSE(parse_classify_response(R"({"embedding":[1]})", 1).is_ok());
  EXPECT_NE(parse_classify_response(R"([{"embedding":[1]}])", 2).status().message().find("1 results for 2"),
            std::string::npos);
  std::string a = "x\"y", b = "z";
  EXPECT_EQ(classify_request_body("m", {&a, &b}), R"({"model":"m","text":["x\"y","z"]})");
  EXPECT_EQ(classify_request_body("", {&b}), R"({"text":["z"]})");
  RmEndpointOptions bad;
  EXPECT_NE(validate(bad).message().find("urls"), std::string::npos);
  bad.urls = {"http://a", "gpu-3:30000"};
  EXPECT_NE(validate(bad).message().find("urls[1]"), std::string::npos);
  bad.urls = {"http://a"};
  bad.pairs_per_request = 0;
  EXPECT_NE(validate(bad).message().find("pairs_per_request"), std::string::npos);
}

}  // namespace
}  // namespace synpref::curate
