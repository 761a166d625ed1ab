// tokenizer.encode: encoding throughput on every string of every dataset in ../shared/data (the
// exactness-gate corpus), single-thread for Llama 3 (tokenizer.model) and Qwen3 (tokenizer.json),
// batch on all cores, and npm tiktoken (WASM, Llama 3 ranks and pattern) timed in the same
// repetition by tools/node/tiktoken_bench.mjs. MB = 10^6 UTF-8 bytes of input text.
//
// Params: data=DIR (default ../shared/data), tokenizers=DIR (default ../shared/data/tokenizers).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench.h"
#include "synpref/common/io.h"
#include "synpref/tokenizer/tokenizer.h"

namespace {

using synpref::Result;
using synpref::Status;
using synpref::bench::Metric;

std::string run_capture(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) {
    status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  status = pclose(pipe);
  return out;
}

struct Corpus {
  std::string path;  // JSONL of strings, for the node side
  std::vector<std::string> texts;
  std::vector<std::string_view> views;
  uint64_t bytes = 0;
  ~Corpus() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

Result<std::shared_ptr<Corpus>> build_corpus(const std::string& data_dir) {
  auto corpus = std::make_shared<Corpus>();
  corpus->path = (std::filesystem::temp_directory_path() /
                  ("synpref-bench-corpus-" + std::to_string(getpid()) + ".jsonl"))
                     .string();
  int status = 0;
  run_capture("node tools/node/corpus.mjs '" + data_dir + "' > '" + corpus->path + "' 2>/dev/null", status);
  if (status != 0)
    return synpref::io_error(
        "node tools/node/corpus.mjs failed: run from the repository root after scripts/setup.sh");
  SP_ASSIGN_OR_RETURN(std::string jsonl, synpref::io::read_file(corpus->path));
  size_t pos = 0;
  while (pos < jsonl.size()) {
    size_t end = jsonl.find('\n', pos);
    if (end == std::string::npos) end = jsonl.size();
    if (end > pos)
      corpus->texts.push_back(nlohmann::json::parse(jsonl.substr(pos, end - pos)).get<std::string>());
    pos = end + 1;
  }
  for (const std::string& t : corpus->texts) {
    corpus->views.push_back(t);
    corpus->bytes += t.size();
  }
  return corpus;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Result<synpref::bench::RunOnce> setup_encode(synpref::bench::Context& ctx) {
  const std::string data_dir = ctx.param_str("data", "../shared/data");
  const std::string tok_dir = ctx.param_str("tokenizers", "../shared/data/tokenizers");
  SP_ASSIGN_OR_RETURN(std::shared_ptr<Corpus> corpus, build_corpus(data_dir));
  SP_ASSIGN_OR_RETURN(synpref::tokenizer::Tokenizer llama,
                      synpref::tokenizer::load_tokenizer(tok_dir + "/llama3"));
  SP_ASSIGN_OR_RETURN(synpref::tokenizer::Tokenizer qwen,
                      synpref::tokenizer::load_tokenizer(tok_dir + "/qwen3"));
  const std::string tiktoken_cmd = "node tools/node/tiktoken_bench.mjs --model '" + tok_dir +
                                   "/llama3/tokenizer.model' --in '" + corpus->path + "' 2>&1";
  auto shared_llama = std::make_shared<synpref::tokenizer::Tokenizer>(llama);
  auto shared_qwen = std::make_shared<synpref::tokenizer::Tokenizer>(qwen);
  return synpref::bench::RunOnce([corpus, shared_llama, shared_qwen,
                                  tiktoken_cmd]() -> Result<std::vector<Metric>> {
    const double mb = static_cast<double>(corpus->bytes) / 1e6;
    std::vector<int32_t> ids;
    uint64_t n_tokens = 0;
    auto single = [&](const synpref::tokenizer::Tokenizer& tok) {
      n_tokens = 0;
      const auto start = std::chrono::steady_clock::now();
      for (std::string_view text : corpus->views) {
        ids.clear();
        tok.encode_into(text, false, ids);
        n_tokens += ids.size();
      }
      return mb / seconds_since(start);
    };
    const double llama_mbs = single(*shared_llama);
    const double llama_tokens = static_cast<double>(n_tokens);
    const double qwen_mbs = single(*shared_qwen);
    auto start = std::chrono::steady_clock::now();
    const synpref::tokenizer::EncodedBatch batch = shared_llama->encode_batch(corpus->views, false);
    const double batch_mbs = mb / seconds_since(start);

    int status = 0;
    const std::string out = run_capture(tiktoken_cmd, status);
    const nlohmann::json report = nlohmann::json::parse(out, nullptr, false);
    if (status != 0 || report.is_discarded() || !report.contains("mb_per_s"))
      return synpref::io_error("tools/node/tiktoken_bench.mjs failed (run scripts/setup.sh): " +
                               out.substr(0, 500));
    const double tiktoken_mbs = report["mb_per_s"].get<double>();
    if (report["tokens"].get<double>() != llama_tokens)
      return synpref::internal_error("tiktoken produced " + report["tokens"].dump() + " tokens, synpref " +
                                     std::to_string(static_cast<uint64_t>(llama_tokens)) +
                                     ": not the same encoding");
    return std::vector<Metric>{
        {"synpref llama3 single-thread", llama_mbs, "MB/s"},
        {"synpref qwen3 single-thread", qwen_mbs, "MB/s"},
        {"synpref llama3 batch (" + std::to_string(std::thread::hardware_concurrency()) + " threads)",
         batch_mbs, "MB/s"},
        {"tiktoken (npm WASM) llama3 single-thread", tiktoken_mbs, "MB/s"},
        {"synpref / tiktoken single-thread", llama_mbs / tiktoken_mbs, "x"},
        {"corpus size", mb, "MB"},
        {"llama3 tokens", llama_tokens, "tokens"},
        {"batch tokens", static_cast<double>(batch.ids.size()), "tokens", false},
    };
  });
}

SYNPREF_WORKLOAD("tokenizer.encode",
                 "Encode every string of ../shared/data: synpref Llama 3 / Qwen3 single-thread and batch, "
                 "npm tiktoken side by side",
                 setup_encode, 3);

}  // namespace
