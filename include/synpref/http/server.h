// synpref/http/server.h: the HTTP layer shared by the reward server (serve/) and the annotation
// service (annotate/); neither imports the other, both import this.
//
//   auto server = synpref::http::Server::create({.host = "127.0.0.1", .port = 0});
//   (*server)->route("POST", "/v1/score", [&](const http::Request& req) -> http::Response { ... });
//   std::thread t([&] { (*server)->run(); });   // blocks until stop()
//   ... (*server)->port() ...; (*server)->stop(); t.join();
//
// What every service gets here, once:
//  - Errors become HTTP responses in ONE place (error_response / http_status): a handler returns
//    a Status and the client receives the mapped code with a JSON body
//    {"error": {"code": "invalid_argument", "message": "..."}}.
//  - Request bodies above max_body_bytes are refused with 413 before the handler runs; unknown
//    paths get 404 and known paths with another method 405 (with Allow), both as JSON errors.
//  - A handler that throws yields 500 with the exception's text (never a dropped connection).
//  - stop() is graceful: the listener closes, in-flight requests finish, run() returns.
// The implementation sits on cpp-httplib (Debian libcpp-httplib-dev); no third-party type appears
// in this header.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::http {

struct Request {
  std::string method, path, body;
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent
  std::vector<std::pair<std::string, std::string>> query;    // decoded ?a=b&c=d, in order
  std::string remote_addr;
  // First header with this name (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
  // First query parameter with this name, if any.
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Fault injection for test servers (judge-sim): when set, the response declares the whole
  // body's Content-Length but sends only its first `disconnect_after_bytes` bytes, then drops
  // the connection (a server dying mid-body, as clients must survive).
  std::optional<uint64_t> disconnect_after_bytes;
};

// A JSON response with `status`.
Response json_response(std::string body, int status = 200);
// The one mapping from library errors to HTTP: invalid_argument/data_error -> 400, not_found -> 404,
// unsupported -> 501, io_error/internal -> 500, interrupted -> 503 (resource_exhausted-like limits use
// 413/429/503 explicitly through error_response(status, code, message)).
int http_status(StatusCode code);
Response error_response(const Status& status);
Response error_response(int http_status, std::string_view code, std::string_view message);

using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback by default: exposing a service is a decision
  int port = 0;                    // 0 = any free port (see Server::port)
  uint64_t max_body_bytes = 8u << 20;
  int n_threads = 8;  // connection-handling threads
  int read_timeout_seconds = 30, write_timeout_seconds = 30;
};

class Server {
 public:
  // Binds the socket (so port() is known and clients may connect as soon as run() starts).
  // Errors: invalid options (by field name), address in use or not bindable.
  static Result<std::unique_ptr<Server>> create(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers `handler` for exact `path` and `method` ("GET", "POST", "PUT", "DELETE"). Call before run().
  void route(std::string method, std::string path, Handler handler);
  int port() const;
  // Serves until stop(); returns ok after a graceful stop.
  Status run();
  // Thread-safe; idempotent. run() returns once in-flight requests are answered.
  void stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace synpref::http
