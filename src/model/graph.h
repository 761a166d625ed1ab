// The forward graph of a decoder-only family (internal): ONE forward pass, used by the inference
// engine (model::Model, weights packed in their checkpoint dtype) and by training
// (train::RewardModel, flat f32 parameters; its hand-written backward reads the activations this
// graph saves). Qwen3 and Llama differ only through the config: QK-norm, biases, RoPE scaling.
//
// Per layer, over all rows of a packed batch (docs/model.md, "Forward pass"):
//   xn  = rmsnorm(x_in, attn_norm) ; qkv_raw = xn Wqkv^T (+ b)
//   qkv = qkv_raw with per-head rmsnorm of q and k (Qwen3), then RoPE on q and k
//   att = causal GQA attention (prefix sharing: a sequence may continue a parent's rows)
//   x_mid = x_in + att Wo^T (+ b)
//   x_out = x_mid + (silu(xn' Wg^T) * (xn' Wu^T)) Wd^T (+ b),   xn' = rmsnorm(x_mid, ffn_norm)
//
// The pruned last layer: when only some rows' final states are wanted (the scored rows), the last
// layer computes keys and values for every row but queries, attention, output projection and MLP
// for those rows alone, in compact (U, ...) buffers. Every op's result for a row is independent of
// the rows computed with it, so the kept rows are bitwise those of the full computation.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "model/rope.h"
#include "synpref/model/batch.h"
#include "synpref/model/config.h"

namespace synpref::model {

// The projections of a decoder layer. q and kv are the two parts of the fused qkv matrix (rows
// [0, Hq*D) and [Hq*D, (Hq + 2 Hkv) D)), used by the pruned last layer; score is the reward head.
enum class Proj { qkv, q, kv, o, gate_up, down, score };

// A layer's f32 norm weights (q_norm/k_norm null without QK-norm).
struct LayerNorms {
  const float* attn_norm = nullptr;
  const float* ffn_norm = nullptr;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
};

// The weights as the graph reads them: the inference engine's packed checkpoint matrices or the
// trainer's flat parameters. linear() is the only way the graph multiplies by a matrix.
class GraphWeights {
 public:
  virtual ~GraphWeights() = default;
  // x (rows, C) = the embedding rows of ids[0, rows), widened to f32. Runs on one thread.
  virtual void embed(const int32_t* ids, int64_t rows, float* x) const = 0;
  virtual LayerNorms norms(int64_t layer) const = 0;
  virtual const float* final_norm() const = 0;
  // out (rows, N) = in (rows, K) @ W^T (+ bias), or out += (...) with accumulate, for W the
  // projection `proj` of `layer` (ignored for score). Rows of in / out are lda / ldc floats apart.
  virtual void linear(int64_t layer, Proj proj, const float* in, int64_t lda, int64_t rows, float* out,
                      int64_t ldc, bool accumulate) = 0;
};

// Where one layer's activations go (T rows each). Inference passes one reused set with x_mid ==
// x_out == x_in and qkv_raw == qkv (in place); training keeps a set per layer for backward.
struct LayerBuffers {
  float* x_in = nullptr;     // (T, C) residual stream entering the layer
  float* qkv_raw = nullptr;  // (T, qkv_n) projections before QK-norm (== qkv: normalized in place)
  float* qkv = nullptr;      // (T, qkv_n) q, k after QK-norm and RoPE; v
  float* att = nullptr;      // (T, Hq*D) attention output
  float* x_mid = nullptr;    // (T, C) residual stream after attention (may be x_in)
  float* gate_up = nullptr;  // (mlp rows, 2F) MLP pre-activations (see ActivationPlan::mlp_chunk_rows)
  float* x_out = nullptr;    // (T, C) residual stream leaving the layer (may be x_mid)
  float* lse =
      nullptr;  // (T, Hq) attention log-sum-exp per query head (training's backward); null = not kept
};

struct ActivationPlan {
  std::vector<LayerBuffers> layers;  // one per layer (entries may share buffers)
  float* xn = nullptr;               // (T, C) normalized inputs (scratch)
  // MLP rows per chunk: gate_up holds that many rows and is reused per chunk (bounded memory); 0 =
  // one chunk of every row (gate_up holds them all, as backward needs).
  int64_t mlp_chunk_rows = 0;
  // silu(gate) * up: (mlp rows, F), rows ld_h apart; null = in place over the gate half of gate_up.
  float* h = nullptr;
  int64_t ld_h = 0;
  // The pruned last layer (U rows each): attention output, residual after attention, MLP
  // pre-activations (U rows, or mlp_chunk_rows reused) and output (may be tail_mid).
  float* tail_att = nullptr;
  float* tail_mid = nullptr;
  float* tail_gate_up = nullptr;
  float* tail_out = nullptr;
};

// A query row: batch row, its sequence and its index within that sequence's own rows.
struct QueryRow {
  int64_t row = 0;
  int seq = 0;
  int64_t local = 0;
};

// The distinct rows whose final state is wanted (ascending) and, per requested row, its index
// among them: the rows of a pruned last layer.
struct ScoredRows {
  std::vector<QueryRow> rows;
  std::vector<int64_t> index_of;  // requested row i is rows[index_of[i]]
  std::vector<uint8_t> mask;      // (T) 1 for the rows in `rows`
  int64_t size() const { return static_cast<int64_t>(rows.size()); }
};
ScoredRows scored_rows(const PackedRows& batch, std::span<const int64_t> requested);

class Graph {
 public:
  Graph(const ModelConfig& config, const kernels::KernelSet* ks, ThreadPool* pool);

  // Embedding and every layer. With `tail`, the last layer runs pruned: only tail's rows leave it
  // (plan.tail_out); without, every row does (plan.layers.back().x_out).
  void forward(const PackedRows& b, GraphWeights& w, const ActivationPlan& plan, const ScoredRows* tail);
  // The residual stream after the last layer of requested row i (after forward).
  const float* final_row(const ActivationPlan& plan, const ScoredRows* tail,
                         std::span<const int64_t> requested, int64_t i) const;
  // hidden (n, C) = final norm of the requested rows; scores (n) = hidden @ score^T when non-null.
  void head(const ActivationPlan& plan, const ScoredRows* tail, std::span<const int64_t> requested,
            GraphWeights& w, float* hidden, float* scores);

  // Attention of every query row of every sequence, or (only != null) of the listed rows alone.
  // With lse, also the log-sum-exp of each computed row's query heads (lse[row * Hq + head]).
  void attention(const PackedRows& b, const float* qkv, float* att, const std::vector<QueryRow>* only,
                 float* lse = nullptr);
  // fn(r0, r1) over [0, rows) in fixed blocks of rows, in parallel.
  void rows_parallel(int64_t rows, const std::function<void(int64_t, int64_t)>& fn);

  const RopeTable& rope() const { return rope_; }
  ThreadPool& pool() { return *pool_; }
  const kernels::KernelSet& kernels() const { return *ks_; }
  double attention_seconds = 0;  // cumulative wall time of attention (profiles)

 private:
  void qkv_projection(int64_t l, GraphWeights& w, const LayerBuffers& a, const float* xn, int64_t T,
                      const ScoredRows* tail);
  void qk_norm_rope(const PackedRows& b, const LayerNorms& n, const LayerBuffers& a, const ScoredRows* tail);
  void mlp(int64_t l, GraphWeights& w, const ActivationPlan& plan, float* gate_up, const float* x_mid,
           float* x_out, int64_t rows);
  void tail_layer(const PackedRows& b, GraphWeights& w, const ActivationPlan& plan, const ScoredRows& tail);
  void rmsnorm(float* out, const float* in, const float* weight, int64_t rows);

  ModelConfig config_;
  const kernels::KernelSet* ks_;
  ThreadPool* pool_;
  RopeTable rope_;
  std::vector<kernels::FloatBuffer> thread_scratch_;  // per thread: attention
  kernels::FloatBuffer tail_tmp_;                     // the pruned layer's gathered rows
};

}  // namespace synpref::model
