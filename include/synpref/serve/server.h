// synpref/serve/server.h: the reward server (`synpref serve`): the engine behind the HTTP APIs RLHF
// trainers already call.
//
//   auto server = synpref::serve::RewardServer::open(options);   // loads the model, binds the port
//   std::thread t([&] { (*server)->run(); });                     // serves until stop()
//   ... (*server)->port() ...; (*server)->stop(); t.join();
//
// Endpoints (docs/serve.md has the request and response shapes):
//   POST /get_reward  OpenRLHF's remote reward model: {"query": [...], "prompts": [...], "labels": [...]}
//                     -> {"rewards", "scores", "extra_logs"}. Queries are rendered conversations
//                     (special tokens written out), padding cut, encoded with the BOS rule of
//                     encode::RmInputBuilder::encode_rendered; queries sharing a prompt share its prefix.
//   POST /classify    sglang: {"text": str | [str]} or {"input_ids": [[...]]} -> [{"embedding": [r], ...}]
//   POST /pooling     vLLM: {"input": str | [str] | [[ids]]} -> {"data": [{"index", "object", "data": [r]}]}
//   POST /v1/score    native: {"records": [...]} (any record format `synpref score` reads: pairs,
//                     best-of-N response sets) or {"conversations": [[turns]]} -> the lines `synpref
//                     score` writes for the same records, byte for byte.
//   GET  /health, GET /metrics (Prometheus text format), GET /v1/models.
//
// Guarantees:
//  - Scores are the offline engine's, bitwise, however requests are batched together: requests queue
//    their sequences, one batching thread packs them across requests under `max_batch_tokens` and
//    the engine is batch-invariant (synpref/model/model.h).
//  - The queue is bounded (`max_queue` sequences): a request that does not fit is answered at once
//    with 429 and Retry-After, never held; a request not answered within `request_timeout_seconds`
//    gets 504 and its remaining work is dropped.
//  - Limits (body bytes, items per request, tokens per item and per request) are 4xx JSON errors
//    naming the field; malformed bodies are 400s, never a crash.
//  - With an API key set, every endpoint but /health requires "Authorization: Bearer <key>" (401
//    otherwise); the key is never logged or echoed.
//  - stop() is graceful: the listener closes, every accepted request is answered, then run() returns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "synpref/common/status.h"
#include "synpref/score/scorer.h"

namespace synpref::serve {

struct ServeOptions {
  // The model, its input settings (max_length, truncation, date, chat template), engine threads
  // (n_threads) and the engine's rows per forward pass (max_tokens_per_batch: the batcher's token
  // budget per batch).
  score::ScorerOptions scorer;
  std::string host = "127.0.0.1";
  int port = 8000;                       // 0 = any free port (see port())
  int http_threads = 64;                 // connection threads: >= the clients' total concurrency
  uint64_t max_body_bytes = 32u << 20;   // larger bodies: 413
  int64_t max_queue = 4096;              // sequences waiting or being scored (>= max_items)
  int64_t max_items = 1024;              // sequences in one request
  int64_t max_request_tokens = 1 << 20;  // tokens of one request (each prefix counted once)
  double request_timeout_seconds = 120;  // queue wait + scoring, per request (> 0)
  std::string api_key;                   // "" = no authentication
  std::string model_name;                // reported by the OpenAI-style endpoints; "" = folder name

  // Field errors: "max_queue must be >= max_items", ...
  Status validate() const;
};

// Counters since open(), for logs and tests.
struct ServeStats {
  uint64_t requests = 0;            // answered, any status
  uint64_t rejected_full = 0;       // 429: the queue was full
  uint64_t timed_out = 0;           // 504
  uint64_t batches = 0;             // engine calls
  uint64_t sequences = 0;           // sequences scored
  uint64_t tokens = 0;              // tokens forwarded (prefixes once)
  uint64_t max_batch_requests = 0;  // most requests whose sequences shared one engine call
};

class RewardServer {
 public:
  // Opens the scorer (model, tokenizer, chat template: errors as score::Scorer::open) and binds the
  // socket, so port() is known before run(). Errors: invalid options (by field name), address in use.
  static Result<std::unique_ptr<RewardServer>> open(const ServeOptions& options);
  ~RewardServer();
  RewardServer(const RewardServer&) = delete;
  RewardServer& operator=(const RewardServer&) = delete;

  int port() const;
  const std::string& model_name() const;
  // Serves until stop(); returns ok after a graceful stop (every accepted request answered).
  Status run();
  // Thread-safe, idempotent; returns at once (run() returns when in-flight requests are done).
  void stop();
  ServeStats stats() const;

  struct Impl;

 private:
  explicit RewardServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace synpref::serve
