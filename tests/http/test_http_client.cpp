// The batch HTTP client (perform_all on libcurl multi) against real loopback servers: results in
// request order, the concurrency cap, timeouts, refused connections, servers that cut the body
// off or answer garbage (a raw socket listener), large bodies both ways, and isolation of
// failures (what the judge client and the reward-server fleet rely on).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "synpref/http/client.h"
#include "synpref/http/server.h"

using namespace synpref;

namespace {

// An http::Server on a free loopback port, served from its own thread for the test's life.
class LoopbackServer {
 public:
  explicit LoopbackServer(http::ServerOptions options = {}) {
    auto created = http::Server::create(options);
    EXPECT_TRUE(created.is_ok()) << created.status().message();
    server_ = std::move(created).value();
  }
  ~LoopbackServer() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  void route(std::string method, std::string path, http::Handler handler) {
    server_->route(std::move(method), std::move(path), std::move(handler));
  }
  void start() {
    thread_ = std::thread([this] { (void)server_->run(); });
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }

 private:
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

// A listener that speaks raw bytes: for each connection it reads the request head and writes
// `reply` verbatim, then closes. For the failures a well-behaved server cannot produce.
class RawListener {
 public:
  explicit RawListener(std::string reply) : reply_(std::move(reply)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~RawListener() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/x"; }

 private:
  void serve() {
    while (!stopping_) {
      int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = recv(conn, buf, sizeof(buf), 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      (void)!send(conn, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      shutdown(conn, SHUT_RDWR);
      close(conn);
    }
  }
  std::string reply_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// A loopback port with nothing listening: bind, read the port, close.
int closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

http::ClientRequest post(const std::string& url, std::string body, double timeout = 10) {
  http::ClientRequest request;
  request.url = url;
  request.body = std::move(body);
  request.timeout_seconds = timeout;
  return request;
}

}  // namespace

TEST(HttpClient, ResultsComeBackInRequestOrderWhateverOrderTheyFinish) {
  LoopbackServer server;
  server.route("POST", "/echo", [](const http::Request& r) {
    // Early requests answer last, so finishing order is the reverse of request order.
    int idx = std::stoi(r.body);
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * (20 - idx)));
    return http::json_response("{\"idx\":" + r.body + "}");
  });
  server.start();
  std::vector<http::ClientRequest> requests;
  for (int idx = 0; idx < 20; ++idx) requests.push_back(post(server.url("/echo"), std::to_string(idx)));
  auto responses = http::perform_all(requests, {.max_concurrency = 8});
  ASSERT_EQ(responses.size(), requests.size());
  for (int idx = 0; idx < 20; ++idx) {
    EXPECT_EQ(responses[idx].status, 200) << responses[idx].error;
    EXPECT_EQ(responses[idx].body, "{\"idx\":" + std::to_string(idx) + "}");
    EXPECT_TRUE(responses[idx].error.empty());
  }
}

TEST(HttpClient, NeverMoreTransfersInFlightThanTheCap) {
  for (int cap : {1, 3}) {
    std::atomic<int> in_flight{0}, max_in_flight{0}, n_served{0};
    LoopbackServer server(http::ServerOptions{.n_threads = 16});
    server.route("POST", "/work", [&](const http::Request&) {
      int now = ++in_flight;
      int seen = max_in_flight.load();
      while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      --in_flight;
      ++n_served;
      return http::json_response("{}");
    });
    server.start();
    std::vector<http::ClientRequest> requests(12, post(server.url("/work"), "{}"));
    auto responses = http::perform_all(requests, {.max_concurrency = cap});
    for (const auto& response : responses) EXPECT_EQ(response.status, 200) << response.error;
    EXPECT_EQ(n_served.load(), 12);
    EXPECT_LE(max_in_flight.load(), cap) << "cap " << cap;
    EXPECT_GE(max_in_flight.load(), 1);
  }
}

TEST(HttpClient, TimeoutIsAnErrorOfThatRequestOnly) {
  LoopbackServer server;
  server.route("POST", "/slow", [](const http::Request&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return http::json_response("{}");
  });
  server.route("POST", "/fast", [](const http::Request&) { return http::json_response("{\"ok\":1}"); });
  server.start();
  auto responses =
      http::perform_all({post(server.url("/slow"), "{}", 0.3), post(server.url("/fast"), "{}", 10)}, {});
  EXPECT_EQ(responses[0].status, 0);
  EXPECT_NE(responses[0].error.find("timeout"), std::string::npos) << responses[0].error;
  EXPECT_TRUE(responses[0].body.empty());
  EXPECT_EQ(responses[1].status, 200);
  EXPECT_EQ(responses[1].body, "{\"ok\":1}");
}

TEST(HttpClient, ConnectionRefusedIsReported) {
  std::string url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/v1/chat/completions";
  auto responses = http::perform_all({post(url, "{}", 5)}, {});
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 0);
  EXPECT_FALSE(responses[0].error.empty());
}

TEST(HttpClient, BodyCutOffMidwayIsAnErrorNotAShortBody) {
  RawListener cut(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
      "{\"choices\":[{\"mess");
  LoopbackServer server;
  server.route("POST", "/fine", [](const http::Request&) { return http::json_response("{}"); });
  server.start();
  auto responses = http::perform_all({post(cut.url(), "{}"), post(server.url("/fine"), "{}")}, {});
  EXPECT_EQ(responses[0].status, 0);
  EXPECT_FALSE(responses[0].error.empty());
  EXPECT_TRUE(responses[0].body.empty()) << "half a body must not be handed on";
  EXPECT_EQ(responses[1].status, 200) << "one failure never affects another";
}

TEST(HttpClient, GarbageInsteadOfHttpIsAnError) {
  RawListener garbage("\x01\x02 this is not HTTP at all\r\n\r\n");
  auto responses = http::perform_all({post(garbage.url(), "{}")}, {});
  EXPECT_EQ(responses[0].status, 0);
  EXPECT_FALSE(responses[0].error.empty());
}

TEST(HttpClient, ClosedWithoutAnyAnswerIsAnError) {
  RawListener silent("");
  auto responses = http::perform_all({post(silent.url(), "{}")}, {});
  EXPECT_EQ(responses[0].status, 0);
  EXPECT_FALSE(responses[0].error.empty());
}

TEST(HttpClient, HttpErrorStatusesAreResponsesWithHeaders) {
  LoopbackServer server;
  server.route("POST", "/busy", [](const http::Request&) {
    http::Response r = http::error_response(429, "too_many_requests", "slow down");
    r.headers.emplace_back("Retry-After", "3");
    return r;
  });
  server.route("GET", "/auth", [](const http::Request& r) {
    return http::json_response("\"" + r.header("authorization").value_or("") + "\"");
  });
  server.start();
  http::ClientRequest get;
  get.method = "GET";
  get.url = server.url("/auth");
  get.headers = {{"Authorization", "Bearer secret-123"}};
  auto responses =
      http::perform_all({post(server.url("/busy"), "{}"), get, post(server.url("/missing"), "{}")}, {});
  EXPECT_EQ(responses[0].status, 429);
  EXPECT_TRUE(responses[0].error.empty());
  EXPECT_EQ(responses[0].header("retry-after"), "3");
  EXPECT_NE(responses[0].body.find("slow down"), std::string::npos);
  EXPECT_EQ(responses[1].status, 200);
  EXPECT_EQ(responses[1].body, "\"Bearer secret-123\"");
  EXPECT_EQ(responses[2].status, 404);
}

TEST(HttpClient, LargeBodiesBothWays) {
  LoopbackServer server(http::ServerOptions{.max_body_bytes = 32u << 20});
  server.route("POST", "/double", [](const http::Request& r) {
    http::Response response;
    response.content_type = "application/octet-stream";
    response.body = r.body + r.body;
    return response;
  });
  server.start();
  std::string big(6u << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('a' + i % 26);
  auto request = post(server.url("/double"), big, 60);
  request.headers = {{"Content-Type", "application/octet-stream"}};
  auto responses = http::perform_all({request}, {});
  ASSERT_EQ(responses[0].status, 200) << responses[0].error;
  ASSERT_EQ(responses[0].body.size(), 2 * big.size());
  EXPECT_TRUE(responses[0].body == big + big);
}

TEST(HttpClient, EmptyBatchAndManyRequests) {
  EXPECT_TRUE(http::perform_all({}, {}).empty());
  // As many server threads as connections: cpp-httplib holds a thread per keep-alive connection.
  LoopbackServer server(http::ServerOptions{.n_threads = 32});
  server.route("POST", "/id", [](const http::Request& r) { return http::json_response(r.body); });
  server.start();
  std::vector<http::ClientRequest> requests;
  for (int idx = 0; idx < 300; ++idx) requests.push_back(post(server.url("/id"), std::to_string(idx)));
  auto responses = http::perform_all(requests, {.max_concurrency = 32});
  for (int idx = 0; idx < 300; ++idx) {
    ASSERT_EQ(responses[idx].status, 200) << responses[idx].error;
    EXPECT_EQ(responses[idx].body, std::to_string(idx));
  }
}

TEST(HttpClient, ServerDisconnectMidBodyIsAnErrorForThatRequestOnly) {
  LoopbackServer server;
  server.route("POST", "/cut", [](const http::Request&) {
    http::Response r = http::json_response(std::string(10000, 'x'));
    r.disconnect_after_bytes = 100;  // declares 10000 bytes, sends 100, drops the connection
    return r;
  });
  server.route("POST", "/fine", [](const http::Request&) { return http::json_response("{}"); });
  server.start();
  auto responses = http::perform_all(
      {post(server.url("/cut"), "{}"), post(server.url("/fine"), "{}"), post(server.url("/cut"), "{}")},
      {.max_concurrency = 1});
  for (int idx : {0, 2}) {
    EXPECT_EQ(responses[idx].status, 0);
    EXPECT_NE(responses[idx].error.find("remaining"), std::string::npos) << responses[idx].error;
    EXPECT_TRUE(responses[idx].body.empty());
  }
  EXPECT_EQ(responses[1].status, 200);
  EXPECT_EQ(responses[1].body, "{}");
}

TEST(HttpClient, StreamOffersRequestsOverTimeAndReturnsTags) {
  LoopbackServer server;
  server.route("POST", "/id", [](const http::Request& r) { return http::json_response(r.body); });
  server.start();
  // The caller releases one request per call of `next` and declines every other call, as a rate
  // limiter would; tags come back with the responses.
  int n_offered = 0, n_asked = 0;
  std::vector<std::pair<uint64_t, std::string>> done;
  http::StreamCallbacks callbacks;
  callbacks.next = [&](http::ClientRequest& request, uint64_t& tag) {
    if (n_offered == 6 || ++n_asked % 2 == 0) return false;
    request = post(server.url("/id"), "body" + std::to_string(n_offered));
    tag = 100 + n_offered++;
    return true;
  };
  callbacks.done = [&](uint64_t tag, http::ClientResponse response) {
    done.emplace_back(tag, response.body);
  };
  callbacks.finished = [&] { return n_offered == 6; };
  http::perform_stream({.max_concurrency = 2}, callbacks);
  ASSERT_EQ(done.size(), 6u);
  std::sort(done.begin(), done.end());
  for (int idx = 0; idx < 6; ++idx) {
    EXPECT_EQ(done[idx].first, 100u + idx);
    EXPECT_EQ(done[idx].second, "body" + std::to_string(idx));
  }
}
