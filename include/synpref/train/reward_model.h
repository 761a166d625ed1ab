// synpref/train/reward_model.h: a trainable reward model (Qwen3 / Llama *ForSequenceClassification).
//
//   auto rm = RewardModel::create(config, {.n_threads = 2});
//   load_weights(...) / init_random(...)            (checkpoint.h)
//   PackedBatch batch = pack_pairs(pairs, ids, {.share_prefix = true, .pad_token_id = ...});
//   rm->zero_grad();
//   rm->forward_backward(batch, 1.0f / n_pairs_in_step, &out);   // grads += d(mean BT loss)/d params
//
// The forward pass is the inference engine's (model/graph.h: one forward graph for model::Model and
// training), so a trained checkpoint scores bitwise identically in `synpref score`.
// The backward pass is hand-written, the forward reversed from the Bradley-Terry gradient seed
// (docs/training.md). Prefix sharing: a pair's prompt rows run once; both responses attend to them
// and both send gradients into them.
//
// Determinism: every output element and every gradient element is computed by one fixed sequence of
// operations whatever the thread count (fixed task splits, fixed reduction orders), so two runs give
// bitwise identical parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/model/batch.h"
#include "synpref/model/config.h"
#include "synpref/train/params.h"

namespace synpref {
class ThreadPool;  // common/thread_pool.h
namespace model {
using ThreadPool = synpref::ThreadPool;  // its former name, kept for callers
}
}  // namespace synpref

namespace synpref::train {

// A micro-batch: the rows of several sequences, no padding (model::PackedRows, the layout of the
// forward graph shared with the inference engine), plus the pairs they hold.
struct PackedBatch : model::PackedRows {
  // A shared context and the responses continuing it (one pair), or one unshared sequence. The
  // unit of the attention backward pass (a context's key/value gradients come from its group).
  struct Group {
    int seq_begin = 0, seq_end = 0;
  };
  std::vector<Group> groups;
  // Per pair p: rows whose final hidden state is scored for the chosen (score_rows[2p]) and the
  // rejected (score_rows[2p+1]) response, and the pair's margin.
  std::vector<int64_t> score_rows;
  std::vector<float> margins;
  int64_t n_pairs() const { return static_cast<int64_t>(margins.size()); }
  void clear();
};

// One pair's token ids (views).
struct PairView {
  std::span<const int32_t> prefix, chosen, rejected;
  float margin = 0.0f;
};

// Appends a pair. share_prefix: the prefix rows appear once and both responses continue them;
// otherwise each response is a full sequence of its own (prefix + response). Score rows follow
// transformers' pooling: the last position whose token is not pad_token_id.
void add_pair(PackedBatch& batch, const PairView& pair, bool share_prefix,
              std::optional<int64_t> pad_token_id);

// Per-pair outputs of a forward pass.
struct PairOutputs {
  std::vector<float> r_chosen, r_rejected;  // rewards
  std::vector<double> losses;               // -log sigmoid(r_c - r_r - margin), per pair
};

class RewardModel {
 public:
  struct Options {
    int n_threads = 0;             // 0 = all hardware threads
    std::string kernels = "auto";  // as model::LoadOptions::kernels
    bool freeze_embeddings = false;
    int n_frozen_layers = 0;  // the lowest K layers (implies frozen embeddings)
    // Run the last layer's queries, attention, output projection and MLP for the scored rows only
    // (the other rows' outputs there reach no reward; keys and values still cover every row). Same
    // rewards bit for bit, same gradients up to summation order; false computes every row (the
    // reference the tests compare with).
    bool prune_last_layer = true;
  };
  // Parameters are zero until loaded or initialized (checkpoint.h).
  static Result<std::unique_ptr<RewardModel>> create(const model::ModelConfig& config,
                                                     const Options& options);
  ~RewardModel();
  RewardModel(const RewardModel&) = delete;
  RewardModel& operator=(const RewardModel&) = delete;

  const model::ModelConfig& config() const { return layout_.config(); }
  const ParamLayout& layout() const { return layout_; }
  std::span<float> params() { return {params_.data(), params_.size()}; }
  std::span<const float> params() const { return {params_.data(), params_.size()}; }
  // Gradients of the trainable suffix of params() (see ParamLayout::trainable_begin).
  std::span<float> grads() { return {grads_.data(), grads_.size()}; }
  std::span<const float> grads() const { return {grads_.data(), grads_.size()}; }
  // Zeroes the gradients. The embedding gradient is sparse (only rows of ids seen since the last
  // zero_grad are nonzero), so only those rows are cleared.
  void zero_grad();
  // Embedding rows whose gradient may be nonzero, sorted: the ids of every batch since zero_grad()
  // plus rows marked with mark_embedding_rows (rows an allreduce wrote). Empty when frozen.
  const std::vector<int32_t>& embedding_rows() const;
  void mark_embedding_rows(std::span<const int32_t> rows);

  // Forward and backward of loss_scale * sum_p BT loss_p over the batch's pairs; gradients are
  // ADDED to grads() (gradient accumulation over micro-batches). Fills `out` (rewards, losses).
  void forward_backward(const PackedBatch& batch, float loss_scale, PairOutputs* out);
  // Forward only (no activations kept): rewards and losses of the batch's pairs.
  void forward(const PackedBatch& batch, PairOutputs* out);

  // Options::prune_last_layer for the following passes (benchmarks compare both).
  void set_prune_last_layer(bool on);

  int n_threads() const;
  ThreadPool& thread_pool();  // the workers this model runs on (shared by the optimizer)
  const char* kernel_name() const;
  // FLOPs (multiply-add = 2) one forward pass over `batch` executes: matmuls (including the score
  // head) and causal attention over the keys each row actually sees; with prune_last_layer, the last
  // layer's queries, attention, output projection and MLP count for the scored rows only. Backward
  // costs about twice that.
  double forward_flops(const PackedBatch& batch) const;
  // Bytes of activations the last forward_backward kept (peak activation memory).
  size_t activation_bytes() const;

  struct Impl;

 private:
  RewardModel(const model::ModelConfig& config, const Options& options);
  ParamLayout layout_;
  std::vector<float> params_, grads_;
  std::unique_ptr<Impl> impl_;
  std::vector<uint8_t> row_marked_;    // (V) embedding rows in rows_
  mutable std::vector<int32_t> rows_;  // embedding rows with possibly nonzero gradient
  mutable bool rows_sorted_ = true;
};

// Peak FMA throughput of one thread per second of its own CPU time (GFLOP per CPU-second), from
// the kernel set's register-resident FMA probe (best of 3). With the process's CPU time it gives an
// MFU that leaves out time the threads spent descheduled by other load on a shared machine.
double fma_peak_gflops_per_cpu_second(const std::string& kernels);

}  // namespace synpref::train
