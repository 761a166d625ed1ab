// Model engine workloads (issue 4). Random fp32 models with real shapes are written once to
// $TMPDIR/synpref-bench-models/ (reused by later runs) and loaded like any Hugging Face folder.
//
//   model_qwen3_0.6b_512     one 512-token sequence, 2 threads: tokens/s, GFLOP/s, MFU, side by side
//                            with the PyTorch reference (tests/oracles/model_reference.py, Debian torch over
//                            OpenBLAS, 2 threads) and llama.cpp's CPU backend (node-llama-cpp's prebuilt
//                            binaries, tools/bench/llamacpp_bench.mjs, on the same weights exported to
//                            GGUF, 2 threads) and the ratios; peak RSS of this process
//   model_qwen3_0.6b_bo8     best-of-8: 512-token prompt + 8 x 128-token responses, prefix sharing vs
//                            scoring the 8 full sequences, and the speedup the FLOPs predict;
//                            --param prompt=P response=R layers=N (N layers of Qwen3-0.6B shapes)
//   model_qwen3_0.6b_2048    one 2048-token sequence (attention share), side by side with PyTorch
//   model_qwen3_0.6b_8192    one 8192-token sequence (--param n=16384 ...), side by side with PyTorch
//                            and llama.cpp, started one at a time after synpref's pass in each
//                            repetition and stopped after their own (memory: one peer at a time)
//   model_llama3.1_8b_bf16   Llama-3.1-8B shapes, bf16 weights (widened in the kernels), 512 tokens;
//                            --param layers=N builds only N of the 32 layers (memory) and extrapolates
// Parameters (--param k=v): threads (2), torch (1: run the PyTorch side; 0: skip), llamacpp (1: run the
// llama.cpp side when node-llama-cpp is installed; 0: skip), llamacpp_kv (16: llama.cpp's default f16
// KV cache; 32: f32, attention in synpref's precision), llamacpp_dtype (f32: the GGUF's matrices in f32,
// synpref's precision; f16, bf16: `synpref convert gguf --type f16|bf16`, llama.cpp's faster paths; bf16
// multiplies activations rounded to bf16), llamacpp_batch (long workloads: tokens per llama_decode call
// and micro-batch; default n, the whole sequence in one batch), openblas_coretype (e.g.
// SkylakeX: OPENBLAS_CORETYPE for the PyTorch side; unset: OpenBLAS's own choice), peers (long
// workloads; 0: synpref only), n (long workloads: tokens), layers (8B and best-of-8), prune (1: the
// engine's default, the last layer runs for the scored rows only; 0: every row through every layer, the
// work of earlier versions and of transformers). GFLOP/s and MFU count the work executed.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench.h"
#include "synpref/model/gguf.h"
#include "synpref/model/init.h"
#include "synpref/model/model.h"

namespace {

namespace fs = std::filesystem;
using synpref::Result;
using synpref::Status;
using synpref::bench::Context;
using synpref::bench::Metric;
using synpref::bench::RunOnce;
namespace model = synpref::model;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Writes (once) and returns the folder of a random model with preset shapes (n_layer > 0: only the
// first n_layer layers, for models too large for this machine's memory).
Result<std::string> cached_model(model::Family family, const std::string& preset, model::DType dtype,
                                 int64_t n_layer = 0) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string layers = n_layer > 0 ? "-" + std::to_string(n_layer) + "layers" : "";
  const std::string dir = (fs::path(tmp ? tmp : "/tmp") / "synpref-bench-models" /
                           (preset + layers + "-" + model::dtype_name(dtype) + "-seed0"))
                              .string();
  if (fs::exists(fs::path(dir) / "model.safetensors") && fs::exists(fs::path(dir) / "config.json"))
    return dir;
  SP_ASSIGN_OR_RETURN(model::ModelConfig config,
                      model::preset_config(family, preset, model::HeadKind::score, std::nullopt));
  if (n_layer > 0) config.n_layer = n_layer;
  model::InitOptions options;
  options.seed = 0;
  options.dtype = dtype;
  std::fprintf(stderr, "writing %s (first run only)...\n", dir.c_str());
  const std::string partial = dir + ".partial";
  fs::remove_all(partial);
  SP_RETURN_IF_ERROR(model::write_random_model(config, options, partial));
  fs::rename(partial, dir);
  return dir;
}

// The PyTorch reference as a child process: `model_reference.py bench` loads the model, then answers each
// "run [ids]" line with the tokens/s of one forward pass over those ids and the attention path it took
// ("eager", or "chunk=N" query rows at a time above 2048 tokens: the same softmax per row).
// openblas_coretype: OPENBLAS_CORETYPE in the child ("" leaves OpenBLAS's own CPU detection).
class TorchPeer {
 public:
  static Result<std::unique_ptr<TorchPeer>> start(const std::string& model_dir, int threads,
                                                  const std::string& openblas_coretype) {
    const std::string t = std::to_string(threads);
    std::vector<std::pair<std::string, std::string>> env = {{"OPENBLAS_NUM_THREADS", t},
                                                            {"OMP_NUM_THREADS", t}};
    if (!openblas_coretype.empty()) env.push_back({"OPENBLAS_CORETYPE", openblas_coretype});
    auto peer = std::unique_ptr<TorchPeer>(new TorchPeer());
    SP_ASSIGN_OR_RETURN(peer->proc_, synpref::bench::ChildProcess::start(
                                         {"/usr/bin/python3", "tests/oracles/model_reference.py", "bench",
                                          "--model", model_dir, "--threads", t},
                                         env));
    std::string line;
    if (!peer->proc_->read_line(&line) || line.rfind("ready", 0) != 0) {
      return synpref::io_error(
          "PyTorch reference did not start (run from the repository root; needs python3-torch)");
    }
    return peer;
  }
  // Tokens/s of one forward pass over `ids`.
  Result<double> run(const std::vector<int32_t>& ids) {
    std::string line;
    if (!proc_->write_line("run " + nlohmann::json(ids).dump()) || !proc_->read_line(&line))
      return synpref::io_error("PyTorch reference stopped");
    const size_t space = line.find(' ');
    attention_path_ = space == std::string::npos ? "" : line.substr(space + 1);
    return std::atof(line.c_str());
  }
  const std::string& attention_path() const { return attention_path_; }  // of the last run

 private:
  TorchPeer() = default;
  std::unique_ptr<synpref::bench::ChildProcess> proc_;
  std::string attention_path_;
};

// llama.cpp's CPU backend as a child process: `node tools/bench/llamacpp_bench.mjs --serve` loads the
// GGUF, prints its facts (versions, the CPU variant ggml loaded, threads) as one JSON line, then
// answers each {"cmd": "run", "ids": [...]} line with the seconds of one prompt-processing pass over
// the ids from an empty KV cache.
class LlamaCppPeer {
 public:
  // batch: tokens per llama_decode call (node-llama-cpp makes the micro-batch the same size); context:
  // the KV cache's length in tokens.
  // flash_attention: "on" | "off" | "auto" (llama.cpp's default, on for the CPU backend).
  static Result<std::unique_ptr<LlamaCppPeer>> start(const std::string& gguf, int threads, int batch,
                                                     int context, const std::string& kv,
                                                     const std::string& flash_attention = "auto") {
    auto peer = std::unique_ptr<LlamaCppPeer>(new LlamaCppPeer());
    SP_ASSIGN_OR_RETURN(
        peer->proc_, synpref::bench::ChildProcess::start(
                         {"node", "tools/bench/llamacpp_bench.mjs", "--serve", "--model", gguf, "--threads",
                          std::to_string(threads), "--batch", std::to_string(batch), "--context",
                          std::to_string(context), "--kv", kv, "--flash-attention", flash_attention}));
    std::string line;
    if (!peer->proc_->read_line(&line))
      return synpref::io_error("llamacpp_bench.mjs did not start (see its stderr)");
    try {
      peer->facts_ = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      return synpref::io_error("llamacpp_bench.mjs printed '" + line + "' instead of its ready line");
    }
    if (!peer->facts_.value("ready", false)) return synpref::io_error("llamacpp_bench.mjs: " + line);
    return peer;
  }
  Result<double> run(const std::vector<int32_t>& ids) {
    std::string line;
    if (!proc_->write_line(nlohmann::json({{"cmd", "run"}, {"ids", ids}}).dump()) || !proc_->read_line(&line))
      return synpref::io_error("llama.cpp peer stopped");
    try {
      const auto reply = nlohmann::json::parse(line);
      if (reply.contains("error"))
        return synpref::io_error("llama.cpp peer: " + reply["error"].get<std::string>());
      return reply.at("seconds").get<double>();
    } catch (const nlohmann::json::exception&) {
      return synpref::io_error("llama.cpp peer replied '" + line + "'");
    }
  }
  const nlohmann::json& facts() const { return facts_; }

 private:
  LlamaCppPeer() = default;
  std::unique_ptr<synpref::bench::ChildProcess> proc_;
  nlohmann::json facts_;
};

// Why llama.cpp cannot run here, or "" when it can: node >= 20 and node-llama-cpp in tools/node
// (scripts/setup.sh installs both), and the Qwen3 tokenizer for the GGUF's vocabulary
// (node-llama-cpp refuses vocabulary-less files).
std::string llamacpp_unavailable(const std::string& tokenizer_dir) {
  if (!fs::exists("tools/node/node_modules/node-llama-cpp/package.json"))
    return "tools/node/node_modules/node-llama-cpp is not installed (bash scripts/setup.sh)";
  FILE* p = popen("node -e 'process.stdout.write(process.versions.node)' 2>/dev/null", "r");
  char version[64] = {0};
  const bool read = p && std::fgets(version, sizeof version, p);
  if (p) pclose(p);
  if (!read) return "node is not installed (bash scripts/setup.sh)";
  if (std::atoi(version) < 20)
    return std::string("node ") + version + " is older than node-llama-cpp's minimum 20";
  if (!fs::exists(fs::path(tokenizer_dir) / "tokenizer.json"))
    return tokenizer_dir + "/tokenizer.json is missing (the GGUF needs a vocabulary)";
  return "";
}

// How the llama.cpp side runs: weights' element type in the GGUF, KV cache type, threads.
struct LlamaCppSetup {
  std::string gguf;   // the exported file
  std::string dtype;  // "f32" | "f16" | "bf16": the GGUF's matrices
  std::string kv;     // "f16" (llama.cpp's default) | "f32"
  int threads = 2;
  int batch = 512;  // tokens per llama_decode call (and micro-batch)
  bool batch_in_label = false;
  std::string label() const {
    return "llama.cpp tokens/s (" + dtype + " weights, " + kv + " KV, " + std::to_string(threads) +
           " threads" + (batch_in_label ? ", batch " + std::to_string(batch) : "") + ")";
  }
};

// Exports `model_dir` to GGUF once (cached beside it as <model_dir>.<dtype>.gguf) from the --param
// llamacpp_* values. Returns nullopt, after printing why, when llama.cpp cannot run here.
std::optional<LlamaCppSetup> prepare_llamacpp(Context& ctx, const std::string& model_dir, int threads) {
  LlamaCppSetup s;
  s.threads = threads;
  s.kv = ctx.param("llamacpp_kv", 16) == 32 ? "f32" : "f16";
  s.dtype = ctx.param_str("llamacpp_dtype", "f32");
  model::DType dtype = model::DType::F32;
  if (s.dtype == "f16") {
    dtype = model::DType::F16;
  } else if (s.dtype == "bf16") {
    dtype = model::DType::BF16;
  } else if (s.dtype != "f32") {
    std::fprintf(
        stderr,
        "llama.cpp side skipped: --param llamacpp_dtype=%s (the GGUF export writes f32, f16 or bf16)\n",
        s.dtype.c_str());
    return std::nullopt;
  }
  const std::string tokenizer_dir = "../shared/data/tokenizers/qwen3";
  if (const std::string why = llamacpp_unavailable(tokenizer_dir); !why.empty()) {
    std::fprintf(stderr, "llama.cpp side skipped: %s\n", why.c_str());
    return std::nullopt;
  }
  s.gguf = model_dir + "." + s.dtype + ".gguf";
  if (!fs::exists(s.gguf) ||
      fs::last_write_time(s.gguf) < fs::last_write_time(fs::path(model_dir) / "model.safetensors")) {
    std::fprintf(stderr, "exporting %s (first run only)...\n", s.gguf.c_str());
    auto exported = model::export_gguf(model_dir, s.gguf, {.dtype = dtype, .tokenizer_dir = tokenizer_dir});
    if (!exported) {
      std::fprintf(stderr, "llama.cpp side skipped: GGUF export failed: %s\n",
                   exported.status().message().c_str());
      return std::nullopt;
    }
  }
  return s;
}

void print_llamacpp_facts(const nlohmann::json& f) {
  std::fprintf(
      stderr,
      "llama.cpp: node-llama-cpp %s (llama.cpp %s, %s binary), CPU backend %s, %d threads, batch %d, "
      "context %d, KV cache %s, flash attention %s (log: %s)\n  %s\n",
      f.value("node_llama_cpp", "?").c_str(), f.value("llama_cpp", "?").c_str(),
      f.value("build", "?").c_str(), f.value("cpu_backend", "?").c_str(), f.value("threads", 0),
      f.value("batch", 0), f.value("context", 0), f.value("kv", "?").c_str(),
      f.value("flash_attention", "?").c_str(), f.value("flash_attention_log", "?").c_str(),
      f.value("system_info", "").c_str());
}

// Starts the llama.cpp side of model_qwen3_0.6b_512 (kept loaded across repetitions). Returns nullptr,
// after printing why, when it cannot run.
std::shared_ptr<LlamaCppPeer> start_llamacpp(const LlamaCppSetup& s) {
  auto peer = LlamaCppPeer::start(s.gguf, s.threads, 512, 1024, s.kv);
  if (!peer) {
    std::fprintf(stderr, "llama.cpp side skipped: %s\n", peer.status().message().c_str());
    return nullptr;
  }
  const nlohmann::json& f = (*peer)->facts();
  print_llamacpp_facts(f);
  return std::move(peer).value();
}

std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& t : ids) t = d(rng);
  return ids;
}

struct Loaded {
  std::unique_ptr<model::Model> model;
  std::string dir;  // the model's folder (the peers load it too)
  double peak_gflops = 0;
  int threads = 2;
  bool prune = true;  // ScoreOptions::prune_last_layer
};

Result<std::shared_ptr<Loaded>> load(Context& ctx, model::Family family, const std::string& preset,
                                     model::DType dtype, int64_t n_layer = 0) {
  auto l = std::make_shared<Loaded>();
  l->threads = static_cast<int>(ctx.param("threads", 2));
  l->prune = ctx.param("prune", 1) != 0;
  SP_ASSIGN_OR_RETURN(l->dir, cached_model(family, preset, dtype, n_layer));
  SP_ASSIGN_OR_RETURN(l->model, model::Model::load(l->dir, {.n_threads = l->threads}));
  l->peak_gflops = model::measure_fma_peak_gflops(l->model->kernel_name(), l->threads);
  std::fprintf(stderr, "%s: kernels %s, %d threads, measured FMA peak %.1f GFLOP/s, last layer %s\n",
               preset.c_str(), l->model->kernel_name(), l->threads, l->peak_gflops,
               l->prune ? "pruned" : "unpruned");
  return l;
}

// One sequence of n tokens: tokens/s, GFLOP/s, MFU, attention share.
std::vector<Metric> single_sequence_metrics(Loaded& l, const std::vector<int32_t>& ids, double* seconds) {
  // The machine is shared: its available FMA throughput changes minute to minute, so MFU is also
  // reported against a peak probe taken right before this repetition's forward pass.
  const double rep_peak = model::measure_fma_peak_gflops(l.model->kernel_name(), l.threads);
  l.model->reset_profile();
  const double t0 = now();
  auto r = l.model->score_sequences(
      {ids}, {.max_tokens_per_batch = static_cast<int64_t>(ids.size()), .prune_last_layer = l.prune});
  const double dt = now() - t0;
  *seconds = dt;
  const auto prof = l.model->profile();
  const double n = static_cast<double>(ids.size());
  const double gflops = l.model->forward_flops(static_cast<int64_t>(ids.size()), l.prune) / dt / 1e9;
  const double total = prof.gemm_seconds + prof.attention_seconds + prof.other_seconds;
  return {{"synpref tokens/s", n / dt, "tok/s"},
          {"synpref GFLOP/s", gflops, "GFLOP/s"},
          {"synpref MFU (vs FMA peak at setup)", 100.0 * gflops / l.peak_gflops, "%"},
          {"FMA peak probe this repetition", rep_peak, "GFLOP/s"},
          {"synpref MFU (vs peak this repetition)", 100.0 * gflops / rep_peak, "%"},
          {"attention share of forward time", 100.0 * prof.attention_seconds / total, "%", false},
          {"GEMM share of forward time", 100.0 * prof.gemm_seconds / total, "%", false}};
}

std::string torch_label(const std::string& openblas_coretype) {
  return "torch tokens/s (model_reference.py, OpenBLAS" +
         (openblas_coretype.empty() ? std::string() : " " + openblas_coretype) + ")";
}

Result<RunOnce> setup_512(Context& ctx) {
  SP_ASSIGN_OR_RETURN(auto l, load(ctx, model::Family::qwen3, "qwen3-0.6b", model::DType::F32));
  const std::string coretype = ctx.param_str("openblas_coretype", "");
  std::shared_ptr<TorchPeer> torch;
  if (ctx.param("torch", 1) != 0) {
    SP_ASSIGN_OR_RETURN(auto peer, TorchPeer::start(l->dir, l->threads, coretype));
    torch = std::move(peer);
  }
  std::shared_ptr<LlamaCppPeer> llamacpp;
  std::string llamacpp_label;
  if (ctx.param("llamacpp", 1) != 0) {
    if (auto setup = prepare_llamacpp(ctx, l->dir, l->threads)) {
      llamacpp = start_llamacpp(*setup);
      llamacpp_label = setup->label();
    }
  }
  auto ids = std::make_shared<std::vector<int32_t>>(random_ids(512, 151936, 1));
  return RunOnce([l, torch, coretype, llamacpp, llamacpp_label, ids]() -> Result<std::vector<Metric>> {
    double dt = 0;
    auto m = single_sequence_metrics(*l, *ids, &dt);
    if (torch) {
      SP_ASSIGN_OR_RETURN(double torch_tps, torch->run(*ids));
      m.push_back({torch_label(coretype), torch_tps, "tok/s"});
      m.push_back({"synpref / torch", (512.0 / dt) / torch_tps, "x"});
    }
    if (llamacpp) {
      // The same 512 ids through the same weights; the peer computes the LM head for the last
      // token only, which synpref's score head replaces (both negligible next to 512 rows).
      SP_ASSIGN_OR_RETURN(double llamacpp_seconds, llamacpp->run(*ids));
      m.push_back({llamacpp_label, 512.0 / llamacpp_seconds, "tok/s"});
      m.push_back({"synpref / llama.cpp", llamacpp_seconds / dt, "x"});
    }
    m.push_back({"peak RSS of this process", synpref::bench::peak_rss_bytes() / 1048576.0, "MiB", false});
    m.push_back({"packed weights", l->model->packed_weight_bytes() / 1048576.0, "MiB", false});
    return m;
  });
}

// Peak RSS of the largest child process waited for so far (the peers, each stopped after its run).
double largest_child_rss_mib() {
  struct rusage ru {};
  getrusage(RUSAGE_CHILDREN, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // kilobytes on Linux
}

// One sequence of n tokens (--param n=, default `default_n`). Side by side in each repetition, after
// synpref's pass and one at a time (each peer is started, warmed up on the first 256 ids, timed on all
// n ids, and stopped, so at most one peer's model and activations exist at once): the PyTorch reference
// (query-chunked attention above 2048 tokens) and llama.cpp (context n, one batch of n tokens from an
// empty cache, flash attention on). --param peers=0 (or torch=0 / llamacpp=0) skips them.
Result<RunOnce> setup_long(Context& ctx, int64_t default_n) {
  const int64_t n = static_cast<int64_t>(ctx.param("n", static_cast<double>(default_n)));
  if (n < 257) return synpref::invalid_argument("--param n must be > 256 (the peers warm up on 256 ids)");
  SP_ASSIGN_OR_RETURN(auto l, load(ctx, model::Family::qwen3, "qwen3-0.6b", model::DType::F32));
  auto ids = std::make_shared<std::vector<int32_t>>(random_ids(n, 151936, 2));
  const bool peers = ctx.param("peers", 1) != 0;
  const bool torch = peers && ctx.param("torch", 1) != 0;
  const std::string coretype = ctx.param_str("openblas_coretype", "");
  std::optional<LlamaCppSetup> llamacpp;
  if (peers && ctx.param("llamacpp", 1) != 0) llamacpp = prepare_llamacpp(ctx, l->dir, l->threads);
  if (llamacpp) {
    llamacpp->batch =
        static_cast<int>(std::clamp<int64_t>(static_cast<int64_t>(ctx.param("llamacpp_batch", n)), 1, n));
    llamacpp->batch_in_label = llamacpp->batch != n;
  }
  // Warm-up here rather than a warm-up repetition (minutes at these lengths): threads, packed weights.
  {
    const std::vector<int32_t> warm(ids->begin(), ids->begin() + 256);
    SP_RETURN_IF_ERROR(l->model->score_sequences({warm}, {.max_tokens_per_batch = 256}).status());
  }
  std::fprintf(stderr, "%lld tokens; peers: %s%s%s\n", static_cast<long long>(n), torch ? "torch " : "",
               llamacpp ? "llama.cpp" : "", torch || llamacpp ? "" : "none");
  // Peak RSS from here on: setup's GGUF export maps the whole checkpoint beside the loaded model.
  std::ofstream("/proc/self/clear_refs") << "5";
  auto printed = std::make_shared<bool>(false);
  return RunOnce([l, ids, n, torch, coretype, llamacpp, printed]() -> Result<std::vector<Metric>> {
    double dt = 0;
    auto m = single_sequence_metrics(*l, *ids, &dt);
    const std::vector<int32_t> warm(ids->begin(), ids->begin() + 256);
    const double synpref_tps = static_cast<double>(n) / dt;
    if (torch) {
      SP_ASSIGN_OR_RETURN(auto peer, TorchPeer::start(l->dir, l->threads, coretype));
      SP_RETURN_IF_ERROR(peer->run(warm).status());
      SP_ASSIGN_OR_RETURN(double torch_tps, peer->run(*ids));
      if (!*printed) std::fprintf(stderr, "torch attention path: %s\n", peer->attention_path().c_str());
      m.push_back({torch_label(coretype), torch_tps, "tok/s"});
      m.push_back({"synpref / torch", synpref_tps / torch_tps, "x"});
    }
    if (llamacpp) {
      SP_ASSIGN_OR_RETURN(auto peer, LlamaCppPeer::start(llamacpp->gguf, llamacpp->threads, llamacpp->batch,
                                                         static_cast<int>(n), llamacpp->kv, "on"));
      if (!*printed) print_llamacpp_facts(peer->facts());
      SP_RETURN_IF_ERROR(peer->run(warm).status());
      SP_ASSIGN_OR_RETURN(double llamacpp_seconds, peer->run(*ids));
      m.push_back({llamacpp->label(), static_cast<double>(n) / llamacpp_seconds, "tok/s"});
      m.push_back({"synpref / llama.cpp", llamacpp_seconds / dt, "x"});
    }
    *printed = true;
    m.push_back(
        {"peak RSS of this process after setup", synpref::bench::vm_hwm_bytes() / 1048576.0, "MiB", false});
    if (torch || llamacpp)
      m.push_back({"peak RSS of the largest peer", largest_child_rss_mib(), "MiB", false});
    return m;
  });
}

// Forward FLOPs of best-of-8 scoring as executed: a prompt of P rows and 8 responses of R rows. Shared:
// the prompt once (causal over itself), each response over the prompt and its own causal prefix. Full:
// 8 sequences of P + R tokens. With last-layer pruning, the last layer keeps k/v projections for every
// row and q/o/MLP and attention for the 8 scored rows only (Model::forward_flops's accounting).
struct Bo8Flops {
  double shared = 0, full = 0;
};
Bo8Flops bo8_flops(const model::Model& mdl, int64_t P, int64_t R, bool prune) {
  const model::ModelConfig& c = mdl.config();
  const double p = static_cast<double>(P), r = static_cast<double>(R),
               layers = static_cast<double>(c.n_layer);
  const double per_pair = 4.0 * static_cast<double>(c.head_dim * c.n_head);
  const double per_row = 2.0 * static_cast<double>(c.n_matmul_params()) / layers;  // one layer
  const double q_o_mlp =
      2.0 * static_cast<double>(2 * c.q_dim() * c.hidden_size + 3 * c.hidden_size * c.intermediate_size);
  const double rows = p + 8.0 * r;
  const double pairs = p * (p + 1) / 2.0 + 8.0 * (r * p + r * (r + 1) / 2.0);
  Bo8Flops f;
  f.shared = layers * (per_row * rows + per_pair * pairs);
  // Pruned: the last layer skips q/o/MLP for every unscored row and all but the scored rows' keys.
  if (prune) f.shared -= (rows - 8.0) * q_o_mlp + per_pair * (pairs - 8.0 * (p + r));
  f.full = 8.0 * mdl.forward_flops(P + R, prune);
  return f;
}

// --param prompt=P (512), response=R (128), layers=N (0: all 28 layers of Qwen3-0.6B; N: a model of N
// such layers, written once, for long prompts on small machines: both paths scale by N/28).
Result<RunOnce> setup_bo8(Context& ctx) {
  const int64_t P = static_cast<int64_t>(ctx.param("prompt", 512));
  const int64_t R = static_cast<int64_t>(ctx.param("response", 128));
  const int64_t layers = static_cast<int64_t>(ctx.param("layers", 0));
  if (P < 1 || R < 1) return synpref::invalid_argument("--param prompt and response must be >= 1");
  SP_ASSIGN_OR_RETURN(auto l, load(ctx, model::Family::qwen3, "qwen3-0.6b", model::DType::F32, layers));
  if (layers > 0)
    std::fprintf(stderr, "a model of %lld layers with Qwen3-0.6B shapes (of 28)\n",
                 static_cast<long long>(layers));
  if (layers == 1 && l->prune)
    std::fprintf(stderr,
                 "note: the one layer is the pruned last layer (k/v for every row, the rest for the 8 "
                 "scored rows only); layers >= 2 gives a representative mix\n");
  auto prompt = std::make_shared<std::vector<int32_t>>(random_ids(P, 151936, 3));
  auto responses = std::make_shared<std::vector<std::vector<int32_t>>>();
  auto full = std::make_shared<std::vector<std::vector<int32_t>>>();
  for (uint32_t i = 0; i < 8; ++i) {
    responses->push_back(random_ids(R, 151936, 10 + i));
    full->push_back(*prompt);
    full->back().insert(full->back().end(), responses->back().begin(), responses->back().end());
  }
  const Bo8Flops flops = bo8_flops(*l->model, P, R, l->prune);
  // One batch holds the prompt and all 8 responses (a smaller limit would recompute the prompt).
  const int64_t batch = std::max<int64_t>(8192, P + 8 * R);
  const std::string shared_name =
      "prefix-shared (1 x " + std::to_string(P) + " + 8 x " + std::to_string(R) + " rows)";
  const std::string full_name = "8 full sequences (8 x " + std::to_string(P + R) + " rows)";
  return RunOnce([l, prompt, responses, full, flops, batch, layers, shared_name,
                  full_name]() -> Result<std::vector<Metric>> {
    std::vector<std::span<const int32_t>> rs(responses->begin(), responses->end()),
        fs_(full->begin(), full->end());
    const double t0 = now();
    const model::ScoreOptions options{.max_tokens_per_batch = batch, .prune_last_layer = l->prune};
    SP_ASSIGN_OR_RETURN(auto shared, l->model->score(*prompt, rs, options));
    const double t1 = now();
    SP_ASSIGN_OR_RETURN(auto separate, l->model->score_sequences(fs_, options));
    const double t2 = now();
    for (size_t i = 0; i < 8; ++i) {
      if (std::memcmp(&shared[i], &separate[i], sizeof(float)) != 0)
        return Status(synpref::StatusCode::internal,
                      "prefix-shared and full scores differ (response " + std::to_string(i) + ")");
    }
    std::vector<Metric> m{{shared_name, (t1 - t0) * 1e3, "ms", false},
                          {full_name, (t2 - t1) * 1e3, "ms", false},
                          {"prefix-sharing speedup", (t2 - t1) / (t1 - t0), "x"},
                          {"speedup the FLOPs predict", flops.full / flops.shared, "x"},
                          {"prefix-shared GFLOP/s", flops.shared / (t1 - t0) / 1e9, "GFLOP/s"},
                          {"full GFLOP/s", flops.full / (t2 - t1) / 1e9, "GFLOP/s"},
                          {"responses/s with prefix sharing", 8.0 / (t1 - t0), "resp/s"}};
    if (layers > 0) m.push_back({"layers in this model (of 28)", static_cast<double>(layers), "", false});
    m.push_back({"peak RSS of this process", synpref::bench::peak_rss_bytes() / 1048576.0, "MiB", false});
    return m;
  });
}

// --param layers=N (default 32 = the whole model, 16 GB of bf16 weights): with N < 32 only the first N
// layers exist and "full-model tokens/s" is extrapolated as tokens/s * N / 32 (all layers cost the
// same; the embedding lookup and the one-row score head are negligible).
Result<RunOnce> setup_8b(Context& ctx) {
  const int64_t layers = static_cast<int64_t>(ctx.param("layers", 32));
  SP_ASSIGN_OR_RETURN(
      auto l, load(ctx, model::Family::llama, "llama-3.1-8b", model::DType::BF16, layers == 32 ? 0 : layers));
  auto ids = std::make_shared<std::vector<int32_t>>(random_ids(512, 128256, 4));
  return RunOnce([l, ids, layers]() -> Result<std::vector<Metric>> {
    double dt = 0;
    auto m = single_sequence_metrics(*l, *ids, &dt);
    if (layers != 32) {
      m.push_back({"layers in this model (of 32)", static_cast<double>(layers), "", false});
      m.push_back({"full-model tokens/s (extrapolated x" + std::to_string(layers) + "/32)",
                   512.0 / dt * static_cast<double>(layers) / 32.0, "tok/s"});
    }
    m.push_back({"packed weights", l->model->packed_weight_bytes() / 1048576.0, "MiB", false});
    m.push_back({"peak RSS of this process", synpref::bench::peak_rss_bytes() / 1048576.0, "MiB", false});
    return m;
  });
}

SYNPREF_WORKLOAD("model_qwen3_0.6b_512",
                 "Qwen3-0.6B shapes, fp32, one 512-token sequence; vs PyTorch and llama.cpp", setup_512, 8);
SYNPREF_WORKLOAD("model_qwen3_0.6b_bo8",
                 "Qwen3-0.6B, best-of-8 (512 prompt + 8x128; --param prompt, response, layers): prefix "
                 "sharing vs full",
                 setup_bo8, 5);
SYNPREF_WORKLOAD(
    "model_qwen3_0.6b_2048", "Qwen3-0.6B shapes, fp32, one 2048-token sequence; vs PyTorch and llama.cpp",
    [](Context& c) { return setup_long(c, 2048); }, 3, 0);
SYNPREF_WORKLOAD(
    "model_qwen3_0.6b_8192",
    "Qwen3-0.6B shapes, fp32, one 8192-token sequence (--param n=16384); vs PyTorch and llama.cpp",
    [](Context& c) { return setup_long(c, 8192); }, 3, 0);
SYNPREF_WORKLOAD("model_llama3.1_8b_bf16",
                 "Llama-3.1-8B shapes, bf16 weights, one 512-token sequence (--param layers=N)", setup_8b, 3);

}  // namespace
