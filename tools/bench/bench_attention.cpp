// Attention kernel workloads (issue 17), Qwen3-0.6B head shapes (16 query heads, 8 key/value
// heads, head_dim 128), one sequence, timed side by side with the GEMM micro-kernel on a Qwen3-0.6B
// projection in the same repetition, so the ratio survives a noisy, shared machine.
//
//   attention_qwen3_0.6b        --param n=8192 (tokens), threads=2: the engine's attention
//                               (model::Graph::attention, the task split scoring runs): GFLOP/s
//                               (causal work only: 4 * head_dim * n_head * n(n+1)/2 per layer), the
//                               GEMM's GFLOP/s (MLP gate/up projection 1024 -> 6144 over 2048 rows,
//                               packed f32 weights, the inference tiling, mean of a run before and
//                               one after) and attention / GEMM
//   attention_train_qwen3_0.6b  the same for the trainer's attention backward (kernels::
//                               AttentionBackward from the saved output and log-sum-exp, one task per
//                               kv head): 10 * head_dim * n_head * n(n+1)/2 FLOPs (S, dP, dQ, dK, dV)
//   train_long_qwen3_0.6b       --param n=16384, layers=2: one training step (forward + backward) of
//                               a Qwen3-0.6B-shaped reward model on one pair sharing an (n - 256)-token
//                               prompt, two 128-token responses: tokens/s, activations kept and the
//                               process's peak RSS (run once per length to compare lengths). The last
//                               layer is pruned (queries, attention and MLP for the scored rows only),
//                               so layers=2 is the smallest model with full attention over n rows
#include <chrono>
#include <memory>
#include <random>

#include "bench.h"
#include "common/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "model/graph.h"
#include "synpref/model/init.h"
#include "synpref/train/reward_model.h"

namespace {

using synpref::Result;
using synpref::bench::Context;
using synpref::bench::Metric;
using synpref::bench::RunOnce;
namespace kernels = synpref::kernels;
namespace model = synpref::model;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<float> randn(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// The GEMM side: C (rows, N) = A (rows, K) @ W^T on the inference path (weights packed once).
struct GemmSide {
  static constexpr int64_t kRows = 2048, kK = 1024, kN = 6144;
  std::vector<float> a, c;
  std::vector<uint8_t> packed;
  kernels::PackedMatrix w;
  std::unique_ptr<kernels::Gemm> gemm;
  GemmSide(const kernels::KernelSet* ks, synpref::ThreadPool* pool) {
    a = randn(static_cast<size_t>(kRows * kK), 1, 1.0f);
    c.resize(static_cast<size_t>(kRows * kN));
    const std::vector<float> wt = randn(static_cast<size_t>(kN * kK), 2, 0.03f);
    packed.resize(kernels::packed_bytes(kernels::WType::f32, kN, kK, ks->nr));
    w = kernels::PackedMatrix{kernels::WType::f32, kN, kK, ks->nr, packed.data()};
    kernels::pack_weights({{kernels::WType::f32, wt.data(), kN}}, kK, ks->nr, kernels::WType::f32,
                          packed.data(), 0, w.n_panels());
    gemm = std::make_unique<kernels::Gemm>(ks, pool, kernels::kInferenceTiling);
  }
  double gflops() {
    const double t0 = now();
    gemm->run({a.data(), kK, &w, nullptr, c.data(), kN, kRows, false});
    return 2.0 * kRows * kK * kN / (now() - t0) / 1e9;
  }
};

struct Setup {
  model::ModelConfig config;
  int64_t n = 0;
  const kernels::KernelSet* ks = nullptr;
  std::unique_ptr<synpref::ThreadPool> pool;
  std::unique_ptr<GemmSide> gemm;
  std::vector<float> qkv, att, lse, datt, dqkv;
  double pair_flops() const {  // per (query, visible key) pair and layer, for 4 * D * Hq
    return static_cast<double>(config.head_dim * config.n_head) * static_cast<double>(n) * (n + 1) / 2.0;
  }
};

Result<std::shared_ptr<Setup>> make_setup(Context& ctx) {
  auto s = std::make_shared<Setup>();
  SP_ASSIGN_OR_RETURN(s->config, model::preset_config(model::Family::qwen3, "qwen3-0.6b",
                                                      model::HeadKind::score, std::nullopt));
  s->n = static_cast<int64_t>(ctx.param("n", 8192));
  s->ks = kernels::select_kernels("auto");
  s->pool = std::make_unique<synpref::ThreadPool>(static_cast<int>(ctx.param("threads", 2)));
  s->gemm = std::make_unique<GemmSide>(s->ks, s->pool.get());
  const int64_t qn = (s->config.n_head + 2 * s->config.n_head_kv) * s->config.head_dim;
  s->qkv = randn(static_cast<size_t>(s->n * qn), 3, 1.0f);
  s->att.resize(static_cast<size_t>(s->n * s->config.q_dim()));
  s->lse.resize(static_cast<size_t>(s->n * s->config.n_head));
  std::fprintf(stderr, "attention: kernels %s, %d threads, %lld tokens, Qwen3-0.6B heads %lld/%lld x %lld\n",
               s->ks->name, s->pool->n_threads(), static_cast<long long>(s->n),
               static_cast<long long>(s->config.n_head), static_cast<long long>(s->config.n_head_kv),
               static_cast<long long>(s->config.head_dim));
  return s;
}

model::PackedRows one_sequence(int64_t n) {
  model::PackedRows b;
  b.ids.assign(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) b.positions.push_back(static_cast<int32_t>(i));
  b.seqs.push_back({0, n, -1});
  return b;
}

Result<RunOnce> setup_forward(Context& ctx) {
  SP_ASSIGN_OR_RETURN(auto s, make_setup(ctx));
  auto graph = std::make_shared<model::Graph>(s->config, s->ks, s->pool.get());
  auto batch = std::make_shared<model::PackedRows>(one_sequence(s->n));
  return RunOnce([s, graph, batch]() -> Result<std::vector<Metric>> {
    const double gemm_before = s->gemm->gflops();
    const double t0 = now();
    graph->attention(*batch, s->qkv.data(), s->att.data(), nullptr);
    const double dt = now() - t0;
    const double gemm_after = s->gemm->gflops();
    const double attn = 4.0 * s->pair_flops() / dt / 1e9;
    const double gemm = 0.5 * (gemm_before + gemm_after);
    return std::vector<Metric>{{"attention forward GFLOP/s", attn, "GFLOP/s"},
                               {"GEMM GFLOP/s (mean of before and after)", gemm, "GFLOP/s"},
                               {"attention / GEMM", 100.0 * attn / gemm, "%"},
                               {"attention ms per layer", dt * 1e3, "ms", false}};
  });
}

Result<RunOnce> setup_backward(Context& ctx) {
  SP_ASSIGN_OR_RETURN(auto s, make_setup(ctx));
  auto graph = std::make_shared<model::Graph>(s->config, s->ks, s->pool.get());
  auto batch = std::make_shared<model::PackedRows>(one_sequence(s->n));
  // The forward's output and log-sum-exp, as training keeps them; dO random.
  graph->attention(*batch, s->qkv.data(), s->att.data(), nullptr, s->lse.data());
  const int64_t Hq = s->config.n_head, qn = (Hq + 2 * s->config.n_head_kv) * s->config.head_dim;
  s->datt = randn(static_cast<size_t>(s->n * s->config.q_dim()), 4, 1.0f);
  s->dqkv.assign(static_cast<size_t>(s->n * qn), 0.0f);
  auto workers = std::make_shared<std::vector<kernels::AttentionBackward>>(s->pool->n_threads());
  return RunOnce([s, workers, Hq, qn]() -> Result<std::vector<Metric>> {
    const auto& c = s->config;
    const kernels::ops::AttnDims dims{c.n_head, c.n_head_kv, c.head_dim};
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));
    const double gemm_before = s->gemm->gflops();
    const double t0 = now();
    s->pool->parallel_for(c.n_head_kv, [&](int64_t g, int thread) {
      (*workers)[static_cast<size_t>(thread)].run(s->ks, s->dqkv.data(), nullptr, s->datt.data(), c.q_dim(),
                                                  s->qkv.data(), nullptr, s->n, 0, qn, dims, scale, g, 0,
                                                  s->n, s->att.data(), s->lse.data(), Hq);
    });
    const double dt = now() - t0;
    const double gemm_after = s->gemm->gflops();
    const double attn = 10.0 * s->pair_flops() / dt / 1e9;
    const double gemm = 0.5 * (gemm_before + gemm_after);
    return std::vector<Metric>{{"attention backward GFLOP/s", attn, "GFLOP/s"},
                               {"GEMM GFLOP/s (mean of before and after)", gemm, "GFLOP/s"},
                               {"attention backward / GEMM", 100.0 * attn / gemm, "%"},
                               {"attention backward ms per layer", dt * 1e3, "ms", false}};
  });
}

Result<RunOnce> setup_train_long(Context& ctx) {
  namespace train = synpref::train;
  const int64_t n = static_cast<int64_t>(ctx.param("n", 16384));
  const int threads = static_cast<int>(ctx.param("threads", 2));
  constexpr int64_t kResponse = 128;
  if (n <= 2 * kResponse) return synpref::invalid_argument("train_long_qwen3_0.6b: n must exceed 256");
  SP_ASSIGN_OR_RETURN(model::ModelConfig c, model::preset_config(model::Family::qwen3, "qwen3-0.6b",
                                                                 model::HeadKind::score, std::nullopt));
  c.n_layer = static_cast<int64_t>(ctx.param("layers", 2));
  c.pad_token_id = std::nullopt;
  struct Long {
    std::unique_ptr<train::RewardModel> rm;
    std::vector<int32_t> prompt, chosen, rejected;
    train::PackedBatch batch;
  };
  auto b = std::make_shared<Long>();
  SP_ASSIGN_OR_RETURN(b->rm, train::RewardModel::create(c, {.n_threads = threads}));
  auto params = b->rm->params();
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (const auto& t : b->rm->layout().tensors()) {
    const bool norm = t.role == model::TensorRole::attn_norm || t.role == model::TensorRole::ffn_norm ||
                      t.role == model::TensorRole::q_norm || t.role == model::TensorRole::k_norm ||
                      t.role == model::TensorRole::final_norm;
    for (size_t i = 0; i < t.size; ++i) params[t.offset + i] = norm ? 1.0f : nd(rng);
  }
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(c.vocab_size - 1));
  auto ids = [&](int64_t k) {
    std::vector<int32_t> v(static_cast<size_t>(k));
    for (auto& x : v) x = tok(rng);
    return v;
  };
  b->prompt = ids(n - 2 * kResponse);
  b->chosen = ids(kResponse);
  b->rejected = ids(kResponse);
  train::add_pair(b->batch, train::PairView{b->prompt, b->chosen, b->rejected, 0.0f}, true, std::nullopt);
  std::fprintf(stderr, "train_long: %lld layers, prompt %lld + 2 x %lld tokens, kernels %s, %d threads\n",
               static_cast<long long>(c.n_layer), static_cast<long long>(n - 2 * kResponse),
               static_cast<long long>(kResponse), b->rm->kernel_name(), threads);
  return RunOnce([b, n]() -> Result<std::vector<Metric>> {
    train::PairOutputs out;
    b->rm->zero_grad();
    const double t0 = now();
    b->rm->forward_backward(b->batch, 1.0f, &out);
    const double dt = now() - t0;
    return std::vector<Metric>{
        {"fwd+bwd tokens/s (rows of the prefix-shared pair)", static_cast<double>(b->batch.n_rows()) / dt,
         "tok/s"},
        {"fwd+bwd seconds", dt, "s", false},
        {"activations kept", static_cast<double>(b->rm->activation_bytes()) / 1048576.0, "MiB", false},
        {"activations kept per token", static_cast<double>(b->rm->activation_bytes()) / 1024.0 / n, "KiB",
         false},
        {"peak RSS of this process", synpref::bench::peak_rss_bytes() / 1048576.0, "MiB", false}};
  });
}

}  // namespace

SYNPREF_WORKLOAD("attention_train_qwen3_0.6b",
                 "trainer attention backward (saved log-sum-exp), one sequence (--param n=8192), Qwen3-0.6B "
                 "heads: GFLOP/s vs the GEMM",
                 setup_backward, 3);
SYNPREF_WORKLOAD("train_long_qwen3_0.6b",
                 "one training step on a long pair (--param n=16384, layers=2), Qwen3-0.6B shapes: tokens/s, "
                 "activations, peak RSS",
                 setup_train_long, 1);
SYNPREF_WORKLOAD("attention_qwen3_0.6b",
                 "engine attention, one sequence (--param n=8192), Qwen3-0.6B heads: GFLOP/s vs the GEMM",
                 setup_forward, 5);
