// The forward graph (see graph.h): one implementation of the decoder layers for inference and
// training. Every op is row-local except attention, and attention reads only the rows of the
// query's own sequence (and of its shared context), with key blocks aligned to position 0 of that
// sequence; so each row's values are the same whatever else is in the batch, and whichever rows
// are computed with it (docs/model.md).
#include "model/graph.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "synpref/common/check.h"

namespace synpref::model {

namespace {

constexpr int64_t kAttnQueryRows = 256;  // own rows per attention task (does not affect results)
constexpr int64_t kRowsPerTask = 16;     // row-parallel ops (does not affect results)

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

ScoredRows scored_rows(const PackedRows& b, std::span<const int64_t> requested) {
  ScoredRows out;
  std::vector<int64_t> rows(requested.begin(), requested.end());
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  for (int64_t row : rows) {
    // Sequences are laid out in row order: the last one starting at or before the row holds it.
    const auto it = std::upper_bound(b.seqs.begin(), b.seqs.end(), row,
                                     [](int64_t r, const PackedRows::Seq& sq) { return r < sq.row0; });
    SP_CHECK(it != b.seqs.begin());
    const int seq = static_cast<int>(it - b.seqs.begin()) - 1;
    const auto& sq = b.seqs[static_cast<size_t>(seq)];
    SP_CHECK(row >= sq.row0 && row < sq.row0 + sq.n_rows);
    out.rows.push_back({row, seq, row - sq.row0});
  }
  for (int64_t row : requested)
    out.index_of.push_back(std::lower_bound(rows.begin(), rows.end(), row) - rows.begin());
  out.mask.assign(static_cast<size_t>(b.n_rows()), 0);
  for (int64_t row : rows) out.mask[static_cast<size_t>(row)] = 1;
  return out;
}

Graph::Graph(const ModelConfig& config, const kernels::KernelSet* ks, ThreadPool* pool)
    : config_(config),
      ks_(ks),
      pool_(pool),
      rope_(config),
      thread_scratch_(static_cast<size_t>(pool->n_threads())) {}

void Graph::rows_parallel(int64_t rows, const std::function<void(int64_t, int64_t)>& fn) {
  pool_->parallel_for((rows + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t task, int) {
    const int64_t r0 = task * kRowsPerTask;
    fn(r0, std::min(rows, r0 + kRowsPerTask));
  });
}

void Graph::rmsnorm(float* out, const float* in, const float* weight, int64_t rows) {
  const int64_t C = config_.hidden_size;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  rows_parallel(rows, [&](int64_t r0, int64_t r1) {
    ks_->rmsnorm_rows(out + r0 * C, C, in + r0 * C, C, weight, r1 - r0, C, eps);
  });
}

void Graph::forward(const PackedRows& b, GraphWeights& w, const ActivationPlan& plan,
                    const ScoredRows* tail) {
  const int64_t T = b.n_rows();
  const int64_t C = config_.hidden_size, Qd = config_.q_dim();
  if (T == 0) return;
  int64_t max_pos = 0;
  for (int32_t p : b.positions) max_pos = std::max<int64_t>(max_pos, p);
  rope_.ensure(max_pos + 1);

  float* x0 = plan.layers[0].x_in;
  rows_parallel(T, [&](int64_t r0, int64_t r1) { w.embed(b.ids.data() + r0, r1 - r0, x0 + r0 * C); });
  for (int64_t l = 0; l < config_.n_layer; ++l) {
    const LayerBuffers& a = plan.layers[static_cast<size_t>(l)];
    const LayerNorms norms = w.norms(l);
    const ScoredRows* pruned = l + 1 == config_.n_layer ? tail : nullptr;
    rmsnorm(plan.xn, a.x_in, norms.attn_norm, T);
    qkv_projection(l, w, a, plan.xn, T, pruned);
    qk_norm_rope(b, norms, a, pruned);
    if (pruned) {
      tail_layer(b, w, plan, *pruned);
      break;
    }
    attention(b, a.qkv, a.att, nullptr, a.lse);
    // x_mid = x_in + att @ Wo^T (+ b)
    if (a.x_mid != a.x_in) {
      rows_parallel(T, [&](int64_t r0, int64_t r1) {
        std::memcpy(a.x_mid + r0 * C, a.x_in + r0 * C, static_cast<size_t>((r1 - r0) * C) * sizeof(float));
      });
    }
    w.linear(l, Proj::o, a.att, Qd, T, a.x_mid, C, true);
    mlp(l, w, plan, a.gate_up, a.x_mid, a.x_out, T);
  }
}

// qkv_raw = xn @ Wqkv^T (+ b). A pruned last layer: keys and values of every row (written at their
// columns of the qkv rows), queries of the scored rows only.
void Graph::qkv_projection(int64_t l, GraphWeights& w, const LayerBuffers& a, const float* xn, int64_t T,
                           const ScoredRows* tail) {
  const int64_t C = config_.hidden_size, Qd = config_.q_dim(), qn = Qd + 2 * config_.kv_dim();
  if (!tail) {
    w.linear(l, Proj::qkv, xn, C, T, a.qkv_raw, qn, false);
    return;
  }
  w.linear(l, Proj::kv, xn, C, T, a.qkv_raw + Qd, qn, false);
  const int64_t U = tail->size();
  float* xq = tail_tmp_.get(static_cast<size_t>(U * (C + Qd)));
  float* q = xq + U * C;
  for (int64_t u = 0; u < U; ++u)
    std::memcpy(xq + u * C, xn + tail->rows[static_cast<size_t>(u)].row * C,
                static_cast<size_t>(C) * sizeof(float));
  w.linear(l, Proj::q, xq, C, U, q, Qd, false);
  for (int64_t u = 0; u < U; ++u)
    std::memcpy(a.qkv_raw + tail->rows[static_cast<size_t>(u)].row * qn, q + u * Qd,
                static_cast<size_t>(Qd) * sizeof(float));
}

// Qwen3: RMSNorm over each head of q and k (qkv_raw -> qkv); then RoPE on q and k. A pruned last
// layer has queries only at the scored rows.
void Graph::qk_norm_rope(const PackedRows& b, const LayerNorms& n, const LayerBuffers& a,
                         const ScoredRows* tail) {
  const int64_t D = config_.head_dim, Hq = config_.n_head, Hkv = config_.n_head_kv;
  const int64_t qn = (Hq + 2 * Hkv) * D;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  rows_parallel(b.n_rows(), [&](int64_t r0, int64_t r1) {
    for (int64_t t = r0; t < r1; ++t) {
      const bool need_q = !tail || tail->mask[static_cast<size_t>(t)];
      float* row = a.qkv + t * qn;
      const float* raw = a.qkv_raw + t * qn;
      if (n.q_norm) {
        if (need_q) ks_->rmsnorm_rows(row, D, raw, D, n.q_norm, Hq, D, eps);
        ks_->rmsnorm_rows(row + Hq * D, D, raw + Hq * D, D, n.k_norm, Hkv, D, eps);
        if (row != raw)
          std::memcpy(row + (Hq + Hkv) * D, raw + (Hq + Hkv) * D,
                      static_cast<size_t>(Hkv * D) * sizeof(float));
      } else if (row != raw) {
        std::memcpy(row, raw, static_cast<size_t>(qn) * sizeof(float));
      }
      const int64_t pos = b.positions[static_cast<size_t>(t)];
      const int64_t h0 = need_q ? 0 : Hq;
      kernels::ops::rope_forward<float, float>(row + h0 * D, rope_.cos(pos), rope_.sin(pos), Hq + Hkv - h0,
                                               D);
    }
  });
}

// x_out = x_mid + (silu(xn Wg^T) * (xn Wu^T)) Wd^T (+ b), xn = rmsnorm(x_mid), over `rows` rows in
// chunks of plan.mlp_chunk_rows (the (rows, 2F) pre-activations are the largest buffer).
void Graph::mlp(int64_t l, GraphWeights& w, const ActivationPlan& plan, float* gate_up, const float* x_mid,
                float* x_out, int64_t rows) {
  const int64_t C = config_.hidden_size, F = config_.intermediate_size;
  rmsnorm(plan.xn, x_mid, w.norms(l).ffn_norm, rows);
  if (x_out != x_mid) {
    rows_parallel(rows, [&](int64_t r0, int64_t r1) {
      std::memcpy(x_out + r0 * C, x_mid + r0 * C, static_cast<size_t>((r1 - r0) * C) * sizeof(float));
    });
  }
  const int64_t chunk = plan.mlp_chunk_rows > 0 ? std::min(rows, plan.mlp_chunk_rows) : rows;
  float* h = plan.h ? plan.h : gate_up;
  const int64_t ld_h = plan.h ? plan.ld_h : 2 * F;
  for (int64_t m0 = 0; m0 < rows; m0 += chunk) {
    const int64_t n = std::min(chunk, rows - m0);
    w.linear(l, Proj::gate_up, plan.xn + m0 * C, C, n, gate_up, 2 * F, false);
    rows_parallel(n, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        ks_->silu_mul(h + r * ld_h, gate_up + r * 2 * F, gate_up + r * 2 * F + F, F);
    });
    w.linear(l, Proj::down, h, ld_h, n, x_out + m0 * C, C, true);
  }
}

// The last layer for the scored rows alone (after qkv_projection and qk_norm_rope): attention of
// their queries, then the output projection and the MLP on compact (U, ...) rows.
void Graph::tail_layer(const PackedRows& b, GraphWeights& w, const ActivationPlan& plan,
                       const ScoredRows& tail) {
  const int64_t l = config_.n_layer - 1;
  const LayerBuffers& a = plan.layers[static_cast<size_t>(l)];
  const int64_t U = tail.size(), C = config_.hidden_size, Qd = config_.q_dim();
  attention(b, a.qkv, a.att, &tail.rows, a.lse);
  for (int64_t u = 0; u < U; ++u) {
    const int64_t row = tail.rows[static_cast<size_t>(u)].row;
    std::memcpy(plan.tail_att + u * Qd, a.att + row * Qd, static_cast<size_t>(Qd) * sizeof(float));
    std::memcpy(plan.tail_mid + u * C, a.x_in + row * C, static_cast<size_t>(C) * sizeof(float));
  }
  w.linear(l, Proj::o, plan.tail_att, Qd, U, plan.tail_mid, C, true);
  mlp(l, w, plan, plan.tail_gate_up, plan.tail_mid, plan.tail_out, U);
}

void Graph::attention(const PackedRows& b, const float* qkv, float* att, const std::vector<QueryRow>* only,
                      float* lse) {
  const int64_t D = config_.head_dim, Hq = config_.n_head, Hkv = config_.n_head_kv, n_rep = Hq / Hkv;
  const int64_t qn = (Hq + 2 * Hkv) * D, Qd = Hq * D;
  // Tasks: (sequence, kv head, query chunk), or one per (listed row, kv head).
  struct Task {
    int seq;
    int64_t q0, q1, kv_head, cost;
  };
  std::vector<Task> tasks;
  auto prefix_rows = [&](const PackedRows::Seq& seq) {
    return seq.parent >= 0 ? b.seqs[static_cast<size_t>(seq.parent)].n_rows : 0;
  };
  if (only) {
    for (const QueryRow& q : *only) {
      const int64_t prefix = prefix_rows(b.seqs[static_cast<size_t>(q.seq)]);
      for (int64_t g = 0; g < Hkv; ++g)
        tasks.push_back({q.seq, q.local, q.local + 1, g, prefix + q.local + 1});
    }
  } else {
    for (size_t s = 0; s < b.seqs.size(); ++s) {
      const auto& seq = b.seqs[s];
      const int64_t prefix = prefix_rows(seq);
      for (int64_t q0 = 0; q0 < seq.n_rows; q0 += kAttnQueryRows) {
        const int64_t q1 = std::min(seq.n_rows, q0 + kAttnQueryRows);
        for (int64_t g = 0; g < Hkv; ++g) tasks.push_back({static_cast<int>(s), q0, q1, g, prefix + q1});
      }
    }
  }
  // Longest sequences first; within a sequence head-major, query chunks longest first: consecutive
  // tasks reuse one head's keys/values from L2, and the short tasks come last (load balance).
  std::vector<int64_t> seq_cost(b.seqs.size(), 0);
  for (const auto& t : tasks)
    seq_cost[static_cast<size_t>(t.seq)] = std::max(seq_cost[static_cast<size_t>(t.seq)], t.cost);
  std::stable_sort(tasks.begin(), tasks.end(), [&](const Task& x, const Task& y) {
    const int64_t cx = seq_cost[static_cast<size_t>(x.seq)], cy = seq_cost[static_cast<size_t>(y.seq)];
    if (cx != cy) return cx > cy;
    if (x.seq != y.seq) return x.seq < y.seq;
    if (x.kv_head != y.kv_head) return x.kv_head < y.kv_head;
    return x.cost > y.cost;
  });
  const size_t scratch =
      ks_->attention_scratch_floats(kAttnQueryRows, static_cast<int>(D), static_cast<int>(n_rep));
  for (auto& s : thread_scratch_) s.get(scratch);
  const double t0 = now_seconds();
  pool_->parallel_for(static_cast<int64_t>(tasks.size()), [&](int64_t ti, int thread) {
    const Task& t = tasks[static_cast<size_t>(ti)];
    const auto& seq = b.seqs[static_cast<size_t>(t.seq)];
    kernels::AttnArgs a;
    const int64_t k_col = Qd + t.kv_head * D, v_col = (Hq + Hkv) * D + t.kv_head * D;
    if (seq.parent >= 0) {
      const auto& parent = b.seqs[static_cast<size_t>(seq.parent)];
      a.k_prefix = qkv + parent.row0 * qn + k_col;
      a.v_prefix = qkv + parent.row0 * qn + v_col;
      a.n_prefix = parent.n_rows;
    }
    a.k_own = qkv + seq.row0 * qn + k_col;
    a.v_own = qkv + seq.row0 * qn + v_col;
    a.kv_stride = qn;
    a.q = qkv + seq.row0 * qn + t.kv_head * n_rep * D;
    a.q_stride = qn;
    a.out = att + seq.row0 * Qd + t.kv_head * n_rep * D;
    a.out_stride = Qd;
    a.q_begin = t.q0;
    a.q_end = t.q1;
    a.head_dim = static_cast<int>(D);
    a.n_rep = static_cast<int>(n_rep);
    a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));  // transformers: head_dim**-0.5
    if (lse) {
      a.lse = lse + seq.row0 * Hq + t.kv_head * n_rep;
      a.lse_stride = Hq;
    }
    ks_->attention(a, thread_scratch_[static_cast<size_t>(thread)].data());
  });
  attention_seconds += now_seconds() - t0;
}

const float* Graph::final_row(const ActivationPlan& plan, const ScoredRows* tail,
                              std::span<const int64_t> requested, int64_t i) const {
  const int64_t C = config_.hidden_size;
  if (tail) return plan.tail_out + tail->index_of[static_cast<size_t>(i)] * C;
  return plan.layers.back().x_out + requested[static_cast<size_t>(i)] * C;
}

void Graph::head(const ActivationPlan& plan, const ScoredRows* tail, std::span<const int64_t> requested,
                 GraphWeights& w, float* hidden, float* scores) {
  const int64_t C = config_.hidden_size, n = static_cast<int64_t>(requested.size());
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const float* weight = w.final_norm();
  rows_parallel(n, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i)
      ks_->rmsnorm_rows(hidden + i * C, C, final_row(plan, tail, requested, i), C, weight, 1, C, eps);
  });
  if (scores) w.linear(-1, Proj::score, hidden, C, n, scores, 1, false);
}

}  // namespace synpref::model
