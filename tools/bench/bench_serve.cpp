// Reward-server workload: `synpref serve` (in process, loopback HTTP) against offline `synpref score`
// on the same records, with the project's bounded batch client (libcurl, a concurrency cap).
//   serve.throughput  records/s and tokens/s offline (score::score_file, what `synpref score` runs)
//                     and through POST /v1/score at concurrency 1, 16 and 64; p50/p99 request
//                     latency; the server's share of the offline rate. Every answer must be a 200
//                     whose result lines are byte for byte the offline output lines (else the
//                     workload fails). Params: preset=qwen3-0.6b layers=2 records=64
//                     per_request=4 threads=2 max_batch_tokens=4096.
// The model has the preset's shapes (its first `layers` layers), random bf16 weights and the real
// Qwen3 tokenizer (../shared/data/tokenizers/qwen3); it is written once under $TMPDIR.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench.h"
#include "synpref/common/io.h"
#include "synpref/http/client.h"
#include "synpref/model/init.h"
#include "synpref/score/scorer.h"
#include "synpref/serve/server.h"

namespace synpref::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string tmp_root() {
  const char* tmp = std::getenv("TMPDIR");
  return (fs::path(tmp ? tmp : "/tmp") / "synpref-bench-serve").string();
}

std::string tokenizer_dir() {
  for (const char* candidate : {"../shared/data/tokenizers/qwen3", "shared/data/tokenizers/qwen3"})
    if (fs::exists(fs::path(candidate) / "tokenizer.json")) return candidate;
  return "../shared/data/tokenizers/qwen3";
}

// A Qwen3 reward model with the preset's shapes cut to `n_layer` layers and the Qwen3 tokenizer.
Result<std::string> bench_model(const std::string& preset, int64_t n_layer) {
  const std::string dir = tmp_root() + "/" + preset + "-" + std::to_string(n_layer) + "layers-bf16";
  if (fs::exists(fs::path(dir) / "model.safetensors") && fs::exists(fs::path(dir) / "tokenizer.json"))
    return dir;
  SP_ASSIGN_OR_RETURN(model::TokenizerFacts facts, model::inspect_tokenizer_dir(tokenizer_dir()));
  SP_ASSIGN_OR_RETURN(
      model::ModelConfig config,
      model::preset_config(model::Family::qwen3, preset, model::HeadKind::score, facts.vocab_size));
  config.n_layer = n_layer;
  if (facts.pad_token_id) config.pad_token_id = facts.pad_token_id;
  if (facts.eos_token_id) config.eos_token_id = facts.eos_token_id;
  model::InitOptions options;
  options.dtype = model::DType::BF16;
  std::fprintf(stderr, "writing %s (first run only)...\n", dir.c_str());
  const std::string partial = dir + ".partial";
  fs::remove_all(partial);
  SP_RETURN_IF_ERROR(model::write_random_model(config, options, partial));
  SP_RETURN_IF_ERROR(model::copy_tokenizer_files(tokenizer_dir(), facts, partial));
  fs::rename(partial, dir);
  return dir;
}

// Deterministic pairs: a ~60-token question, a ~30-token chosen and a ~15-token rejected answer.
std::vector<nlohmann::json> make_records(int n) {
  std::vector<nlohmann::json> records;
  for (int i = 0; i < n; ++i) {
    std::string question = "Question " + std::to_string(i) + ": given the numbers";
    for (int w = 0; w < 25; ++w) question += " " + std::to_string((i * 31 + w * 7) % 997);
    question += ", which is the largest and why?";
    std::string chosen = "The largest is " + std::to_string(996 - i % 50) + ", because every other value";
    for (int w = 0; w < 8; ++w) chosen += " (" + std::to_string((i + w) % 97) + ")";
    chosen += " is smaller.";
    records.push_back({{"id", "r" + std::to_string(i)},
                       {"prompt", question},
                       {"chosen", chosen},
                       {"rejected", "It is " + std::to_string(i % 13) + ", I think."}});
  }
  return records;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t at = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * double(v.size())));
  return v[at];
}

struct ServeBench {
  std::vector<nlohmann::json> records;
  std::string input, output;
  std::unique_ptr<score::Scorer> scorer;
  std::unique_ptr<serve::RewardServer> server;
  std::thread server_thread;
  std::vector<http::ClientRequest> requests;
  std::vector<std::vector<std::string>> expected_lines;  // per request: the offline lines of its records
  int per_request = 4;
  ~ServeBench() {
    if (server) server->stop();
    if (server_thread.joinable()) server_thread.join();
  }
};

Result<RunOnce> setup_serve(Context& ctx) {
  auto b = std::make_shared<ServeBench>();
  const std::string preset = ctx.param_str("preset", "qwen3-0.6b");
  const auto n_layer = static_cast<int64_t>(ctx.param("layers", 2));
  const int n_records = static_cast<int>(ctx.param("records", 64));
  b->per_request = std::max(1, static_cast<int>(ctx.param("per_request", 4)));
  SP_ASSIGN_OR_RETURN(std::string model_dir, bench_model(preset, n_layer));

  score::ScorerOptions scorer;
  scorer.model_dir = model_dir;
  scorer.n_threads = static_cast<int>(ctx.param("threads", 2));
  scorer.max_tokens_per_batch = static_cast<int64_t>(ctx.param("max_batch_tokens", 4096));
  scorer.input.date = "2025-01-01";

  b->records = make_records(n_records);
  fs::create_directories(tmp_root());
  b->input = tmp_root() + "/records.jsonl";
  b->output = tmp_root() + "/scores.jsonl";
  std::string text;
  for (const auto& r : b->records) text += r.dump() + "\n";
  SP_RETURN_IF_ERROR(io::write_text(b->input, text));
  SP_ASSIGN_OR_RETURN(b->scorer, score::Scorer::open(scorer));

  serve::ServeOptions options;
  options.scorer = scorer;
  options.port = 0;
  options.http_threads = 80;
  SP_ASSIGN_OR_RETURN(b->server, serve::RewardServer::open(options));
  b->server_thread = std::thread([b = b.get()] { (void)b->server->run(); });
  const std::string url = "http://127.0.0.1:" + std::to_string(b->server->port()) + "/v1/score";
  for (int at = 0; at < n_records; at += b->per_request) {
    nlohmann::json chunk = nlohmann::json::array();
    for (int i = at; i < std::min(n_records, at + b->per_request); ++i) chunk.push_back(b->records[i]);
    http::ClientRequest r;
    r.url = url;
    r.body = nlohmann::json{{"records", chunk}}.dump();
    r.headers = {{"Content-Type", "application/json"}};
    r.timeout_seconds = 600;
    b->requests.push_back(std::move(r));
  }

  return RunOnce([b]() -> Result<std::vector<Metric>> {
    std::vector<Metric> metrics;
    // Offline: `synpref score` as a library call, file to file.
    score::ScoreFileOptions file;
    file.input = b->input;
    file.output = b->output;
    const auto t0 = Clock::now();
    SP_ASSIGN_OR_RETURN(score::ScoreStats stats, score::score_file(*b->scorer, file));
    const double offline_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const double records = double(stats.records), tokens = double(stats.tokens);
    metrics.push_back({"offline records/s", records / offline_s, "records/s"});
    metrics.push_back({"offline tokens/s", tokens / offline_s, "tokens/s"});
    if (b->expected_lines.empty()) {
      SP_ASSIGN_OR_RETURN(std::string out, io::read_file(b->output, 1u << 30));
      std::vector<std::string> lines;
      for (size_t pos = 0; pos < out.size();) {
        const size_t nl = out.find('\n', pos);
        lines.push_back(out.substr(pos, nl - pos));
        pos = nl + 1;
      }
      for (size_t at = 0; at < lines.size(); at += size_t(b->per_request))
        b->expected_lines.emplace_back(
            lines.begin() + long(at),
            lines.begin() + long(std::min(lines.size(), at + size_t(b->per_request))));
    }

    for (int concurrency : {1, 16, 64}) {
      const auto s0 = Clock::now();
      auto responses = http::perform_all(b->requests, {.max_concurrency = concurrency});
      const double served_s = std::chrono::duration<double>(Clock::now() - s0).count();
      std::vector<double> latency_ms;
      for (size_t i = 0; i < responses.size(); ++i) {
        const auto& r = responses[i];
        if (r.status != 200)
          return internal_error("serve.throughput: request " + std::to_string(i) + " at concurrency " +
                                std::to_string(concurrency) + " got " + std::to_string(r.status) + " " +
                                r.error + r.body.substr(0, 200));
        size_t from = 0;
        for (const std::string& line : b->expected_lines[i]) {
          const size_t found = r.body.find(line, from);
          if (found == std::string::npos)
            return internal_error("serve.throughput: request " + std::to_string(i) +
                                  " differs from synpref score: expected " + line + " in " + r.body);
          from = found + line.size();
        }
        latency_ms.push_back(r.seconds * 1000);
      }
      const std::string c = "c=" + std::to_string(concurrency) + " ";
      metrics.push_back({c + "records/s", records / served_s, "records/s"});
      metrics.push_back({c + "tokens/s", tokens / served_s, "tokens/s"});
      metrics.push_back({c + "of offline", 100.0 * offline_s / served_s, "%"});
      metrics.push_back({c + "requests/s", double(responses.size()) / served_s, "req/s"});
      metrics.push_back({c + "p50 latency", percentile(latency_ms, 50), "ms", false});
      metrics.push_back({c + "p99 latency", percentile(latency_ms, 99), "ms", false});
    }
    return metrics;
  });
}

SYNPREF_WORKLOAD(.name = "serve.throughput",
                 .description =
                     "synpref serve /v1/score at concurrency 1/16/64 vs offline synpref score, same records",
                 .setup = setup_serve, .default_reps = 3, .warmup_reps = 1);

}  // namespace
}  // namespace synpref::bench
