// src/curate/rm_endpoint.cpp: round-robin scoring of pairs on sglang-style /classify servers.
#include "synpref/curate/rm_endpoint.h"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "synpref/common/text.h"
#include "synpref/http/client.h"

namespace synpref::curate {

namespace {

// A batch of consecutive pairs [begin, end) sent in one request.
struct Batch {
  size_t begin = 0, end = 0;
  int attempts = 0;
  size_t next_endpoint = 0;
  std::string last_error;
  size_t last_endpoint = 0;
};

bool retryable_status(int status) {
  return status == 429 || status >= 500;
}

std::string endpoint_url(const std::string& base) {
  std::string url = base;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + "/classify";
}

// Why a response does not score its batch ("" when it does, with the scores in `scores`).
std::string check_response(const http::ClientResponse& response, size_t n_texts, std::vector<double>& scores,
                           bool& retryable) {
  retryable = true;
  if (response.status == 0) return "transport error: " + response.error;
  if (response.status != 200) {
    retryable = retryable_status(response.status);
    std::string snippet = response.body.substr(0, 200);
    return "HTTP " + std::to_string(response.status) + (snippet.empty() ? "" : ": " + snippet);
  }
  auto parsed = parse_classify_response(response.body, n_texts);
  if (!parsed.is_ok()) return parsed.status().message();
  scores = std::move(parsed).value();
  return "";
}

void sleep_before_round(int round, const RmEndpointOptions& options) {
  if (round == 0) return;
  double seconds =
      std::min(options.backoff_max_seconds, options.backoff_initial_seconds * std::pow(2.0, round - 1));
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

}  // namespace

Status validate(const RmEndpointOptions& options) {
  if (options.urls.empty()) return invalid_argument("urls is empty; give at least one reward server URL");
  for (size_t i = 0; i < options.urls.size(); ++i) {
    const std::string& url = options.urls[i];
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      return invalid_argument("urls[" + std::to_string(i) + "] '" + url +
                              "' must start with http:// or https://");
    }
  }
  if (options.pairs_per_request < 1) return invalid_argument("pairs_per_request must be >= 1");
  if (options.max_concurrency < 1) return invalid_argument("max_concurrency must be >= 1");
  if (options.max_retries < 0) return invalid_argument("max_retries must be >= 0");
  if (!(options.timeout_seconds > 0)) return invalid_argument("timeout_seconds must be > 0");
  if (!(options.backoff_initial_seconds >= 0) || !(options.backoff_max_seconds >= 0)) {
    return invalid_argument("backoff_initial_seconds and backoff_max_seconds must be >= 0");
  }
  return Status::ok();
}

std::string classify_request_body(const std::string& model, const std::vector<const std::string*>& texts) {
  std::string body = "{";
  if (!model.empty()) {
    body += "\"model\":";
    text::append_json_string(body, model);
    body += ",";
  }
  body += "\"text\":[";
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i) body += ",";
    text::append_json_string(body, *texts[i]);
  }
  body += "]}";
  return body;
}

Result<std::vector<double>> parse_classify_response(std::string_view body, size_t n_texts) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(body.data(), body.size()).get(root)) {
    return data_error(std::string("classify response is not valid JSON: ") + simdjson::error_message(error));
  }
  simdjson::dom::array items;
  if (root.get_array().get(items)) return data_error("classify response is not a JSON array");
  if (items.size() != n_texts) {
    return data_error("classify response has " + std::to_string(items.size()) + " results for " +
                      std::to_string(n_texts) + " texts");
  }
  std::vector<double> scores;
  scores.reserve(n_texts);
  size_t index = 0;
  for (simdjson::dom::element item : items) {
    const std::string where = "classify response [" + std::to_string(index++) + "]";
    simdjson::dom::array embedding;
    if (item["embedding"].get_array().get(embedding) || embedding.size() == 0) {
      return data_error(where + " has no non-empty 'embedding' list");
    }
    double score = 0;
    if (embedding.at(0).get_double().get(score)) {
      int64_t integer = 0;
      if (embedding.at(0).get_int64().get(integer))
        return data_error(where + ": embedding[0] is not a number");
      score = static_cast<double>(integer);
    }
    scores.push_back(score);
  }
  return scores;
}

std::vector<RmScore> score_pairs(const std::vector<PairTexts>& pairs, const RmEndpointOptions& options,
                                 RmFleetStats* stats) {
  SP_CHECK(validate(options).is_ok());
  const size_t n_endpoints = options.urls.size();
  std::vector<RmScore> results(pairs.size());
  RmFleetStats local;
  local.requests_per_endpoint.assign(n_endpoints, 0);

  std::vector<Batch> pending;
  const size_t per_request = static_cast<size_t>(options.pairs_per_request);
  for (size_t begin = 0; begin < pairs.size(); begin += per_request) {
    Batch batch;
    batch.begin = begin;
    batch.end = std::min(pairs.size(), begin + per_request);
    batch.next_endpoint = pending.size() % n_endpoints;  // round-robin over batches
    pending.push_back(batch);
  }

  for (int round = 0; !pending.empty(); ++round) {
    sleep_before_round(round, options);
    std::vector<http::ClientRequest> requests;
    for (Batch& batch : pending) {
      std::vector<const std::string*> texts;
      for (size_t i = batch.begin; i < batch.end; ++i) {
        texts.push_back(&pairs[i].chosen);
        texts.push_back(&pairs[i].rejected);
      }
      http::ClientRequest request;
      request.url = endpoint_url(options.urls[batch.next_endpoint]);
      request.body = classify_request_body(options.model, texts);
      request.headers = {{"Content-Type", "application/json"}};
      request.timeout_seconds = options.timeout_seconds;
      requests.push_back(std::move(request));
      batch.last_endpoint = batch.next_endpoint;
      ++local.requests_per_endpoint[batch.next_endpoint];
      ++batch.attempts;
    }
    local.requests += static_cast<int64_t>(requests.size());
    if (round > 0) local.retries += static_cast<int64_t>(requests.size());
    std::vector<http::ClientResponse> responses = http::perform_all(requests, {options.max_concurrency});

    std::vector<Batch> retry;
    for (size_t b = 0; b < pending.size(); ++b) {
      Batch& batch = pending[b];
      std::vector<double> scores;
      bool retryable = false;
      std::string error = check_response(responses[b], 2 * (batch.end - batch.begin), scores, retryable);
      const std::string& url = options.urls[batch.last_endpoint];
      for (size_t i = batch.begin; i < batch.end; ++i) {
        RmScore& score = results[i];
        score.attempts = batch.attempts;
        score.endpoint = url;
        if (!error.empty()) continue;
        score.chosen = scores[2 * (i - batch.begin)];
        score.rejected = scores[2 * (i - batch.begin) + 1];
        score.ok = std::isfinite(score.chosen) && std::isfinite(score.rejected);
        score.error = score.ok ? "" : "the server returned a non-finite score";
      }
      if (error.empty()) continue;
      if (retryable && batch.attempts <= options.max_retries) {
        batch.next_endpoint = (batch.last_endpoint + 1) % n_endpoints;
        retry.push_back(batch);
        continue;
      }
      for (size_t i = batch.begin; i < batch.end; ++i) {
        results[i].error = url + ": " + error + " (after " + std::to_string(batch.attempts) + " attempt" +
                           (batch.attempts == 1 ? "" : "s") + ")";
      }
    }
    pending = std::move(retry);
  }
  for (const RmScore& score : results) local.failed_pairs += score.ok ? 0 : 1;
  if (stats) *stats = std::move(local);
  return results;
}

}  // namespace synpref::curate
