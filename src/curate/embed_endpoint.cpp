// src/curate/embed_endpoint.cpp: the OpenAI-compatible /v1/embeddings embedder (retrieval.h).
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "synpref/curate/retrieval.h"
#include "synpref/http/client.h"

namespace synpref::curate {

std::string conversation_text(const data::Record& record) {
  std::string text;
  for (const data::Turn& turn : record.context) {
    if (!text.empty()) text += "\n\n";
    text += std::string(data::role_name(turn.role)) + ": " + turn.content;
  }
  return text;
}

namespace {

using nlohmann::json;

bool retryable(const http::ClientResponse& r) {
  return r.status == 0 || r.status == 429 || r.status >= 500;
}

// Parses {"data": [{"index": i, "embedding": [...]}]} into `out` (n vectors, each of `dim` floats
// when dim > 0). Errors name the field.
Status parse_embeddings(const std::string& body, size_t n, int64_t dim,
                        std::vector<std::vector<float>>& out) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return data_error("the response is not a JSON object");
  auto data = j.find("data");
  if (data == j.end() || !data->is_array()) return data_error("`data` must be a list");
  if (data->size() != n)
    return data_error("`data` has " + std::to_string(data->size()) + " entries for " + std::to_string(n) +
                      " inputs");
  out.assign(n, {});
  for (size_t i = 0; i < n; ++i) {
    const json& item = (*data)[i];
    const size_t index =
        item.contains("index") && item["index"].is_number_unsigned() ? item["index"].get<size_t>() : i;
    if (index >= n || !out[index].empty())
      return data_error("`data[" + std::to_string(i) + "].index` is out of range or repeated");
    auto e = item.find("embedding");
    if (e == item.end() || !e->is_array() || e->empty())
      return data_error("`data[" + std::to_string(i) + "].embedding` must be a non-empty list of numbers");
    for (const json& x : *e) {
      if (!x.is_number()) return data_error("`data[" + std::to_string(i) + "].embedding` holds a non-number");
      out[index].push_back(x.get<float>());
    }
    if (dim > 0 && static_cast<int64_t>(out[index].size()) != dim)
      return data_error("`data[" + std::to_string(i) + "].embedding` has " +
                        std::to_string(out[index].size()) + " floats, expected " + std::to_string(dim));
  }
  return Status::ok();
}

class EndpointEmbedder final : public Embedder {
 public:
  explicit EndpointEmbedder(EmbeddingEndpointOptions options) : options_(std::move(options)) {}
  const std::string& name() const override { return options_.model; }
  int64_t dim() const override { return dim_; }

  Result<std::vector<std::vector<float>>> embed(const std::vector<data::Record>& records) override {
    std::vector<std::string> texts;
    for (const auto& r : records) texts.push_back(conversation_text(r));
    return embed_texts(texts);
  }

  Result<std::vector<std::vector<float>>> embed_texts(const std::vector<std::string>& texts) {
    const size_t batch = static_cast<size_t>(options_.batch);
    const size_t n_requests = (texts.size() + batch - 1) / batch;
    std::vector<std::vector<float>> out(texts.size());
    std::vector<size_t> pending(n_requests);
    for (size_t i = 0; i < n_requests; ++i) pending[i] = i;
    for (int attempt = 0; !pending.empty(); ++attempt) {
      std::vector<http::ClientRequest> requests;
      for (size_t r : pending) {
        json body = {{"model", options_.model}, {"input", json::array()}};
        for (size_t i = r * batch; i < std::min(texts.size(), (r + 1) * batch); ++i)
          body["input"].push_back(texts[i]);
        http::ClientRequest req;
        req.url = options_.base_url + "/embeddings";
        req.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
        req.headers = {{"Content-Type", "application/json"}};
        if (!key_.empty()) req.headers.push_back({"Authorization", "Bearer " + key_});
        req.timeout_seconds = options_.timeout_seconds;
        requests.push_back(std::move(req));
      }
      auto responses = http::perform_all(requests, {.max_concurrency = options_.max_concurrency});
      std::vector<size_t> again;
      for (size_t i = 0; i < pending.size(); ++i) {
        const size_t r = pending[i];
        const http::ClientResponse& resp = responses[i];
        const std::string where = options_.base_url + "/embeddings";
        if (resp.status != 200) {
          if (retryable(resp) && attempt < options_.max_retries) {
            again.push_back(r);
            continue;
          }
          return io_error(where + ": " + (resp.status ? "HTTP " + std::to_string(resp.status) : resp.error) +
                          " after " + std::to_string(attempt + 1) + " attempt(s)");
        }
        const size_t first = r * batch, count = std::min(texts.size(), (r + 1) * batch) - first;
        std::vector<std::vector<float>> got;
        Status parsed = parse_embeddings(resp.body, count, dim_, got);
        if (!parsed.is_ok()) return parsed.with_context(where);
        if (dim_ == 0) dim_ = static_cast<int64_t>(got[0].size());
        for (size_t j = 0; j < count; ++j) {
          if (static_cast<int64_t>(got[j].size()) != dim_)
            return data_error(where + ": embeddings of different lengths in one response");
          out[first + j] = std::move(got[j]);
        }
      }
      pending = std::move(again);
      if (!pending.empty())
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
    }
    return out;
  }

  Status init() {
    if (!options_.api_key_env.empty()) {
      const char* key = std::getenv(options_.api_key_env.c_str());
      if (!key || !*key)
        return invalid_argument("environment variable " + options_.api_key_env + " (api_key_env) is not set");
      key_ = key;
    }
    // The dimension, from one probe text.
    SP_ASSIGN_OR_RETURN(auto probe, embed_texts({"user: dimension probe"}));
    dim_ = static_cast<int64_t>(probe[0].size());
    return Status::ok();
  }

 private:
  EmbeddingEndpointOptions options_;
  std::string key_;
  int64_t dim_ = 0;
};

}  // namespace

Result<std::unique_ptr<Embedder>> open_endpoint_embedder(const EmbeddingEndpointOptions& options) {
  if (options.base_url.empty()) return invalid_argument("base_url is required");
  if (options.model.empty()) return invalid_argument("model is required");
  if (options.batch < 1) return invalid_argument("batch must be >= 1");
  if (options.max_concurrency < 1) return invalid_argument("max_concurrency must be >= 1");
  if (options.max_retries < 0) return invalid_argument("max_retries must be >= 0");
  auto embedder = std::make_unique<EndpointEmbedder>(options);
  SP_RETURN_IF_ERROR(embedder->init());
  return std::unique_ptr<Embedder>(std::move(embedder));
}

}  // namespace synpref::curate
