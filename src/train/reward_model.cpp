// Forward and hand-written backward of the reward model over packed pair batches (see reward_model.h;
// the math is derived in docs/training.md).
#include "synpref/train/reward_model.h"
#include "synpref/common/threads.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <functional>
#include <thread>

#include "common/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "kernels/row_ops.h"
#include "model/graph.h"
#include "model/rope.h"
#include "synpref/common/check.h"

namespace synpref::train {

namespace ops = kernels::ops;
namespace row_ops = kernels::row_ops;
using kernels::AttentionBackward;
using kernels::FloatBuffer;

// ---------------------------------------------------------------- batches

void PackedBatch::clear() {
  ids.clear();
  positions.clear();
  seqs.clear();
  groups.clear();
  score_rows.clear();
  margins.clear();
}

void add_pair(PackedBatch& b, const PairView& pair, bool share_prefix, std::optional<int64_t> pad_token_id) {
  const int64_t n_prefix = static_cast<int64_t>(pair.prefix.size());
  auto add_seq = [&](std::initializer_list<std::span<const int32_t>> parts, int64_t pos0, int parent) {
    PackedBatch::Seq seq{b.n_rows(), 0, parent};
    for (const auto& part : parts) {
      for (int32_t id : part) {
        b.ids.push_back(id);
        b.positions.push_back(static_cast<int32_t>(pos0 + seq.n_rows));
        ++seq.n_rows;
      }
    }
    b.seqs.push_back(seq);
    return static_cast<int>(b.seqs.size()) - 1;
  };
  // transformers' pooling: the last position whose token is not pad_token_id (0 if none).
  auto pooled = [&](std::span<const int32_t> resp) {
    const int64_t n = n_prefix + static_cast<int64_t>(resp.size());
    SP_CHECK_MSG(n > 0, "a pair's prefix and response are both empty");
    auto id_at = [&](int64_t p) {
      return p < n_prefix ? pair.prefix[static_cast<size_t>(p)] : resp[static_cast<size_t>(p - n_prefix)];
    };
    int64_t pos = n - 1;
    if (pad_token_id)
      while (pos > 0 && id_at(pos) == *pad_token_id) --pos;
    return pos;
  };
  PackedBatch::Group group{static_cast<int>(b.seqs.size()), 0};
  const std::span<const int32_t> responses[2] = {pair.chosen, pair.rejected};
  if (share_prefix) {
    int ctx = -1;
    const int64_t ctx_row0 = b.n_rows();
    if (n_prefix > 0) ctx = add_seq({pair.prefix}, 0, -1);
    for (const auto& resp : responses) {
      const int64_t row0 = b.n_rows();
      if (!resp.empty()) add_seq({resp}, n_prefix, ctx);
      const int64_t pos = pooled(resp);
      b.score_rows.push_back(pos < n_prefix ? ctx_row0 + pos : row0 + (pos - n_prefix));
    }
  } else {
    for (const auto& resp : responses) {
      const int64_t row0 = b.n_rows();
      add_seq({pair.prefix, resp}, 0, -1);
      b.score_rows.push_back(row0 + pooled(resp));
    }
  }
  group.seq_end = static_cast<int>(b.seqs.size());
  b.groups.push_back(group);
  b.margins.push_back(pair.margin);
}

// ---------------------------------------------------------------- model

namespace {

constexpr int64_t kRowsPerTask = 16;    // row-parallel ops (does not affect results)
constexpr int64_t kNormChunkRows = 32;  // rows per partial weight-gradient sum (fixed: part of the numerics)

// Saved activations of one layer (T rows each; x_mid and gate_up are null in a pruned last layer).
using LayerActs = model::LayerBuffers;
using model::QueryRow;

// The forward graph's view of the flat f32 parameters: each product packs its matrix per call.
class FlatWeights final : public model::GraphWeights {
 public:
  FlatWeights(const model::ModelConfig& config, const ModelView& P, kernels::Gemm& gemm)
      : config_(config), P_(P), gemm_(gemm) {}
  void embed(const int32_t* ids, int64_t rows, float* x) const override {
    ops::embedding_forward<float>(x, ids, rows, P_.embed, config_.hidden_size);
  }
  model::LayerNorms norms(int64_t layer) const override {
    const LayerView& W = P_.layers[static_cast<size_t>(layer)];
    return {W.attn_norm, W.ffn_norm, W.q_norm, W.k_norm};
  }
  const float* final_norm() const override { return P_.final_norm; }
  void linear(int64_t layer, model::Proj proj, const float* in, int64_t lda, int64_t rows, float* out,
              int64_t ldc, bool accumulate) override {
    const int64_t C = config_.hidden_size, F = config_.intermediate_size, Qd = config_.q_dim();
    const int64_t qn = Qd + 2 * config_.kv_dim();
    auto run = [&](const float* w, const float* bias, int64_t k, int64_t n) {
      gemm_.linear_forward(out, in, w, bias, rows, k, n, accumulate, ldc, lda);
    };
    if (proj == model::Proj::score) return run(P_.score, nullptr, C, 1);
    const LayerView& W = P_.layers[static_cast<size_t>(layer)];
    switch (proj) {
      case model::Proj::qkv:
        return run(W.w_qkv, W.b_qkv, C, qn);
      case model::Proj::q:
        return run(W.w_qkv, W.b_qkv, C, Qd);
      case model::Proj::kv:
        return run(W.w_qkv + Qd * C, W.b_qkv ? W.b_qkv + Qd : nullptr, C, qn - Qd);
      case model::Proj::o:
        return run(W.w_o, W.b_o, Qd, C);
      case model::Proj::gate_up:
        return run(W.w_gate_up, W.b_gate_up, C, 2 * F);
      case model::Proj::down:
        return run(W.w_down, W.b_down, F, C);
      case model::Proj::score:
        break;
    }
  }

 private:
  const model::ModelConfig& config_;
  const ModelView& P_;
  kernels::Gemm& gemm_;
};

}  // namespace

struct RewardModel::Impl {
  model::ModelConfig config;
  const kernels::KernelSet* k = nullptr;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<kernels::Gemm> gemm;
  std::unique_ptr<model::Graph> graph;  // the forward pass (shared with the inference engine)
  int n_frozen = 0;
  // Only the scored rows leave the last layer (docs/training.md, "The last layer"): its query
  // projection, attention, output projection and MLP run for those rows alone.
  bool prune_last_layer = true;
  model::ScoredRows tail;  // the distinct score rows (tail.index_of[s]: score s's row among them)
  FloatBuffer tail_buf, tail_grad, tail_tmp;

  // Where the graph puts the activations: kept per trainable layer (frozen layers share slot_buf),
  // the pruned last layer's rows in tail_buf.
  model::ActivationPlan plan;
  FloatBuffer acts_buf, slot_buf;
  size_t kept_floats = 0;
  FloatBuffer hf, scores;  // (S, C) final-norm hidden states of score rows; (S) rewards
  FloatBuffer xn, h;       // (T, C), (T, F) recomputed in backward
  FloatBuffer dx, dxn, dh, dgu, datt, dqkv, dqkv_raw, dhf, partial;
  std::vector<FloatBuffer> row_scratch;          // per thread: row ops
  std::vector<AttentionBackward> attn_backward;  // per thread

  int64_t C() const { return config.hidden_size; }
  int64_t F() const { return config.intermediate_size; }
  int64_t D() const { return config.head_dim; }
  int64_t Hq() const { return config.n_head; }
  int64_t Hkv() const { return config.n_head_kv; }
  int64_t qkv_n() const { return (Hq() + 2 * Hkv()) * D(); }
  int64_t q_dim() const { return Hq() * D(); }
  float eps() const { return static_cast<float>(config.rms_norm_eps); }
  float attn_scale() const { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(D()))); }
  const model::RopeTable& rope() const { return graph->rope(); }

  void rows_parallel(int64_t rows, const std::function<void(int64_t, int64_t)>& fn) {
    pool->parallel_for((rows + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t task, int) {
      const int64_t r0 = task * kRowsPerTask;
      fn(r0, std::min(rows, r0 + kRowsPerTask));
    });
  }
  void zero(float* dst, int64_t n) {
    constexpr int64_t kChunk = 1 << 16;
    pool->parallel_for((n + kChunk - 1) / kChunk, [&](int64_t task, int) {
      const int64_t i0 = task * kChunk;
      std::memset(dst + i0, 0, static_cast<size_t>(std::min(n, i0 + kChunk) - i0) * sizeof(float));
    });
  }
  void rmsnorm(float* out, const float* inp, const float* w, int64_t T) {
    rows_parallel(T, [&](int64_t r0, int64_t r1) {
      k->rmsnorm_rows(out + r0 * C(), C(), inp + r0 * C(), C(), w, r1 - r0, C(), eps());
    });
  }

  // dinp (T, C) += RMSNorm backward; dweight (C) += sum over rows, summed per fixed chunk of rows
  // then over chunks in order (deterministic whatever the thread count).
  void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* w,
                        int64_t T) {
    const int64_t n_chunks = (T + kNormChunkRows - 1) / kNormChunkRows;
    float* part = partial.get(static_cast<size_t>(n_chunks * C()));
    pool->parallel_for(n_chunks, [&](int64_t chunk, int) {
      const int64_t r0 = chunk * kNormChunkRows, r1 = std::min(T, r0 + kNormChunkRows);
      float* pw = part + chunk * C();
      std::memset(pw, 0, static_cast<size_t>(C()) * sizeof(float));
      row_ops::rmsnorm_backward(dinp + r0 * C(), C(), pw, dout + r0 * C(), C(), inp + r0 * C(), C(), w,
                                r1 - r0, C(), eps());
    });
    if (dweight) reduce_partials(dweight, part, n_chunks, C());
  }
  void reduce_partials(float* dst, const float* part, int64_t n_chunks, int64_t width) {
    pool->parallel_for((width + 255) / 256, [&](int64_t task, int) {
      const int64_t c0 = task * 256, c1 = std::min(width, c0 + 256);
      for (int64_t ch = 0; ch < n_chunks; ++ch)
        for (int64_t c = c0; c < c1; ++c) dst[c] += part[ch * width + c];
    });
  }

  void plan_activations(int64_t T, bool keep);
  void plan_tail(const PackedBatch& b);
  // Backward of the last layer's projections when pruned (keys and values of every row, queries of
  // the scored rows), and of the rest of the pruned last layer.
  void tail_qkv_backward(const LayerView& W, const LayerView& GL, const float* dqkv_raw, const float* xn_rows,
                         float* dxn_rows, int64_t T);
  void backward_tail(const PackedBatch& b, const LayerView& W, const LayerView& GL, const LayerActs& A,
                     float* dtail, float* dx, float* datt, float* dqkv);
  const model::ScoredRows* pruned() const { return prune_last_layer ? &tail : nullptr; }
  // The final residual-stream row of score s (after the last layer).
  const float* final_row(const PackedBatch& b, int64_t s) const {
    return graph->final_row(plan, pruned(), b.score_rows, s);
  }
  void forward(const PackedBatch& b, const ModelView& P, bool keep);
  void attention_backward(const PackedBatch& b, const LayerActs& A, const float* datt, float* dqkv,
                          const std::vector<QueryRow>* only);
  void backward(const PackedBatch& b, const ModelView& P, const ModelView& G, const float* dscores);
};

void RewardModel::Impl::plan_activations(int64_t T, bool keep) {
  const int64_t attn_part = C() + (config.qk_norm ? qkv_n() : 0) + qkv_n() + q_dim() + Hq();
  const int64_t per_layer = attn_part + C() + 2 * F();
  const int64_t L = config.n_layer;
  auto layer_floats = [&](int64_t l) { return prune_last_layer && l == L - 1 ? attn_part : per_layer; };
  int64_t kept = prune_last_layer ? 0 : C();  // x_final
  if (keep)
    for (int64_t l = n_frozen; l < L; ++l) kept += layer_floats(l);
  kept_floats = static_cast<size_t>(T * kept);
  float* base = acts_buf.get(kept_floats);
  float* slot = slot_buf.get(static_cast<size_t>(T * per_layer));
  auto& acts = plan.layers;
  acts.assign(static_cast<size_t>(L), LayerActs{});
  auto carve = [&](float*& cursor, LayerActs& a, bool full) {
    a.x_in = cursor, cursor += T * C();
    if (config.qk_norm) a.qkv_raw = cursor, cursor += T * qkv_n();
    a.qkv = cursor, cursor += T * qkv_n();
    a.att = cursor, cursor += T * q_dim();
    a.lse = cursor, cursor += T * Hq();
    if (!full) return;
    a.x_mid = cursor, cursor += T * C();
    a.gate_up = cursor, cursor += T * 2 * F();
  };
  float* cursor = base;
  for (int64_t l = 0; l < L; ++l) {
    const bool full = layer_floats(l) == per_layer;
    if (keep && l >= n_frozen) {
      carve(cursor, acts[static_cast<size_t>(l)], full);
    } else {
      float* s = slot;
      carve(s, acts[static_cast<size_t>(l)], full);
    }
  }
  float* x_final = nullptr;  // (T, C) residual stream after the last layer (unpruned only)
  if (!prune_last_layer) x_final = cursor, cursor += T * C();
  SP_CHECK(cursor == base + kept_floats);
  for (int64_t l = 0; l < L; ++l)
    acts[static_cast<size_t>(l)].x_out = l + 1 < L ? acts[static_cast<size_t>(l + 1)].x_in : x_final;
  if (!config.qk_norm)
    for (auto& a : acts) a.qkv_raw = a.qkv;
  plan.xn = xn.get(static_cast<size_t>(T * C()));
  plan.h = h.get(static_cast<size_t>(T * F()));
  plan.ld_h = F();
  plan.mlp_chunk_rows = 0;  // backward reads every row's MLP pre-activations
}

void RewardModel::Impl::plan_tail(const PackedBatch& b) {
  tail = model::scored_rows(b, b.score_rows);
  const int64_t U = tail.size();
  float* base = tail_buf.get(static_cast<size_t>(U * (q_dim() + C() + 2 * F() + C())));
  plan.tail_att = base;
  plan.tail_mid = plan.tail_att + U * q_dim();
  plan.tail_gate_up = plan.tail_mid + U * C();
  plan.tail_out = plan.tail_gate_up + U * 2 * F();
}

// Tasks (group, kv head): a context's key/value gradients receive the contributions of its own
// queries and of every response continuing it, in sequence order, inside one task. With `only`,
// the listed query rows alone (ascending), one at a time.
void RewardModel::Impl::attention_backward(const PackedBatch& b, const LayerActs& A, const float* datt,
                                           float* dqkv, const std::vector<QueryRow>* only) {
  const float* qkv = A.qkv;
  const int64_t qn = qkv_n();
  const ops::AttnDims dims{Hq(), Hkv(), D()};
  const int64_t n_tasks = static_cast<int64_t>(b.groups.size()) * Hkv();
  pool->parallel_for(n_tasks, [&](int64_t task, int thread) {
    const auto& group = b.groups[static_cast<size_t>(task / Hkv())];
    const int64_t g = task % Hkv();
    for (int s = group.seq_begin; s < group.seq_end; ++s) {
      const auto& seq = b.seqs[static_cast<size_t>(s)];
      const PackedBatch::Seq* parent = seq.parent >= 0 ? &b.seqs[static_cast<size_t>(seq.parent)] : nullptr;
      auto run = [&](int64_t q_begin, int64_t q_end) {
        attn_backward[static_cast<size_t>(thread)].run(
            k, dqkv + seq.row0 * qn, parent ? dqkv + parent->row0 * qn : nullptr, datt + seq.row0 * q_dim(),
            q_dim(), qkv + seq.row0 * qn, parent ? qkv + parent->row0 * qn : nullptr, seq.n_rows,
            parent ? parent->n_rows : 0, qn, dims, attn_scale(), g, q_begin, q_end,
            A.att + seq.row0 * q_dim(), A.lse + seq.row0 * Hq(), Hq());
      };
      if (!only) {
        run(0, seq.n_rows);
        continue;
      }
      for (const QueryRow& q : *only)
        if (q.seq == s) run(q.local, q.local + 1);
    }
  });
}

// The forward pass is the model graph's (the inference engine's, bit for bit), writing the
// activations backward reads into the plan's buffers.
void RewardModel::Impl::forward(const PackedBatch& b, const ModelView& P, bool keep) {
  plan_activations(b.n_rows(), keep);
  if (prune_last_layer) plan_tail(b);
  FlatWeights weights(config, P, *gemm);
  graph->forward(b, weights, plan, pruned());
  // Final norm of the score rows; rewards = hf @ score^T.
  const size_t S = b.score_rows.size();
  graph->head(plan, pruned(), b.score_rows, weights, hf.get(S * static_cast<size_t>(C())), scores.get(S));
}

// dxn_rows (T, C) = the gradient of xn through the projections (written, not added).
void RewardModel::Impl::tail_qkv_backward(const LayerView& W, const LayerView& GL, const float* dqkv_raw,
                                          const float* xn_rows, float* dxn_rows, int64_t T) {
  const int64_t U = static_cast<int64_t>(tail.rows.size());
  const int64_t Cd = C(), Qd = q_dim(), qn = qkv_n(), kv_n = qn - Qd;
  gemm->linear_backward(dxn_rows, GL.w_qkv + Qd * Cd, GL.b_qkv ? GL.b_qkv + Qd : nullptr, dqkv_raw + Qd,
                        xn_rows, W.w_qkv + Qd * Cd, T, Cd, kv_n, false, qn);
  float* xq = tail_tmp.get(static_cast<size_t>(U * (2 * Cd + Qd)));
  float* dq = xq + U * Cd;
  float* dxq = dq + U * Qd;
  for (int64_t u = 0; u < U; ++u) {
    const int64_t row = tail.rows[static_cast<size_t>(u)].row;
    std::memcpy(xq + u * Cd, xn_rows + row * Cd, static_cast<size_t>(Cd) * sizeof(float));
    std::memcpy(dq + u * Qd, dqkv_raw + row * qn, static_cast<size_t>(Qd) * sizeof(float));
  }
  gemm->linear_backward(dxq, GL.w_qkv, GL.b_qkv, dq, xq, W.w_qkv, U, Cd, Qd, false);
  for (int64_t u = 0; u < U; ++u) {
    float* dst = dxn_rows + tail.rows[static_cast<size_t>(u)].row * Cd;
    for (int64_t c = 0; c < Cd; ++c) dst[c] += dxq[u * Cd + c];
  }
}

// Backward of forward_tail. dtail (U, C): the gradient at the tail's output rows on entry (used as
// scratch). Leaves dx (T, C) = the gradient reaching x_in through the residual path, and dqkv
// (T, qkv_n) = the attention's gradient (datt (T, Hq*D) is written at the scored rows only).
void RewardModel::Impl::backward_tail(const PackedBatch& b, const LayerView& W, const LayerView& GL,
                                      const LayerActs& A, float* dtail, float* dx, float* datt, float* dqkv) {
  const int64_t U = static_cast<int64_t>(tail.rows.size());
  const int64_t T = b.n_rows(), Cd = C(), Fd = F(), Qd = q_dim();
  float* xn_buf = xn.data();
  float* h_buf = h.data();
  float* dh_buf = dh.data();
  float* dgu_buf = dgu.data();
  float* dxn_buf = dxn.data();
  float* datt_tail = dtail + U * Cd;
  rmsnorm(xn_buf, plan.tail_mid, W.ffn_norm, U);
  for (int64_t u = 0; u < U; ++u)
    k->silu_mul(h_buf + u * Fd, plan.tail_gate_up + u * 2 * Fd, plan.tail_gate_up + u * 2 * Fd + Fd, Fd);
  gemm->linear_backward(dh_buf, GL.w_down, GL.b_down, dtail, h_buf, W.w_down, U, Fd, Cd, false);
  row_ops::swiglu_backward(k, dgu_buf, dh_buf, plan.tail_gate_up, U, Fd,
                           row_scratch[0].get(static_cast<size_t>(Fd)));
  gemm->linear_backward(dxn_buf, GL.w_gate_up, GL.b_gate_up, dgu_buf, xn_buf, W.w_gate_up, U, Cd, 2 * Fd,
                        false);
  rmsnorm_backward(dtail, GL.ffn_norm, dxn_buf, plan.tail_mid, W.ffn_norm, U);
  gemm->linear_backward(datt_tail, GL.w_o, GL.b_o, dtail, plan.tail_att, W.w_o, U, Qd, Cd, false);
  zero(dx, T * Cd);
  for (int64_t u = 0; u < U; ++u) {
    const int64_t row = tail.rows[static_cast<size_t>(u)].row;
    std::memcpy(dx + row * Cd, dtail + u * Cd, static_cast<size_t>(Cd) * sizeof(float));
    std::memcpy(datt + row * Qd, datt_tail + u * Qd, static_cast<size_t>(Qd) * sizeof(float));
  }
  zero(dqkv, T * qkv_n());
  attention_backward(b, A, datt, dqkv, &tail.rows);
}

void RewardModel::Impl::backward(const PackedBatch& b, const ModelView& P, const ModelView& G,
                                 const float* dscores) {
  const int64_t T = b.n_rows();
  const int64_t Cd = C(), Fd = F(), Dd = D(), qn = qkv_n();
  const int64_t S = static_cast<int64_t>(b.score_rows.size());
  float* dx_buf = dx.get(static_cast<size_t>(T * Cd));
  float* xn_buf = xn.get(static_cast<size_t>(T * Cd));
  float* dxn_buf = dxn.get(static_cast<size_t>(T * Cd));
  float* h_buf = h.get(static_cast<size_t>(T * Fd));
  float* dh_buf = dh.get(static_cast<size_t>(T * Fd));
  float* dgu_buf = dgu.get(static_cast<size_t>(T * 2 * Fd));
  float* datt_buf = datt.get(static_cast<size_t>(T * q_dim()));
  float* dqkv_buf = dqkv.get(static_cast<size_t>(T * qn));
  float* dqkv_raw_buf = config.qk_norm ? dqkv_raw.get(static_cast<size_t>(T * qn)) : dqkv_buf;

  // Score head: r_s = hf_s . w  =>  dhf_s = dr_s * w ; dw += sum_s dr_s * hf_s (s ascending).
  const float* hf_buf = hf.data();
  float* dhf_buf = dhf.get(static_cast<size_t>(S * Cd));
  for (int64_t s = 0; s < S; ++s) {
    for (int64_t c = 0; c < Cd; ++c) dhf_buf[s * Cd + c] = dscores[s] * P.score[c];
    for (int64_t c = 0; c < Cd; ++c) G.score[c] += dscores[s] * hf_buf[s * Cd + c];
  }
  // Final norm: only score rows receive gradient (pruned: into the tail's compact rows).
  const int64_t U = static_cast<int64_t>(tail.rows.size());
  float* dtail = prune_last_layer ? tail_grad.get(static_cast<size_t>(U * (Cd + q_dim()))) : nullptr;
  if (prune_last_layer)
    std::fill(dtail, dtail + U * Cd, 0.0f);
  else
    zero(dx_buf, T * Cd);
  for (int64_t s = 0; s < S; ++s) {
    float* drow = prune_last_layer ? dtail + tail.index_of[static_cast<size_t>(s)] * Cd
                                   : dx_buf + b.score_rows[static_cast<size_t>(s)] * Cd;
    row_ops::rmsnorm_backward(drow, Cd, G.final_norm, dhf_buf + s * Cd, Cd, final_row(b, s), Cd, P.final_norm,
                              1, Cd, eps());
  }

  for (int64_t l = config.n_layer - 1; l >= n_frozen; --l) {
    const LayerView& W = P.layers[static_cast<size_t>(l)];
    const LayerView& GL = G.layers[static_cast<size_t>(l)];
    const LayerActs& A = plan.layers[static_cast<size_t>(l)];
    const bool is_tail = prune_last_layer && l + 1 == config.n_layer;
    if (is_tail) {
      backward_tail(b, W, GL, A, dtail, dx_buf, datt_buf, dqkv_buf);
    } else {
      // ---- MLP: x_next = x_mid + h Wd^T + bd, h = silu(g) * u, [g|u] = xn2 Wgu^T + bgu.
      rmsnorm(xn_buf, A.x_mid, W.ffn_norm, T);
      rows_parallel(T, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          k->silu_mul(h_buf + r * Fd, A.gate_up + r * 2 * Fd, A.gate_up + r * 2 * Fd + Fd, Fd);
      });
      gemm->linear_backward(dh_buf, GL.w_down, GL.b_down, dx_buf, h_buf, W.w_down, T, Fd, Cd, false);
      for (auto& scratch : row_scratch) scratch.get(static_cast<size_t>(Fd));
      pool->parallel_for((T + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t task, int thread) {
        const int64_t r0 = task * kRowsPerTask, r1 = std::min(T, r0 + kRowsPerTask);
        row_ops::swiglu_backward(k, dgu_buf + r0 * 2 * Fd, dh_buf + r0 * Fd, A.gate_up + r0 * 2 * Fd, r1 - r0,
                                 Fd, row_scratch[static_cast<size_t>(thread)].data());
      });
      gemm->linear_backward(dxn_buf, GL.w_gate_up, GL.b_gate_up, dgu_buf, xn_buf, W.w_gate_up, T, Cd, 2 * Fd,
                            false);
      rmsnorm_backward(dx_buf, GL.ffn_norm, dxn_buf, A.x_mid, W.ffn_norm, T);
      // ---- attention: x_mid = x_in + att Wo^T + bo.
      gemm->linear_backward(datt_buf, GL.w_o, GL.b_o, dx_buf, A.att, W.w_o, T, q_dim(), Cd, false);
      zero(dqkv_buf, T * qn);
      attention_backward(b, A, datt_buf, dqkv_buf, nullptr);
    }
    rows_parallel(T, [&](int64_t r0, int64_t r1) {
      for (int64_t t = r0; t < r1; ++t) {
        const int64_t pos = b.positions[static_cast<size_t>(t)];
        ops::rope_backward<float, float>(dqkv_buf + t * qn, rope().cos(pos), rope().sin(pos), Hq() + Hkv(),
                                         Dd);
      }
    });
    if (config.qk_norm) {
      // Per-head RMSNorm of q and k: weight gradients summed per fixed chunk of tokens.
      const int64_t n_chunks = (T + kNormChunkRows - 1) / kNormChunkRows;
      float* part = partial.get(static_cast<size_t>(n_chunks * 2 * Dd));
      pool->parallel_for(n_chunks, [&](int64_t chunk, int) {
        const int64_t r0 = chunk * kNormChunkRows, r1 = std::min(T, r0 + kNormChunkRows);
        float* pq = part + chunk * 2 * Dd;
        float* pk = pq + Dd;
        std::memset(pq, 0, static_cast<size_t>(2 * Dd) * sizeof(float));
        for (int64_t t = r0; t < r1; ++t) {
          float* drow = dqkv_raw_buf + t * qn;
          const float* grow = dqkv_buf + t * qn;
          const float* xrow = A.qkv_raw + t * qn;
          // A pruned last layer has no queries (nor their gradients) outside the scored rows.
          if (!is_tail || tail.mask[static_cast<size_t>(t)])
            row_ops::rmsnorm_backward(drow, Dd, pq, grow, Dd, xrow, Dd, W.q_norm, Hq(), Dd, eps(), false);
          row_ops::rmsnorm_backward(drow + Hq() * Dd, Dd, pk, grow + Hq() * Dd, Dd, xrow + Hq() * Dd, Dd,
                                    W.k_norm, Hkv(), Dd, eps(), false);
          std::memcpy(drow + (Hq() + Hkv()) * Dd, grow + (Hq() + Hkv()) * Dd,
                      static_cast<size_t>(Hkv() * Dd) * sizeof(float));
        }
      });
      // part rows are [dq_norm | dk_norm]: reduce both at once into a contiguous temporary.
      float qk[2 * 1024];
      SP_CHECK(Dd <= 1024);
      std::fill(qk, qk + 2 * Dd, 0.0f);
      reduce_partials(qk, part, n_chunks, 2 * Dd);
      for (int64_t d = 0; d < Dd; ++d) GL.q_norm[d] += qk[d], GL.k_norm[d] += qk[Dd + d];
    }
    rmsnorm(xn_buf, A.x_in, W.attn_norm, T);
    if (is_tail)
      tail_qkv_backward(W, GL, dqkv_raw_buf, xn_buf, dxn_buf, T);
    else
      gemm->linear_backward(dxn_buf, GL.w_qkv, GL.b_qkv, dqkv_raw_buf, xn_buf, W.w_qkv, T, Cd, qn, false);
    rmsnorm_backward(dx_buf, GL.attn_norm, dxn_buf, A.x_in, W.attn_norm, T);
  }
  // Embedding: rows ascending within each column block (deterministic).
  if (G.embed) {
    const int64_t blocks = (Cd + 63) / 64;
    pool->parallel_for(blocks, [&](int64_t blk, int) {
      const int64_t c0 = blk * 64, c1 = std::min(Cd, c0 + 64);
      ops::embedding_backward<float>(G.embed, dx_buf, b.ids.data(), T, Cd, c0, c1);
    });
  }
}

RewardModel::RewardModel(const model::ModelConfig& config, const Options& options)
    : layout_(config, options.freeze_embeddings, options.n_frozen_layers) {}

RewardModel::~RewardModel() = default;

Result<std::unique_ptr<RewardModel>> RewardModel::create(const model::ModelConfig& config,
                                                         const Options& options) {
  const kernels::KernelSet* ks = kernels::select_kernels(options.kernels);
  if (!ks)
    return invalid_argument("kernels '" + options.kernels + "' is unknown or not supported by this CPU");
  if (options.n_frozen_layers < 0 || options.n_frozen_layers > config.n_layer) {
    return invalid_argument("--freeze-layers " + std::to_string(options.n_frozen_layers) +
                            " is outside [0, " + std::to_string(config.n_layer) + "]");
  }
  if (config.head_dim % 2 != 0 || config.head_dim > 1024) {
    return unsupported("head_dim " + std::to_string(config.head_dim) +
                       ": training needs an even head_dim <= 1024");
  }
  std::unique_ptr<RewardModel> rm(new RewardModel(config, options));
  rm->params_.assign(rm->layout_.size(), 0.0f);
  rm->grads_.assign(rm->layout_.n_trainable(), 0.0f);
  if (!rm->layout_.embeddings_frozen()) rm->row_marked_.assign(static_cast<size_t>(config.vocab_size), 0);
  auto impl = std::make_unique<Impl>();
  impl->config = rm->layout_.config();
  impl->k = ks;
  SP_RETURN_IF_ERROR(check_threads(options.n_threads, "n_threads"));
  const int n_threads = resolve_threads(options.n_threads);
  impl->pool = std::make_unique<ThreadPool>(n_threads);
  impl->gemm = std::make_unique<kernels::Gemm>(ks, impl->pool.get(), kernels::kTrainingTiling);
  impl->graph = std::make_unique<model::Graph>(impl->config, ks, impl->pool.get());
  impl->n_frozen = options.n_frozen_layers;
  impl->prune_last_layer = options.prune_last_layer;
  impl->row_scratch.resize(static_cast<size_t>(n_threads));
  impl->attn_backward.resize(static_cast<size_t>(n_threads));
  rm->impl_ = std::move(impl);
  return rm;
}

void RewardModel::zero_grad() {
  const ModelView G = layout_.grads_view(grads_.data());
  if (!G.embed) {
    impl_->zero(grads_.data(), static_cast<int64_t>(grads_.size()));
    return;
  }
  const int64_t C = config().hidden_size;
  const size_t embed_size = static_cast<size_t>(config().vocab_size * C);
  impl_->zero(grads_.data() + embed_size, static_cast<int64_t>(grads_.size() - embed_size));
  for (int32_t r : rows_) {
    std::memset(G.embed + static_cast<int64_t>(r) * C, 0, static_cast<size_t>(C) * sizeof(float));
    row_marked_[static_cast<size_t>(r)] = 0;
  }
  rows_.clear();
  rows_sorted_ = true;
}

const std::vector<int32_t>& RewardModel::embedding_rows() const {
  if (!rows_sorted_) {
    std::sort(rows_.begin(), rows_.end());
    rows_sorted_ = true;
  }
  return rows_;
}

void RewardModel::mark_embedding_rows(std::span<const int32_t> rows) {
  if (row_marked_.empty()) return;
  for (int32_t r : rows) {
    if (!row_marked_[static_cast<size_t>(r)]) {
      row_marked_[static_cast<size_t>(r)] = 1;
      rows_.push_back(r);
      rows_sorted_ = false;
    }
  }
}

namespace {

void fill_outputs(const PackedBatch& b, const float* scores, PairOutputs* out) {
  const int64_t n = b.n_pairs();
  out->r_chosen.resize(static_cast<size_t>(n));
  out->r_rejected.resize(static_cast<size_t>(n));
  out->losses.resize(static_cast<size_t>(n));
  for (int64_t p = 0; p < n; ++p) {
    out->r_chosen[static_cast<size_t>(p)] = scores[2 * p];
    out->r_rejected[static_cast<size_t>(p)] = scores[2 * p + 1];
    const double rc = scores[2 * p], rr = scores[2 * p + 1], m = b.margins[static_cast<size_t>(p)];
    ops::bt_loss_forward<double>(&out->losses[static_cast<size_t>(p)], &rc, &rr, &m, 1);
  }
}

}  // namespace

void RewardModel::forward(const PackedBatch& batch, PairOutputs* out) {
  if (batch.n_rows() == 0) {
    *out = PairOutputs{};
    return;
  }
  impl_->forward(batch, layout_.params_view(params_.data()), false);
  fill_outputs(batch, impl_->scores.data(), out);
}

void RewardModel::forward_backward(const PackedBatch& batch, float loss_scale, PairOutputs* out) {
  if (batch.n_rows() == 0) {
    *out = PairOutputs{};
    return;
  }
  const ModelView P = layout_.params_view(params_.data());
  impl_->forward(batch, P, true);
  fill_outputs(batch, impl_->scores.data(), out);
  // The gradient seed: dL/dr for every scored row (docs/training.md, "Bradley-Terry loss").
  const int64_t n = batch.n_pairs();
  std::vector<float> dscores(static_cast<size_t>(2 * n));
  for (int64_t p = 0; p < n; ++p) {
    const double rc = out->r_chosen[static_cast<size_t>(p)], rr = out->r_rejected[static_cast<size_t>(p)];
    const double m = batch.margins[static_cast<size_t>(p)];
    double dc = 0, dr = 0;
    ops::bt_loss_backward<double>(&dc, &dr, &rc, &rr, &m, 1, static_cast<double>(loss_scale));
    dscores[static_cast<size_t>(2 * p)] = static_cast<float>(dc);
    dscores[static_cast<size_t>(2 * p + 1)] = static_cast<float>(dr);
  }
  impl_->backward(batch, P, layout_.grads_view(grads_.data()), dscores.data());
  mark_embedding_rows(batch.ids);
}

void RewardModel::set_prune_last_layer(bool on) {
  impl_->prune_last_layer = on;
}

ThreadPool& RewardModel::thread_pool() {
  return *impl_->pool;
}

int RewardModel::n_threads() const {
  return impl_->pool->n_threads();
}
const char* RewardModel::kernel_name() const {
  return impl_->k->name;
}
size_t RewardModel::activation_bytes() const {
  return impl_->kept_floats * sizeof(float);
}

double RewardModel::forward_flops(const PackedBatch& b) const {
  const model::ModelConfig& c = layout_.config();
  const double T = static_cast<double>(b.n_rows());
  double flops = 2.0 * T * static_cast<double>(c.n_matmul_params());
  flops += 2.0 * static_cast<double>(b.score_rows.size()) * static_cast<double>(c.hidden_size);
  auto n_prefix = [&](const PackedBatch::Seq& seq) {
    return seq.parent >= 0 ? static_cast<double>(b.seqs[static_cast<size_t>(seq.parent)].n_rows) : 0.0;
  };
  double key_visits = 0;  // sum over rows of the keys each row attends to
  for (const auto& seq : b.seqs) {
    const double n = static_cast<double>(seq.n_rows);
    key_visits += n * n_prefix(seq) + n * (n + 1) / 2;
  }
  const double attn_per_visit = 4.0 * static_cast<double>(c.n_head * c.head_dim);
  if (!impl_->prune_last_layer) return flops + attn_per_visit * key_visits * static_cast<double>(c.n_layer);
  // The last layer: query and output projections, MLP and attention for the distinct scored rows.
  std::vector<int64_t> rows(b.score_rows);
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  double tail_visits = 0;
  for (int64_t row : rows) {
    for (const auto& seq : b.seqs)
      if (row >= seq.row0 && row < seq.row0 + seq.n_rows)
        tail_visits += n_prefix(seq) + static_cast<double>(row - seq.row0 + 1);
  }
  const double q_o_and_mlp =
      static_cast<double>(2 * c.q_dim() * c.hidden_size + 3 * c.hidden_size * c.intermediate_size);
  flops -= 2.0 * (T - static_cast<double>(rows.size())) * q_o_and_mlp;
  return flops + attn_per_visit * (key_visits * static_cast<double>(c.n_layer - 1) + tail_visits);
}

double fma_peak_gflops_per_cpu_second(const std::string& kernel_name) {
  const kernels::KernelSet* ks = kernels::select_kernels(kernel_name);
  if (!ks) return 0;
  auto cpu_seconds = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  };
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const double t0 = cpu_seconds();
    const double flops = ks->fma_peak_probe(40'000'000);
    best = std::max(best, flops / (cpu_seconds() - t0) / 1e9);
  }
  return best;
}

}  // namespace synpref::train
