// The HTTP seam over real loopback sockets: routing, the one error mapping, body limits, handler
// exceptions, concurrency and graceful stop (what the reward server and the annotation service rely on).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "synpref/http/server.h"

using namespace synpref;

namespace {

// A server with a few routes, running on its own thread for the life of the fixture.
class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    http::ServerOptions o;
    o.max_body_bytes = 1024;
    auto s = http::Server::create(o);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    server = std::move(s).value();
    server->route("POST", "/echo", [](const http::Request& r) {
      nlohmann::json j = {{"body", r.body},
                          {"agent", r.header("user-agent").value_or("")},
                          {"q", r.query_param("q").value_or("")}};
      return http::json_response(j.dump());
    });
    server->route("GET", "/echo", [](const http::Request&) { return http::json_response("{}"); });
    server->route("GET", "/bad", [](const http::Request&) {
      return http::error_response(invalid_argument("field `texts` must be an array"));
    });
    server->route("GET", "/throws",
                  [](const http::Request&) -> http::Response { throw std::runtime_error("boom"); });
    server->route("GET", "/slow", [this](const http::Request&) {
      in_slow = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      return http::json_response("{\"done\":true}");
    });
    thread = std::thread([this] { run_status = server->run(); });
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
  }
  void TearDown() override {
    server->stop();
    if (thread.joinable()) thread.join();
    EXPECT_TRUE(run_status.is_ok()) << run_status.message();
  }
  static nlohmann::json error_of(const httplib::Result& r) {
    EXPECT_TRUE(r);
    return nlohmann::json::parse(r->body)["error"];
  }

  std::unique_ptr<http::Server> server;
  std::thread thread;
  Status run_status;
  std::unique_ptr<httplib::Client> client;
  std::atomic<bool> in_slow{false};
};

}  // namespace

TEST_F(HttpServerTest, RoutesRequestsWithBodyHeadersAndQuery) {
  httplib::Headers h = {{"User-Agent", "synpref-test"}};
  auto r = client->Post("/echo?q=a%20b", h, "hello", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  const auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["body"], "hello");
  EXPECT_EQ(j["agent"], "synpref-test");
  EXPECT_EQ(j["q"], "a b");
}

TEST_F(HttpServerTest, LibraryErrorsAreMappedInOnePlace) {
  auto r = client->Get("/bad");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r)["code"], "invalid_argument");
  EXPECT_EQ(error_of(r)["message"], "field `texts` must be an array");
  EXPECT_EQ(http::http_status(StatusCode::not_found), 404);
  EXPECT_EQ(http::http_status(StatusCode::data_error), 400);
  EXPECT_EQ(http::http_status(StatusCode::internal), 500);
  EXPECT_EQ(http::http_status(StatusCode::unsupported), 501);
  EXPECT_EQ(http::http_status(StatusCode::interrupted), 503);
}

TEST_F(HttpServerTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  auto r = client->Get("/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r)["code"], "not_found");
  r = client->Delete("/echo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, POST");
  EXPECT_EQ(error_of(r)["code"], "method_not_allowed");
}

TEST_F(HttpServerTest, OversizeBodyIs413BeforeTheHandler) {
  auto r = client->Post("/echo", std::string(4096, 'x'), "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(error_of(r)["code"], "payload_too_large");
  // The server still answers afterwards.
  r = client->Post("/echo", "ok", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, AThrowingHandlerGives500NotADroppedConnection) {
  auto r = client->Get("/throws");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(error_of(r)["message"].get<std::string>().find("boom"), std::string::npos);
}

TEST_F(HttpServerTest, InvalidUtf8InAnErrorMessageStillGivesValidJson) {
  const http::Response r = http::error_response(invalid_argument("bad byte \xff here"));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(nlohmann::json::accept(r.body)) << r.body;
}

TEST_F(HttpServerTest, ConcurrentClientsAllGetTheirOwnAnswers) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", server->port());
      for (int i = 0; i < 20; ++i) {
        const std::string body = std::to_string(t) + ":" + std::to_string(i);
        auto r = c.Post("/echo", body, "text/plain");
        if (r && r->status == 200 && nlohmann::json::parse(r->body)["body"] == body) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 160);
}

TEST_F(HttpServerTest, StopFinishesTheInFlightRequest) {
  std::optional<httplib::Result> slow;
  std::thread t([&] { slow.emplace(client->Get("/slow")); });
  while (!in_slow) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server->stop();
  t.join();
  ASSERT_TRUE(slow && *slow) << "the in-flight request was dropped";
  EXPECT_EQ((*slow)->status, 200);
  EXPECT_EQ(nlohmann::json::parse((*slow)->body)["done"], true);
  thread.join();
  // New connections are refused after stop.
  httplib::Client late("127.0.0.1", server->port());
  late.set_connection_timeout(1);
  EXPECT_FALSE(late.Get("/echo"));
}

TEST(HttpServer, OptionsAreValidatedByFieldName) {
  http::ServerOptions o;
  o.n_threads = 0;
  auto s = http::Server::create(o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("n_threads"), std::string::npos);
  o = {};
  o.port = 70000;
  s = http::Server::create(o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("port"), std::string::npos);
}

TEST(HttpServer, BindingATakenPortIsAClearError) {
  auto first = http::Server::create({});
  ASSERT_TRUE(first.is_ok());
  std::thread serving([&] { (void)(*first)->run(); });
  // Wait until it listens (a listening socket is what makes the port taken).
  httplib::Client probe("127.0.0.1", (*first)->port());
  while (!probe.Get("/")) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  http::ServerOptions o;
  o.port = (*first)->port();
  auto second = http::Server::create(o);
  (*first)->stop();
  serving.join();
  ASSERT_FALSE(second.is_ok());
  EXPECT_NE(second.status().message().find(std::to_string(o.port)), std::string::npos);
}
