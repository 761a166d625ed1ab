// synpref/judge/client.h: LLM judges behind OpenAI-compatible /v1/chat/completions servers (vLLM,
// sglang, llama.cpp server, OpenAI, or `synpref judge-sim`).
//
//   SP_ASSIGN_OR_RETURN(judge::Config config, judge::load_config("judges.json"));
//   SP_ASSIGN_OR_RETURN(auto client, judge::Client::create(config));
//   std::vector<judge::ChatRequest> requests = ...;      // endpoint name + messages + n
//   std::vector<judge::ChatResult> results = client->run(requests);   // results[i] answers requests[i]
//
// What the client guarantees (docs/judge.md has the config format and the policies in full):
//  - A ChatResult is either ok with exactly n samples, each a real choice returned by the server
//    (or the cache), or failed with a Status saying why (retries exhausted on 429/5xx/timeouts/
//    transport errors, unparseable answers, budget spent, unknown endpoint). Never invented content,
//    never a duplicated sample: when a server returns fewer choices than asked, only the missing
//    ones are asked again.
//  - Per-endpoint limits: at most max_concurrency requests in flight, at most requests_per_second
//    started per second; retries back off exponentially with jitter and honour Retry-After.
//  - Budget: an HTTP attempt that would start after budget_usd is spent fails with
//    StatusCode::interrupted ("judge budget ... spent"); spending exceeds the cap by at most the
//    requests already in flight.
//  - API keys are read from the environment variable named in the endpoint and sent as
//    "Authorization: Bearer <key>"; they never appear in a Status message or anything returned.
//  - The cache (SQLite, WAL) stores each sample under (model, prompt_hash, sample index) as soon
//    as its response arrives; a rerun of the same requests makes no HTTP call, and a process
//    killed mid-run loses at most the responses in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::judge {

struct Endpoint {           // one judge model behind an OpenAI-compatible server
  std::string name;         // label used in provenance ("qwen3-32b@vllm-a"); unique
  std::string base_url;     // ".../v1"; the client POSTs base_url + "/chat/completions"
  std::string model;        // "model" field sent
  std::string api_key_env;  // name of the env var holding the key ("" = no auth); never logged
  int max_concurrency = 8;
  double requests_per_second = 0;  // 0 = unlimited
  double timeout_seconds = 120;
  int max_retries = 4;       // on 429, 5xx, timeouts, transport errors, unparseable bodies
  bool json_schema = false;  // server supports response_format json_schema
  bool logprobs = false;     // server returns logprobs when asked
  double usd_per_million_prompt_tokens = 0, usd_per_million_completion_tokens = 0;
};

struct Config {
  std::vector<Endpoint> endpoints;
  double budget_usd = 0;   // 0 = no cap
  std::string cache_path;  // SQLite file; "" = no cache
  // Backoff before retry k (k = 1, 2, ...): min(backoff_max_seconds,
  // backoff_initial_seconds * 2^(k-1)) scaled by a random factor in [0.5, 1.0]; a Retry-After
  // header (seconds) from a 429/503 is honoured when longer.
  double backoff_initial_seconds = 0.5, backoff_max_seconds = 30;
};

// Reads a JSON config file (format in docs/judge.md). Errors name the file and the field
// ("judges.json: endpoints[2].base_url is required").
Result<Config> load_config(const std::string& path);
// Checks a Config built in code: the same rules load_config applies.
Status validate_config(const Config& config);

struct Message {
  std::string role, content;
};

struct ChatRequest {
  std::string endpoint;  // Endpoint::name
  std::vector<Message> messages;
  int n = 1;
  double temperature = 0;
  int max_tokens = 1024;
  std::string json_schema;  // "" = none; a JSON Schema text, sent when the endpoint supports it
};

struct Sample {  // one choice
  std::string content;
  std::optional<double> logprob;  // sum of the token logprobs, when the server returned them
  std::string finish_reason;      // as the server sent it ("stop", "length", ...); "" if absent
};

struct ChatResult {
  Status status;                // ok, or why no answer (retries exhausted, budget, HTTP error)
  std::vector<Sample> samples;  // size n when ok (sample index = position)
  bool cached = false;          // every sample came from the cache
  int64_t prompt_tokens = 0, completion_tokens = 0;  // this request's HTTP calls (0 when cached)
  double cost_usd = 0;
  std::string prompt_hash;  // hex XXH3-128 of (model, messages, temperature, max_tokens, json_schema)
  int http_calls = 0;       // attempts made for this request, retries included
};

struct Usage {
  int64_t requests = 0;               // HTTP attempts made
  int64_t cached = 0;                 // ChatRequests answered wholly from the cache
  int64_t retries = 0, failures = 0;  // failures = ChatResults that ended failed
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double cost_usd = 0;
};

// The hash that keys the cache (exposed so provenance can record it before a request runs).
std::string prompt_hash(const std::string& model, const ChatRequest& request);

class Client {
 public:
  // Validates the config and opens (creating if needed) the cache. Keys are read from the
  // environment here; a missing variable is an error naming the variable, never its value.
  static Result<std::unique_ptr<Client>> create(const Config& config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs all requests concurrently within each endpoint's limits; results in request order.
  // The cache is keyed by (model, prompt_hash, sample index): a rerun costs no new call.
  // `progress` is called from the calling thread as requests finish. Thread-safe.
  std::vector<ChatResult> run(const std::vector<ChatRequest>& requests,
                              const std::function<void(size_t done, size_t total)>& progress = {});
  Usage usage() const;  // since create(), per client
  const Config& config() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace synpref::judge
