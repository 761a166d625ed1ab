// The judge config file (format in docs/judge.md): JSON, every field checked and every error
// naming the file and the field ("judges.json: endpoints[1].max_concurrency must be >= 1").
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "synpref/judge/client.h"

namespace synpref::judge {

namespace {

using nlohmann::json;

// Reads an optional field of `object` into `out` (left unchanged when absent), refusing a wrong
// type or an unknown field name elsewhere. `path` is the field's location ("endpoints[0]").
class FieldReader {
 public:
  FieldReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  std::string where(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  Status string(const std::string& key, std::string& out, bool required = false) {
    seen_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
      if (required) return not_found(where(key) + " is required");
      return Status::ok();
    }
    if (!it->is_string()) return data_error(where(key) + " must be a string");
    out = it->get<std::string>();
    if (required && out.empty()) return invalid_argument(where(key) + " must not be empty");
    return Status::ok();
  }
  Status number(const std::string& key, double& out) {
    seen_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return Status::ok();
    if (!it->is_number()) return data_error(where(key) + " must be a number");
    out = it->get<double>();
    if (!std::isfinite(out)) return data_error(where(key) + " must be finite");
    return Status::ok();
  }
  Status integer(const std::string& key, int& out) {
    seen_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return Status::ok();
    if (!it->is_number_integer()) return data_error(where(key) + " must be an integer");
    out = it->get<int>();
    return Status::ok();
  }
  Status boolean(const std::string& key, bool& out) {
    seen_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return Status::ok();
    if (!it->is_boolean()) return data_error(where(key) + " must be true or false");
    out = it->get<bool>();
    return Status::ok();
  }
  void skip(const std::string& key) { seen_.insert(key); }
  // A misspelt field would silently keep its default: refuse names we do not know.
  Status no_unknown_fields() const {
    for (auto it = object_.begin(); it != object_.end(); ++it)
      if (!seen_.count(it.key())) return invalid_argument(where(it.key()) + " is not a known field");
    return Status::ok();
  }

 private:
  const json& object_;
  std::string path_;
  std::set<std::string> seen_;
};

Result<Endpoint> read_endpoint(const json& value, const std::string& path) {
  if (!value.is_object()) return data_error(path + " must be an object");
  Endpoint e;
  FieldReader r(value, path);
  SP_RETURN_IF_ERROR(r.string("name", e.name, true));
  SP_RETURN_IF_ERROR(r.string("base_url", e.base_url, true));
  SP_RETURN_IF_ERROR(r.string("model", e.model, true));
  SP_RETURN_IF_ERROR(r.string("api_key_env", e.api_key_env));
  SP_RETURN_IF_ERROR(r.integer("max_concurrency", e.max_concurrency));
  SP_RETURN_IF_ERROR(r.number("requests_per_second", e.requests_per_second));
  SP_RETURN_IF_ERROR(r.number("timeout_seconds", e.timeout_seconds));
  SP_RETURN_IF_ERROR(r.integer("max_retries", e.max_retries));
  SP_RETURN_IF_ERROR(r.boolean("json_schema", e.json_schema));
  SP_RETURN_IF_ERROR(r.boolean("logprobs", e.logprobs));
  SP_RETURN_IF_ERROR(r.number("usd_per_million_prompt_tokens", e.usd_per_million_prompt_tokens));
  SP_RETURN_IF_ERROR(r.number("usd_per_million_completion_tokens", e.usd_per_million_completion_tokens));
  SP_RETURN_IF_ERROR(r.no_unknown_fields());
  return e;
}

Status validate_endpoint(const Endpoint& e, const std::string& path) {
  if (e.name.empty()) return not_found(path + ".name is required");
  if (e.base_url.empty()) return not_found(path + ".base_url is required");
  if (!e.base_url.starts_with("http://") && !e.base_url.starts_with("https://"))
    return invalid_argument(path + ".base_url must start with http:// or https:// (got \"" + e.base_url +
                            "\")");
  if (e.model.empty()) return not_found(path + ".model is required");
  if (e.max_concurrency < 1 || e.max_concurrency > 4096)
    return invalid_argument(path + ".max_concurrency must be in [1, 4096]");
  if (!(e.requests_per_second >= 0)) return invalid_argument(path + ".requests_per_second must be >= 0");
  if (!(e.timeout_seconds > 0)) return invalid_argument(path + ".timeout_seconds must be > 0");
  if (e.max_retries < 0 || e.max_retries > 100)
    return invalid_argument(path + ".max_retries must be in [0, 100]");
  if (!(e.usd_per_million_prompt_tokens >= 0) || !(e.usd_per_million_completion_tokens >= 0))
    return invalid_argument(path + ": token prices must be >= 0");
  return Status::ok();
}

}  // namespace

Status validate_config(const Config& config) {
  if (config.endpoints.empty()) return not_found("endpoints must list at least one endpoint");
  std::set<std::string> names;
  for (size_t idx = 0; idx < config.endpoints.size(); ++idx) {
    std::string path = "endpoints[" + std::to_string(idx) + "]";
    SP_RETURN_IF_ERROR(validate_endpoint(config.endpoints[idx], path));
    if (!names.insert(config.endpoints[idx].name).second)
      return invalid_argument(path + ".name \"" + config.endpoints[idx].name +
                              "\" is used by an earlier endpoint; names must be unique");
  }
  if (!(config.budget_usd >= 0)) return invalid_argument("budget_usd must be >= 0");
  if (!(config.backoff_initial_seconds >= 0)) return invalid_argument("backoff_initial_seconds must be >= 0");
  if (!(config.backoff_max_seconds >= config.backoff_initial_seconds))
    return invalid_argument("backoff_max_seconds must be >= backoff_initial_seconds");
  return Status::ok();
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open the judge config file");
  std::stringstream text;
  text << in.rdbuf();
  json root = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return data_error(path + ": not valid JSON");
  if (!root.is_object()) return data_error(path + ": the top level must be an object");

  Config config;
  FieldReader r(root, "");
  auto located = [&](const Status& s) { return s.with_context(path); };
  r.skip("endpoints");
  auto endpoints = root.find("endpoints");
  if (endpoints == root.end()) return not_found(path + ": endpoints is required");
  if (!endpoints->is_array()) return data_error(path + ": endpoints must be an array");
  for (size_t idx = 0; idx < endpoints->size(); ++idx) {
    auto endpoint = read_endpoint((*endpoints)[idx], "endpoints[" + std::to_string(idx) + "]");
    if (!endpoint.is_ok()) return located(endpoint.status());
    config.endpoints.push_back(std::move(endpoint).value());
  }
  Status s = r.number("budget_usd", config.budget_usd);
  if (s.is_ok()) s = r.string("cache_path", config.cache_path);
  if (s.is_ok()) s = r.number("backoff_initial_seconds", config.backoff_initial_seconds);
  if (s.is_ok()) s = r.number("backoff_max_seconds", config.backoff_max_seconds);
  if (s.is_ok()) s = r.no_unknown_fields();
  if (s.is_ok()) s = validate_config(config);
  if (!s.is_ok()) return located(s);
  // A relative cache path belongs with the config that names it, not with the working folder.
  std::filesystem::path cache(config.cache_path);
  if (!config.cache_path.empty() && cache.is_relative())
    config.cache_path = (std::filesystem::path(path).parent_path() / cache).string();
  return config;
}

}  // namespace synpref::judge
