// The HTTP layer on cpp-httplib (see synpref/http/server.h).
//
// Routing is ours, not cpp-httplib's: one catch-all handler per method looks the exact path up in
// a table, so that unknown paths (404) and wrong methods (405 + Allow) are answered as JSON errors
// like every other failure.
#include "synpref/http/server.h"

#include "synpref/common/status_name.h"

#include <httplib.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace synpref::http {

namespace {

std::string_view reason_code(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 429:
      return "too_many_requests";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal" : "bad_request";
  }
}

void fill(httplib::Response& out, const Response& in) {
  out.status = in.status;
  for (const auto& [k, v] : in.headers) out.set_header(k, v);
  if (in.disconnect_after_bytes) {
    // A provider that returns false after its partial write makes cpp-httplib drop the connection.
    auto body = std::make_shared<std::string>(in.body);
    const size_t n_sent = std::min<size_t>(*in.disconnect_after_bytes, body->size());
    out.set_content_provider(body->size(), in.content_type,
                             [body, n_sent](size_t offset, size_t, httplib::DataSink& sink) {
                               if (offset < n_sent) sink.write(body->data() + offset, n_sent - offset);
                               return false;
                             });
    return;
  }
  out.set_content(in.body, in.content_type);
}

}  // namespace

std::optional<std::string> Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  return std::nullopt;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return v;
  return std::nullopt;
}

Response json_response(std::string body, int status) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

int http_status(StatusCode code) {
  switch (code) {
    case StatusCode::ok:
      return 200;
    case StatusCode::invalid_argument:
    case StatusCode::data_error:
      return 400;
    case StatusCode::not_found:
      return 404;
    case StatusCode::unsupported:
      return 501;
    case StatusCode::io_error:
    case StatusCode::internal:
      return 500;
    case StatusCode::interrupted:  // the server is shutting down: retry elsewhere or later
      return 503;
  }
  return 500;
}

Response error_response(int status, std::string_view code, std::string_view message) {
  const nlohmann::json body = {{"error", {{"code", code}, {"message", message}}}};
  // Invalid UTF-8 in a message (echoed client input) is replaced, never a throw.
  return json_response(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", status);
}

Response error_response(const Status& status) {
  return error_response(http_status(status.code()), status_code_name(status.code()), status.message());
}

struct Server::Impl {
  ServerOptions options;
  httplib::Server server;
  int port = 0;
  int listen_socket = -1;  // the bound socket, seen through the socket-options hook
  std::atomic<bool> stopped{false}, running{false};
  std::mutex mu;
  std::map<std::string, std::map<std::string, Handler>> routes;  // path -> method -> handler

  void dispatch(const httplib::Request& in, httplib::Response& out) {
    const Handler* handler = nullptr;
    std::string allow;
    {
      std::lock_guard<std::mutex> lock(mu);
      const auto path = routes.find(in.path);
      if (path == routes.end()) {
        fill(out, error_response(404, "not_found", "no route " + in.path));
        return;
      }
      const auto method = path->second.find(in.method);
      if (method == path->second.end()) {
        for (const auto& [m, h] : path->second) allow += (allow.empty() ? "" : ", ") + m;
        Response r = error_response(405, "method_not_allowed",
                                    in.method + " " + in.path + " (allowed: " + allow + ")");
        r.headers.emplace_back("Allow", allow);
        fill(out, r);
        return;
      }
      handler = &method->second;  // routes are fixed once run() starts
    }
    Request req;
    req.method = in.method;
    req.path = in.path;
    req.body = in.body;
    req.remote_addr = in.remote_addr;
    for (const auto& [k, v] : in.headers) req.headers.emplace_back(k, v);
    for (const auto& [k, v] : in.params) req.query.emplace_back(k, v);
    fill(out, (*handler)(req));
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  stop();
}

Result<std::unique_ptr<Server>> Server::create(const ServerOptions& o) {
  if (o.port < 0 || o.port > 65535) return invalid_argument("port must be in [0, 65535]");
  if (o.n_threads < 1 || o.n_threads > 1024) return invalid_argument("n_threads must be in [1, 1024]");
  if (o.max_body_bytes == 0) return invalid_argument("max_body_bytes must be >= 1");
  if (o.read_timeout_seconds < 1 || o.write_timeout_seconds < 1)
    return invalid_argument("read_timeout_seconds and write_timeout_seconds must be >= 1");
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  Impl* self = impl.get();
  httplib::Server& s = impl->server;
  const int n_threads = o.n_threads;
  s.new_task_queue = [n_threads] { return new httplib::ThreadPool(static_cast<size_t>(n_threads)); };
  // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, which lets a second server
  // silently share a port that is already serving.
  s.set_socket_options([self](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
    self->listen_socket = sock;
  });
  // Responses go out as head + body writes; without TCP_NODELAY the second waits for the
  // client's delayed ACK (tens of ms per request on a keep-alive connection).
  s.set_tcp_nodelay(true);
  s.set_payload_max_length(static_cast<size_t>(o.max_body_bytes));
  s.set_read_timeout(o.read_timeout_seconds);
  s.set_write_timeout(o.write_timeout_seconds);
  auto any = [self](const httplib::Request& in, httplib::Response& out) { self->dispatch(in, out); };
  s.Get(".*", any);
  s.Post(".*", any);
  s.Put(".*", any);
  s.Delete(".*", any);
  // Failures cpp-httplib answers itself (413, 400 on a malformed request, ...) get the JSON body too.
  s.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& out) {
        if (!out.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        fill(out, error_response(out.status, reason_code(out.status), "HTTP " + std::to_string(out.status)));
        return httplib::Server::HandlerResponse::Handled;
      }));
  s.set_exception_handler([](const httplib::Request&, httplib::Response& out, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    fill(out, error_response(500, "internal", "handler failed: " + what));
  });
  if (o.port == 0) {
    impl->port = s.bind_to_any_port(o.host);
    if (impl->port < 0) return io_error("cannot bind " + o.host + " (any port)");
  } else {
    if (!s.bind_to_port(o.host, o.port)) {
      return io_error("cannot bind " + o.host + ":" + std::to_string(o.port) +
                      " (in use or not an address here)");
    }
    impl->port = o.port;
  }
  // cpp-httplib listens with a backlog of 5: a burst of new connections (a client opening 64 at
  // once) overflows it and the dropped SYNs are retried a second later. Linux lets listen() be
  // called again on a listening socket to raise the backlog.
  if (impl->listen_socket >= 0) ::listen(impl->listen_socket, SOMAXCONN);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::route(std::string method, std::string path, Handler handler) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->routes[std::move(path)][std::move(method)] = std::move(handler);
}

int Server::port() const {
  return impl_->port;
}

Status Server::run() {
  if (impl_->stopped.load()) return Status::ok();
  impl_->running = true;
  impl_->server.listen_after_bind();
  impl_->running = false;
  if (!impl_->stopped.load())
    return io_error("HTTP server on port " + std::to_string(impl_->port) + " stopped unexpectedly");
  return Status::ok();
}

void Server::stop() {
  impl_->stopped = true;
  // stop() before the accept loop is up would be lost: wait for it (run() is about to start it).
  while (impl_->running.load() && !impl_->server.is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_->server.stop();
}

}  // namespace synpref::http
