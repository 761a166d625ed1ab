// `synpref serve`: the reward server (synpref/serve/server.h) for RLHF trainers. Flags map to
// ServeOptions fields; SIGINT/SIGTERM stop it gracefully (in-flight requests are answered first).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "command.h"
#include "synpref/serve/server.h"

namespace synpref::cli {
namespace {

struct ServeFlags {
  serve::ServeOptions options;
  std::string api_key_env;
};

// Field names in library errors -> the flags that set them.
Status with_flag_names(Status status) {
  static const std::pair<const char*, const char*> kFlags[] = {
      {"max_tokens_per_batch", "--max-batch-tokens"},
      {"max_queue", "--max-queue"},
      {"max_items", "--max-items"},
      {"max_request_tokens", "--max-request-tokens"},
      {"max_body_bytes", "--max-body-bytes"},
      {"request_timeout_seconds", "--timeout"},
      {"http_threads", "--http-threads"},
      {"max_length", "--max-length"},
      {"truncation", "--truncation"},
      {"port", "--port"},
  };
  if (status.is_ok()) return status;
  for (const auto& [field, flag] : kFlags)
    if (status.message().find(field) != std::string::npos)
      return Status(status.code(), status.message() + " (set with " + flag + ")");
  return status;
}

Status run_serve(ServeFlags& f) {
  // SIGINT/SIGTERM are taken by sigwait below: block them before any thread exists so that every
  // thread inherits the mask and the signal reaches the waiting main thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  serve::ServeOptions options = f.options;
  if (!f.api_key_env.empty()) {
    const char* key = std::getenv(f.api_key_env.c_str());
    if (key == nullptr || *key == 0)
      return not_found("environment variable " + f.api_key_env + " (--api-key-env) is not set");
    options.api_key = key;  // never printed
  }
  auto opened = serve::RewardServer::open(options);
  if (!opened.is_ok()) return with_flag_names(opened.status());
  std::unique_ptr<serve::RewardServer> server = std::move(opened).value();

  // First line of stdout: where to connect (tests and scripts read it).
  std::printf("listening on http://%s:%d\n", options.host.c_str(), server->port());
  std::fflush(stdout);
  if (!global_options().quiet) {
    std::fprintf(stderr,
                 "serve: model %s; %d engine threads, %lld tokens per batch, queue %lld sequences, %s; "
                 "POST /get_reward /classify /pooling /v1/score, GET /health /metrics\n",
                 server->model_name().c_str(), options.scorer.n_threads,
                 static_cast<long long>(options.scorer.max_tokens_per_batch),
                 static_cast<long long>(options.max_queue),
                 options.api_key.empty() ? "no authentication" : "bearer authentication");
  }

  Status served;
  const pthread_t main_thread = pthread_self();
  std::thread runner([&] {
    served = server->run();
    if (!served.is_ok()) pthread_kill(main_thread, SIGTERM);  // wake the waiting main thread
  });
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  if (!global_options().quiet) std::fprintf(stderr, "serve: stopping (answering in-flight requests)\n");
  server->stop();
  runner.join();
  SP_RETURN_IF_ERROR(served);

  const serve::ServeStats s = server->stats();
  const nlohmann::ordered_json j = {{"command", "serve"},
                                    {"requests", s.requests},
                                    {"rejected_queue_full", s.rejected_full},
                                    {"timed_out", s.timed_out},
                                    {"batches", s.batches},
                                    {"sequences", s.sequences},
                                    {"tokens", s.tokens},
                                    {"max_batch_requests", s.max_batch_requests}};
  if (global_options().json)
    std::printf("%s\n", j.dump().c_str());
  else
    std::fprintf(
        stderr,
        "serve: stopped after %llu requests (%llu sequences in %llu batches, %llu refused: queue full)\n",
        static_cast<unsigned long long>(s.requests), static_cast<unsigned long long>(s.sequences),
        static_cast<unsigned long long>(s.batches), static_cast<unsigned long long>(s.rejected_full));
  return Status::ok();
}

void add(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  serve::ServeOptions& o = f->options;
  score::ScorerOptions& so = o.scorer;
  auto* cmd = app.add_subcommand(
      "serve",
      "Serve a reward model over HTTP for RLHF trainers: OpenRLHF POST /get_reward, sglang POST /classify, "
      "vLLM POST /pooling, native POST /v1/score, GET /health /metrics; dynamic batching across requests, "
      "scores bitwise equal to `synpref score`; prints 'listening on http://HOST:PORT' first; stops "
      "gracefully on SIGINT/SIGTERM");
  cmd->add_option("--model", so.model_dir, "Hugging Face reward-model folder (weights + tokenizer)")
      ->required();
  cmd->add_option("--host", o.host, "Address to bind")->capture_default_str();
  cmd->add_option("--port", o.port, "Port (0 = any free port)")->capture_default_str();
  cmd->add_option("--threads", so.n_threads, "Engine threads (default: all)");
  cmd->add_option("--http-threads", o.http_threads, "Connection threads (>= the clients' total concurrency)")
      ->capture_default_str();
  cmd->add_option("--max-batch-tokens", so.max_tokens_per_batch,
                  "Token rows per engine call, packed across requests")
      ->capture_default_str();
  cmd->add_option("--max-queue", o.max_queue,
                  "Sequences queued or being scored; a request that does not fit gets 429 + Retry-After")
      ->capture_default_str();
  cmd->add_option("--max-items", o.max_items, "Sequences per request (more: 413)")->capture_default_str();
  cmd->add_option("--max-request-tokens", o.max_request_tokens, "Tokens per request (more: 413)")
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", o.max_body_bytes, "Request body bytes (more: 413)")
      ->capture_default_str();
  cmd->add_option("--timeout", o.request_timeout_seconds,
                  "Seconds a request may wait and be scored before it gets 504")
      ->capture_default_str();
  cmd->add_option("--api-key-env", f->api_key_env,
                  "Require 'Authorization: Bearer KEY' with KEY read from this environment variable "
                  "(/health stays open)");
  cmd->add_option("--model-name", o.model_name,
                  "Name reported by /pooling and /v1/models (default: folder name)");
  cmd->add_option("--max-length", so.input.max_length, "Longest sequence in tokens (default 16384)");
  cmd->add_option("--truncation", so.input.truncation,
                  "Records over max-length (/v1/score): error (default), skip, truncate-left");
  cmd->add_option("--date", so.input.date, "Date seen by chat templates (YYYY-MM-DD), for reproducibility");
  cmd->add_option("--chat-template", so.input.chat_template_file,
                  "Jinja file overriding the tokenizer's template");
  cmd->callback([f] { synpref::cli::set_action([f] { return run_serve(*f); }); });
}
SYNPREF_COMMAND(410, add);

}  // namespace
}  // namespace synpref::cli
