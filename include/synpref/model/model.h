// synpref/model/model.h: the reward-model engine (load once, score many).
//
//   auto model = synpref::model::Model::load("path/to/hf_folder");   // config.json + safetensors
//   auto scores = (*model)->score(context_ids, {response_a_ids, response_b_ids});
//
// Semantics are transformers' in fp32 (docs/model.md): embedding, RMSNorm, q/k/v projections (Qwen3:
// per-head q_norm/k_norm), RoPE (rotate_half, llama3 scaling), grouped-query causal attention,
// SwiGLU, final norm, and the bias-free score head read at the last non-pad token of each sequence
// (transformers' pooling rule; we never pad, sequences are packed).
//
// Guarantees:
//  - Batch invariance: a sequence's score is bitwise identical whatever it is batched or packed
//    with, whatever the thread count and batch size limit (every reduction runs in a fixed order
//    that depends only on the sequence itself).
//  - Prefix sharing is exact: score(context, responses)[i] == score_sequences({context + responses[i]})[i]
//    bitwise; the context is computed once per batch and every response attends to its keys/values.
//  - Thread-safe: all const methods may be called from many threads; forward passes are serialized
//    internally (each one already uses every worker thread).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/model/config.h"

namespace synpref::model {

struct LoadOptions {
  int n_threads = 0;             // worker threads including the caller; 0 = all hardware threads
  std::string kernels = "auto";  // "auto" (best the CPU supports), "avx512", "avx2", "generic"
  // Reward-model initialization from a *ForCausalLM or base checkpoint: create the score head that
  // transformers would create (normal(0, initializer_range), seeded) instead of failing at score().
  bool init_score_head = false;
  uint64_t score_head_seed = 0;
};

struct ScoreOptions {
  // Rows (tokens) per forward pass. Larger batches amortize weight reads; memory grows linearly.
  // A record whose context plus one response exceeds it still runs (alone).
  int64_t max_tokens_per_batch = 4096;
  // Run the last layer for the scored rows only: keys and values still cover every row, queries,
  // attention, output projection and MLP only the rows a score reads. Same scores bit for bit (every
  // kernel computes a row independently of the rows computed with it); false computes every row
  // through every layer (what transformers does; benchmarks compare both).
  bool prune_last_layer = true;
};

// A shared context and the responses that continue it (a pair, a best-of-n set).
struct ScoreGroup {
  std::span<const int32_t> context;
  std::vector<std::span<const int32_t>> responses;
};

class Model {
 public:
  // Loads a Hugging Face folder: config.json and model.safetensors or model.safetensors.index.json
  // (sharded). Weight files are read into owned memory (a file truncated or replaced while loaded
  // cannot kill the process with SIGBUS) and repacked once for the GEMM kernels in their checkpoint
  // dtype (f32, f16 or bf16; widened to f32 inside the kernels).
  static Result<std::unique_ptr<Model>> load(const std::string& dir, const LoadOptions& options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const;
  bool has_score_head() const;
  bool has_lm_head() const;

  // Reward of each sequence (token ids). Returns one score per sequence, in order.
  // Errors: empty sequence, id outside [0, vocab_size), no score head.
  Result<std::vector<float>> score_sequences(const std::vector<std::span<const int32_t>>& sequences,
                                             const ScoreOptions& options = {}) const;
  // Reward of context + responses[i] for each i, computing the context once. A response may be
  // empty (the score of the context alone); the context may be empty (independent sequences).
  Result<std::vector<float>> score(std::span<const int32_t> context,
                                   const std::vector<std::span<const int32_t>>& responses,
                                   const ScoreOptions& options = {}) const;
  // Many groups, packed into batches of at most max_tokens_per_batch rows. Result[g][i] is the
  // score of groups[g].context + groups[g].responses[i].
  Result<std::vector<std::vector<float>>> score_groups(const std::vector<ScoreGroup>& groups,
                                                       const ScoreOptions& options = {}) const;

  // The pooled hidden state of each sequence: the final-norm output (hidden_size floats) at the
  // position the score head reads (the same forward pass as score_sequences). Reward models use it
  // as an embedding of the sequence (curation retrieval). Errors as score_sequences.
  Result<std::vector<std::vector<float>>> pooled_hidden(
      const std::vector<std::span<const int32_t>>& sequences, const ScoreOptions& options = {}) const;

  // Language-model logits at every position of one sequence: (T, vocab_size) row-major. Needs an LM
  // head (lm_head.weight, or tied embeddings). Used to verify the forward pass on trained weights.
  Result<std::vector<float>> lm_logits(std::span<const int32_t> ids) const;

  // Facts for benchmarks and logs.
  const char* kernel_name() const;
  int n_threads() const;
  uint64_t packed_weight_bytes() const;
  // Forward FLOPs (multiply-add = 2) for one sequence of `n_tokens` tokens, excluding the
  // embedding lookup and the (one-row) score head: matmuls plus causal attention.
  double forward_flops(int64_t n_tokens) const;
  // The same as executed when scoring that sequence: with prune_last_layer, the last layer's
  // queries, attention, output projection and MLP count for the one scored row only.
  double forward_flops(int64_t n_tokens, bool prune_last_layer) const;

  // Cumulative wall time of forward passes by op class since load (or reset_profile): for
  // benchmarks (attention share at long contexts). Timing never affects results.
  struct Profile {
    double gemm_seconds = 0, attention_seconds = 0, other_seconds = 0;
    int64_t rows = 0;  // token rows forwarded
  };
  Profile profile() const;
  void reset_profile() const;

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  // score_groups, also copying each scored row's pooled hidden state when `pooled` is not null.
  Result<std::vector<std::vector<float>>> score_groups_hidden(const std::vector<ScoreGroup>& groups,
                                                              const ScoreOptions& options,
                                                              std::vector<std::vector<float>>* pooled) const;
  std::unique_ptr<Impl> impl_;
};

// Peak FMA throughput (GFLOP/s) of this machine with `n_threads` threads each running the register-
// resident FMA loop of kernel set `kernels` (best of 3): the denominator of MFU in benchmarks.
double measure_fma_peak_gflops(const std::string& kernels, int n_threads);

}  // namespace synpref::model
