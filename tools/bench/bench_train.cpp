// Training workloads (issue 5).
//
//   train_qwen3_100m   Qwen3-0.6B per-layer shapes (hidden 1024, FFN 3072, 16/8 heads, head_dim 128,
//                      QK-norm) with 6 layers: 94.4M non-embedding parameters (+155.6M tied
//                      embedding, real vocabulary). One micro-batch of 2 pairs, each a 384-token
//                      prompt with two 128-token responses. Per repetition:
//                        - forward + backward without prefix sharing (4 sequences x 512 = 2048 rows):
//                          tokens/s, GFLOP/s (3 x the forward FLOPs executed: the last layer runs
//                          its queries, attention, o-projection and MLP for the 4 scored rows only)
//                          and MFU against the measured FMA peak
//                          (model::measure_fma_peak_gflops, same thread count, measured at setup and
//                          right before each repetition); and
//                          the same per CPU-second of this process against the probe's FLOPs per
//                          CPU-second of one thread: on a shared machine other load takes wall time
//                          from both the run and the peak probe, but not CPU time;
//                        - the same without last-layer pruning (every row through every layer, as
//                          transformers and the PyTorch reference compute): tokens/s, MFU, speedup;
//                        - the same pairs with prefix sharing (1280 rows): time and speedup;
//                        - the AdamW step (sparse embedding rows);
//                        - the PyTorch reference training step on the same 4 x 512 tokens
//                          (tests/oracles/train_reference.py bench: Debian torch over OpenBLAS, same
//                          thread count, the 4 sequences as one batch), and the ratio;
//                        - peak RSS of this process.
// Parameters (--param k=v): threads (2), torch (1 = run the PyTorch side, 0 = skip), layers (6).
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "bench.h"
#include "synpref/model/init.h"
#include "synpref/model/model.h"
#include "synpref/train/optimizer.h"
#include "synpref/train/reward_model.h"

namespace {

using synpref::Result;
using synpref::Status;
using synpref::bench::Context;
using synpref::bench::Metric;
using synpref::bench::RunOnce;
namespace model = synpref::model;
namespace train = synpref::train;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds (user + system) of this process so far, all threads.
double cpu_now() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// The PyTorch training step as a child process speaking "run" lines (train_reference.py bench).
class TorchTrainPeer {
 public:
  static Result<std::unique_ptr<TorchTrainPeer>> start(const model::ModelConfig& c, int tokens, int pairs,
                                                       int threads) {
    const char* tmp = std::getenv("TMPDIR");
    const std::string config_path = (std::filesystem::path(tmp ? tmp : "/tmp") /
                                     ("synpref-bench-train-" + std::to_string(getpid()) + ".json"))
                                        .string();
    {
      nlohmann::json j = {{"model_type", "qwen3"},
                          {"hidden_size", c.hidden_size},
                          {"intermediate_size", c.intermediate_size},
                          {"num_hidden_layers", c.n_layer},
                          {"num_attention_heads", c.n_head},
                          {"num_key_value_heads", c.n_head_kv},
                          {"head_dim", c.head_dim},
                          {"vocab_size", c.vocab_size},
                          {"rms_norm_eps", c.rms_norm_eps},
                          {"rope_theta", c.rope_theta}};
      std::FILE* f = std::fopen(config_path.c_str(), "w");
      if (!f) return synpref::io_error(config_path + ": cannot write");
      std::fputs(j.dump().c_str(), f);
      std::fclose(f);
    }
    const std::string t = std::to_string(threads);
    auto peer = std::unique_ptr<TorchTrainPeer>(new TorchTrainPeer());
    peer->config_path_ = config_path;
    SP_ASSIGN_OR_RETURN(peer->proc_, synpref::bench::ChildProcess::start(
                                         {"/usr/bin/python3", "tests/oracles/train_reference.py", "bench",
                                          "--config", config_path, "--tokens", std::to_string(tokens),
                                          "--pairs", std::to_string(pairs), "--threads", t},
                                         {{"OPENBLAS_NUM_THREADS", t}, {"OMP_NUM_THREADS", t}}));
    std::string line;
    if (!peer->proc_->read_line(&line) || line.rfind("ready", 0) != 0) {
      return synpref::io_error(
          "PyTorch reference did not start (run from the repository root; needs python3-torch)");
    }
    return peer;
  }
  // Seconds of forward + backward and of the optimizer step.
  Result<std::pair<double, double>> run() {
    std::string line;
    if (!proc_->write_line("run") || !proc_->read_line(&line))
      return synpref::io_error("PyTorch reference stopped");
    try {
      const auto j = nlohmann::json::parse(line);
      return std::make_pair(j.at("fwd_bwd_s").get<double>(), j.at("optimizer_s").get<double>());
    } catch (const nlohmann::json::exception&) {
      return synpref::io_error("PyTorch reference replied '" + line + "'");
    }
  }
  ~TorchTrainPeer() {
    proc_.reset();  // the peer exits before its config file goes
    std::remove(config_path_.c_str());
  }

 private:
  TorchTrainPeer() = default;
  std::unique_ptr<synpref::bench::ChildProcess> proc_;
  std::string config_path_;
};

struct TrainBench {
  std::unique_ptr<train::RewardModel> rm;
  std::unique_ptr<train::AdamW> adam;
  std::unique_ptr<TorchTrainPeer> torch;
  train::PackedBatch shared, unshared;
  std::vector<std::vector<int32_t>> prompts, responses;
  double peak_gflops = 0, peak_per_cpu_second = 0;
  int threads = 2;
};

constexpr int kPairs = 2, kPrompt = 384, kResponse = 128;

Result<RunOnce> setup_100m(Context& ctx) {
  auto b = std::make_shared<TrainBench>();
  b->threads = static_cast<int>(ctx.param("threads", 2));
  SP_ASSIGN_OR_RETURN(model::ModelConfig c, model::preset_config(model::Family::qwen3, "qwen3-0.6b",
                                                                 model::HeadKind::score, std::nullopt));
  c.n_layer = static_cast<int64_t>(ctx.param("layers", 6));
  c.pad_token_id = std::nullopt;
  SP_ASSIGN_OR_RETURN(b->rm, train::RewardModel::create(c, {.n_threads = b->threads}));
  // Random weights: matrices uniform in +-0.034 (std 0.02), norms 1.
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto params = b->rm->params();
  for (const auto& t : b->rm->layout().tensors()) {
    const bool norm = t.role == model::TensorRole::attn_norm || t.role == model::TensorRole::ffn_norm ||
                      t.role == model::TensorRole::q_norm || t.role == model::TensorRole::k_norm ||
                      t.role == model::TensorRole::final_norm;
    for (size_t i = 0; i < t.size; ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      const double u = static_cast<double>(state >> 11) * 0x1.0p-53;
      params[t.offset + i] = norm ? 1.0f : static_cast<float>((u - 0.5) * 0.0693);
    }
  }
  b->adam =
      std::make_unique<train::AdamW>(b->rm->layout(), train::AdamWOptions{.lr = 1e-5}, &b->rm->thread_pool());
  std::mt19937 rng(1);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(c.vocab_size - 1));
  auto ids = [&](int n) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = tok(rng);
    return v;
  };
  for (int p = 0; p < kPairs; ++p) {
    b->prompts.push_back(ids(kPrompt));
    b->responses.push_back(ids(kResponse));
    b->responses.push_back(ids(kResponse));
  }
  for (int p = 0; p < kPairs; ++p) {
    const train::PairView view{b->prompts[static_cast<size_t>(p)], b->responses[static_cast<size_t>(2 * p)],
                               b->responses[static_cast<size_t>(2 * p + 1)], 0.0f};
    train::add_pair(b->shared, view, true, std::nullopt);
    train::add_pair(b->unshared, view, false, std::nullopt);
  }
  b->peak_gflops = model::measure_fma_peak_gflops(b->rm->kernel_name(), b->threads);
  b->peak_per_cpu_second = train::fma_peak_gflops_per_cpu_second(b->rm->kernel_name());
  std::fprintf(stderr,
               "train_qwen3_100m: %lld layers, %.1fM non-embedding + %.1fM embedding parameters, kernels %s, "
               "%d threads, "
               "measured FMA peak %.1f GFLOP/s\n",
               static_cast<long long>(c.n_layer), static_cast<double>(c.n_matmul_params()) / 1e6,
               static_cast<double>(c.vocab_size * c.hidden_size) / 1e6, b->rm->kernel_name(), b->threads,
               b->peak_gflops);
  if (ctx.param("torch", 1) != 0) {
    SP_ASSIGN_OR_RETURN(b->torch, TorchTrainPeer::start(c, kPrompt + kResponse, kPairs, b->threads));
  }
  return RunOnce([b]() -> Result<std::vector<Metric>> {
    // The shared machine's load changes between repetitions: measure the peak right before.
    const double peak = model::measure_fma_peak_gflops(b->rm->kernel_name(), b->threads);
    train::PairOutputs out;
    const float scale = 1.0f / kPairs;
    b->rm->zero_grad();
    const double c0 = cpu_now(), t0 = now();
    b->rm->forward_backward(b->unshared, scale, &out);
    const double t1 = now(), c1 = cpu_now();
    // The same without last-layer pruning (every row through the last layer, as transformers does).
    b->rm->set_prune_last_layer(false);
    b->rm->zero_grad();
    const double tf0 = now();
    b->rm->forward_backward(b->unshared, scale, &out);
    const double full_s = now() - tf0;
    const double full_flops = b->rm->forward_flops(b->unshared);
    b->rm->set_prune_last_layer(true);
    b->rm->zero_grad();
    const double t2 = now();
    b->rm->forward_backward(b->shared, scale, &out);
    const double t3 = now();
    const auto& rows = b->rm->embedding_rows();
    const double norm = b->adam->grad_norm(b->rm->grads(), &rows);
    b->adam->step(b->rm->params(), b->rm->grads(), &rows, 1, 1e-5, train::clip_scale(norm, 1.0));
    const double t4 = now();
    const double unshared_s = t1 - t0, shared_s = t3 - t2;
    const double rows_unshared = static_cast<double>(b->unshared.n_rows());
    const double gflops = 3.0 * b->rm->forward_flops(b->unshared) / unshared_s / 1e9;
    std::vector<Metric> m = {
        {"synpref fwd+bwd tokens/s (no prefix sharing)", rows_unshared / unshared_s, "tok/s"},
        {"synpref fwd+bwd GFLOP/s", gflops, "GFLOP/s"},
        {"FMA peak probe, same repetition", peak, "GFLOP/s"},
        {"synpref MFU fwd+bwd (vs same-repetition FMA peak)", 100.0 * gflops / peak, "%"},
        {"synpref MFU fwd+bwd (vs setup FMA peak)", 100.0 * gflops / b->peak_gflops, "%"},
        // The same per CPU-second: leaves out time the threads were descheduled by other load.
        {"synpref MFU fwd+bwd per CPU-second (vs probe per CPU-second)",
         100.0 * (3.0 * b->rm->forward_flops(b->unshared) / (c1 - c0) / 1e9) / b->peak_per_cpu_second, "%"},
        {"synpref fwd+bwd tokens/s without last-layer pruning", rows_unshared / full_s, "tok/s"},
        {"synpref MFU fwd+bwd without last-layer pruning", 100.0 * 3.0 * full_flops / full_s / 1e9 / peak,
         "%"},
        {"last-layer pruning speedup", full_s / unshared_s, "x"},
        {"synpref fwd+bwd with prefix sharing", shared_s * 1e3, "ms", false},
        {"prefix-sharing speedup (same pairs)", unshared_s / shared_s, "x"},
        {"synpref pairs/s with prefix sharing", kPairs / shared_s, "pairs/s"},
        {"synpref AdamW step (sparse embedding rows)", (t4 - t3) * 1e3, "ms", false},
        {"activations kept (prefix-shared batch)", static_cast<double>(b->rm->activation_bytes()) / 1048576.0,
         "MiB", false}};
    if (b->torch) {
      SP_ASSIGN_OR_RETURN(auto torch_s, b->torch->run());
      m.push_back(
          {"torch fwd+bwd tokens/s (train_reference.py, OpenBLAS)", rows_unshared / torch_s.first, "tok/s"});
      m.push_back({"torch AdamW step", torch_s.second * 1e3, "ms", false});
      m.push_back({"synpref / torch (fwd+bwd, same tokens)", torch_s.first / unshared_s, "x"});
      m.push_back({"synpref without last-layer pruning / torch", torch_s.first / full_s, "x"});
      m.push_back({"synpref with prefix sharing / torch (same pairs)", torch_s.first / shared_s, "x"});
    }
    m.push_back({"peak RSS of this process", synpref::bench::peak_rss_bytes() / 1048576.0, "MiB", false});
    return m;
  });
}

SYNPREF_WORKLOAD(
    "train_qwen3_100m",
    "Training step, Qwen3-0.6B layer shapes x 6 layers (94M + 156M embedding), 2 pairs of 384+2x128 "
    "tokens; MFU, prefix sharing, vs PyTorch",
    setup_100m, 3);

}  // namespace
