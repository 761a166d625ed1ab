// The reward server: HTTP routes -> parsed work -> the batcher -> response bodies (see server.h).
#include "synpref/serve/server.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "serve/batcher.h"
#include "serve/metrics.h"
#include "serve/requests.h"
#include "synpref/http/server.h"
#include "synpref/model/model.h"

namespace synpref::serve {

Status ServeOptions::validate() const {
  SP_RETURN_IF_ERROR(scorer.validate());
  if (port < 0 || port > 65535) return invalid_argument("port must be in [0, 65535]");
  if (http_threads < 1 || http_threads > 1024) return invalid_argument("http_threads must be in [1, 1024]");
  if (max_body_bytes < 1) return invalid_argument("max_body_bytes must be >= 1");
  if (max_items < 1) return invalid_argument("max_items must be >= 1");
  if (max_queue < max_items) return invalid_argument("max_queue must be >= max_items");
  if (max_request_tokens < 1) return invalid_argument("max_request_tokens must be >= 1");
  if (!(request_timeout_seconds > 0)) return invalid_argument("request_timeout_seconds must be > 0");
  return Status::ok();
}

namespace {

using Parser = Parsed (*)(std::string_view, const encode::RmInputBuilder&, const RequestLimits&, Work&);

// Equal-time comparison: how long it takes does not tell how much of a key matched.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;  // the length of a key is not the secret
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

struct RewardServer::Impl {
  ServeOptions options;
  std::string model_name;
  std::unique_ptr<score::Scorer> scorer;
  RequestLimits limits;
  Metrics metrics;
  std::unique_ptr<Batcher> batcher;
  std::unique_ptr<http::Server> http;
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> request_no{0};

  bool authorized(const http::Request& req) const {
    if (options.api_key.empty()) return true;
    const auto header = req.header("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (!header || header->size() < kBearer.size() || header->compare(0, kBearer.size(), kBearer) != 0)
      return false;
    return same_secret(std::string_view(*header).substr(kBearer.size()), options.api_key);
  }

  // Seconds a refused client should wait: the queued tokens at the recent rate, in [1, 60].
  int retry_after_seconds() const {
    const double rate = metrics.tokens_per_second();
    const double tokens = double(batcher->queued_tokens());
    const double seconds = rate > 0 ? tokens / rate : 1;
    return static_cast<int>(std::clamp(std::ceil(seconds), 1.0, 60.0));
  }

  http::Response refuse(int status, std::string_view code, std::string_view message) const {
    http::Response r = http::error_response(status, code, message);
    r.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds()));
    return r;
  }

  // Parse, queue, wait, render: the path every scoring endpoint shares.
  http::Response score(const http::Request& req, Parser parse,
                       const std::function<std::string(const Work&, const Scores&)>& render) {
    if (!authorized(req)) {
      http::Response r = http::error_response(401, "unauthorized", "missing or wrong bearer token");
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    }
    if (draining.load())
      return refuse(503, "unavailable", "the server is shutting down; retry another replica");
    auto job = std::make_shared<Job>();
    Work work;
    if (auto error = parse(req.body, scorer->builder(), limits, work))
      return http::error_response(
          error->status, error->status == 413 ? "payload_too_large" : "invalid_request", error->message);
    job->groups = std::move(work.groups);  // moved back after scoring (the batcher reads them)
    const auto admitted_at = Clock::now();
    job->deadline = admitted_at + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(options.request_timeout_seconds));
    switch (batcher->submit(job)) {
      case Batcher::Admit::accepted:
        break;
      case Batcher::Admit::full:
        return refuse(429, "too_many_requests",
                      "the scoring queue is full (" + std::to_string(options.max_queue) +
                          " sequences, max_queue); retry after the Retry-After delay");
      case Batcher::Admit::stopping:
        return refuse(503, "unavailable", "the server is shutting down; retry another replica");
    }
    if (!batcher->wait(job))
      return http::error_response(504, "timeout",
                                  "not scored within " + std::to_string(options.request_timeout_seconds) +
                                      " s (request_timeout_seconds); the server is overloaded");
    metrics.on_queue_wait(std::chrono::duration<double>(Clock::now() - admitted_at).count());
    if (!job->error.is_ok()) return http::error_response(job->error);
    work.groups = std::move(job->groups);
    const std::string bad = first_non_finite(work, job->scores);
    if (!bad.empty())
      return http::error_response(500, "internal", "the model scored " + bad + "; its weights are broken");
    return http::json_response(render(work, job->scores));
  }

  // Every route goes through here: timing and the request counter by endpoint and status.
  http::Handler counted(std::string endpoint, http::Handler handler) {
    return [this, endpoint = std::move(endpoint), handler = std::move(handler)](const http::Request& req) {
      const auto t0 = Clock::now();
      http::Response r = handler(req);
      metrics.on_request(endpoint, r.status, std::chrono::duration<double>(Clock::now() - t0).count());
      return r;
    };
  }

  void add_routes() {
    http::Server& s = *http;
    s.route("POST", "/get_reward", counted("/get_reward", [this](const http::Request& req) {
              return score(req, parse_get_reward, render_get_reward);
            }));
    s.route("POST", "/classify", counted("/classify", [this](const http::Request& req) {
              return score(req, parse_classify, render_classify);
            }));
    s.route("POST", "/pooling", counted("/pooling", [this](const http::Request& req) {
              const uint64_t no = ++request_no;
              return score(req, parse_pooling, [&](const Work& w, const Scores& sc) {
                return render_pooling(w, sc, model_name, no);
              });
            }));
    s.route("POST", "/v1/score", counted("/v1/score", [this](const http::Request& req) {
              return score(req, parse_score, render_score);
            }));
    s.route("GET", "/health", counted("/health", [this](const http::Request&) {
              const nlohmann::json body = {{"status", draining.load() ? "draining" : "ok"},
                                           {"model", model_name},
                                           {"queue_sequences", batcher->queued_sequences()},
                                           {"max_queue", options.max_queue}};
              return http::json_response(body.dump(), draining.load() ? 503 : 200);
            }));
    s.route("GET", "/v1/models", counted("/v1/models", [this](const http::Request& req) {
              if (!authorized(req))
                return http::error_response(401, "unauthorized", "missing or wrong bearer token");
              const nlohmann::json body = {
                  {"object", "list"},
                  {"data", {{{"id", model_name}, {"object", "model"}, {"owned_by", "synpref"}}}}};
              return http::json_response(body.dump());
            }));
    s.route("GET", "/metrics", counted("/metrics", [this](const http::Request& req) {
              if (!authorized(req))
                return http::error_response(401, "unauthorized", "missing or wrong bearer token");
              http::Response r;
              r.content_type = "text/plain; version=0.0.4";
              r.body = metrics.render(batcher->queued_sequences(), batcher->queued_tokens());
              return r;
            }));
  }
};

RewardServer::RewardServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RewardServer::~RewardServer() {
  stop();
  if (impl_->batcher) impl_->batcher->stop();
}

Result<std::unique_ptr<RewardServer>> RewardServer::open(const ServeOptions& options) {
  SP_RETURN_IF_ERROR(options.validate());
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->model_name = options.model_name;
  if (impl->model_name.empty())
    impl->model_name = std::filesystem::path(options.scorer.model_dir).lexically_normal().filename().string();
  if (impl->model_name.empty())
    impl->model_name =
        std::filesystem::path(options.scorer.model_dir).lexically_normal().parent_path().filename().string();
  SP_ASSIGN_OR_RETURN(impl->scorer, score::Scorer::open(options.scorer));
  impl->limits = {.max_items = options.max_items,
                  .max_request_tokens = options.max_request_tokens,
                  .max_length = options.scorer.input.max_length,
                  .vocab_size = impl->scorer->model().config().vocab_size};
  http::ServerOptions http_options;
  http_options.host = options.host;
  http_options.port = options.port;
  http_options.n_threads = options.http_threads;
  http_options.max_body_bytes = options.max_body_bytes;
  SP_ASSIGN_OR_RETURN(impl->http, http::Server::create(http_options));
  Impl* self = impl.get();
  const model::Model& model = impl->scorer->model();
  const model::ScoreOptions engine{.max_tokens_per_batch = options.scorer.max_tokens_per_batch};
  impl->batcher = std::make_unique<Batcher>(
      [&model, engine](const std::vector<model::ScoreGroup>& groups) {
        return model.score_groups(groups, engine);
      },
      BatcherOptions{.max_batch_tokens = options.scorer.max_tokens_per_batch, .max_queue = options.max_queue},
      [self](const BatchReport& report) { self->metrics.on_batch(report); });
  impl->add_routes();
  return std::unique_ptr<RewardServer>(new RewardServer(std::move(impl)));
}

int RewardServer::port() const {
  return impl_->http->port();
}

const std::string& RewardServer::model_name() const {
  return impl_->model_name;
}

Status RewardServer::run() {
  Status served = impl_->http->run();  // returns once every accepted request is answered
  impl_->batcher->stop();
  return served;
}

void RewardServer::stop() {
  impl_->draining = true;
  impl_->http->stop();
}

ServeStats RewardServer::stats() const {
  const Metrics::Totals t = impl_->metrics.totals();
  return {.requests = t.requests,
          .rejected_full = t.rejected_full,
          .timed_out = t.timed_out,
          .batches = t.batches,
          .sequences = t.sequences,
          .tokens = t.tokens,
          .max_batch_requests = t.max_batch_requests};
}

}  // namespace synpref::serve
