// The forward pass over packed batches and the scoring API.
//
// One batch = the rows of several sequences, no padding. Every op is row-local except attention, and
// attention only reads the rows of the query's own sequence (and of its shared context), with key
// blocks aligned to position 0 of that sequence. So each row's values are the same whatever else is
// in the batch: batch invariance and exact prefix sharing follow (docs/model.md).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "model_impl.h"
#include "status_util.h"

namespace synpref::model {

namespace {

constexpr int64_t kAttnQueryRows = 32;   // own rows per attention task (does not affect results)
constexpr int64_t kMlpChunkRows = 1024;  // MLP rows per chunk: bounds the (rows, 2F) buffer
constexpr int64_t kRowsPerTask = 16;     // row-parallel ops

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const ModelConfig& Model::config() const {
  return impl_->config;
}
bool Model::has_score_head() const {
  return impl_->has_score;
}
bool Model::has_lm_head() const {
  return impl_->has_lm;
}
const char* Model::kernel_name() const {
  return impl_->kernels->name;
}
int Model::n_threads() const {
  return impl_->pool->n_threads();
}
uint64_t Model::packed_weight_bytes() const {
  return impl_->packed.size();
}

Model::Profile Model::profile() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->profile;
}
void Model::reset_profile() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->profile = Profile{};
}

double Model::forward_flops(int64_t n_tokens) const {
  const ModelConfig& c = impl_->config;
  const double n = static_cast<double>(n_tokens);
  const double matmul = 2.0 * n * static_cast<double>(c.n_matmul_params());
  // QK^T and PV over the causal triangle: 2 matmuls x 2 flops x head_dim x heads x n(n+1)/2 pairs.
  const double attention = 4.0 * static_cast<double>(c.head_dim * c.n_head) * n * (n + 1) / 2.0 * c.n_layer;
  return matmul + attention;
}

// ---------------------------------------------------------------- ops (over explicit buffers)

// C (M, N) (+)= A (M, K) @ W^T: tasks = (panel group, row block), each output element owned by one task.
void Model::Impl::matmul(const kernels::GemmArgs& g) {
  const double t0 = now_seconds();
  const kernels::PackedMatrix& w = *g.w;
  const int64_t panels = w.n_panels();
  const int64_t block_rows = 8 * kernels->mr;
  const int64_t m_blocks = (g.m + block_rows - 1) / block_rows;
  // Panels per task: about 512 KiB of weights (stays in L2 while the row tiles stream past), but
  // enough tasks to keep every thread busy.
  const int64_t panel_bytes = w.k * w.nr * static_cast<int64_t>(kernels::wtype_size(w.type));
  int64_t group = std::max<int64_t>(1, (512 << 10) / std::max<int64_t>(1, panel_bytes));
  const int64_t want_tasks = 4 * pool->n_threads();
  while (group > 1 && ((panels + group - 1) / group) * m_blocks < want_tasks) group /= 2;
  const int64_t n_groups = (panels + group - 1) / group;
  // A is packed once (in parallel, by row tiles) and shared by every task.
  const int64_t mr = kernels->mr;
  const int64_t n_tiles = (g.m + mr - 1) / mr;
  float* a_packed = a_pack.get(static_cast<size_t>(n_tiles * mr * w.k));
  const int64_t tiles_per_task =
      std::max<int64_t>(1, (n_tiles + 2 * pool->n_threads() - 1) / (2 * pool->n_threads()));
  pool->parallel_for((n_tiles + tiles_per_task - 1) / tiles_per_task, [&](int64_t task, int) {
    const int64_t t0_ = task * tiles_per_task, t1_ = std::min(n_tiles, t0_ + tiles_per_task);
    kernels->pack_a(g.a + t0_ * mr * g.lda, g.lda, std::min(g.m, t1_ * mr) - t0_ * mr, w.k,
                    a_packed + t0_ * mr * w.k);
  });
  const size_t scratch_floats = kernels->gemm_scratch_floats(std::min(block_rows, g.m), group);
  for (auto& s : thread_scratch) s.get(scratch_floats);
  pool->parallel_for(n_groups * m_blocks, [&](int64_t task, int thread) {
    const int64_t gi = task / m_blocks, mb = task % m_blocks;
    const int64_t m0 = mb * block_rows, m1 = std::min(g.m, m0 + block_rows);
    const int64_t p0 = gi * group, p1 = std::min(panels, p0 + group);
    kernels->gemm_block(g, a_packed, m0, m1, p0, p1, thread_scratch[static_cast<size_t>(thread)].v.data());
  });
  profile.gemm_seconds += now_seconds() - t0;
}

namespace {

// x (D) rotated in place at one position: transformers' q*cos + rotate_half(q)*sin.
inline void rope_head(float* x, const float* cos_p, const float* sin_p, int64_t half) {
  for (int64_t i = 0; i < half; ++i) {
    const float x1 = x[i], x2 = x[i + half];
    const float c = cos_p[i], s = sin_p[i];
    x[i] = x1 * c + (-x2) * s;
    x[i + half] = x2 * c + x1 * s;
  }
}

}  // namespace

Status Model::Impl::forward(const Batch& b, const std::vector<int64_t>& out_rows, float* hidden) {
  const ModelConfig& c = config;
  const int64_t T = b.n_rows();
  const int64_t C = c.hidden_size, D = c.head_dim, F = c.intermediate_size;
  const int64_t Hq = c.n_head, Hkv = c.n_head_kv, n_rep = Hq / Hkv;
  const int64_t qkv_n = (Hq + 2 * Hkv) * D;
  const float eps = static_cast<float>(c.rms_norm_eps);
  if (T == 0) return Status::ok();

  int64_t max_pos = 0;
  for (int32_t p : b.positions) max_pos = std::max<int64_t>(max_pos, p);
  rope.ensure(max_pos + 1);

  float* x = this->x.get(static_cast<size_t>(T * C));           // (T, C) residual stream
  float* xn = this->xn.get(static_cast<size_t>(T * C));         // (T, C) normalized
  float* qkv = this->qkv.get(static_cast<size_t>(T * qkv_n));   // (T, Hq*D + 2*Hkv*D)
  float* att = this->att.get(static_cast<size_t>(T * Hq * D));  // (T, Hq*D)
  const int64_t chunk = std::min(T, kMlpChunkRows);
  float* gu = gate_up.get(static_cast<size_t>(chunk * 2 * F));  // (chunk, 2F)

  auto rows_parallel = [&](int64_t rows, const std::function<void(int64_t, int64_t)>& fn) {
    pool->parallel_for((rows + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t task, int) {
      const int64_t r0 = task * kRowsPerTask;
      fn(r0, std::min(rows, r0 + kRowsPerTask));
    });
  };

  // Embedding: x[t] = E[id[t]] widened to f32.
  rows_parallel(T, [&](int64_t r0, int64_t r1) {
    for (int64_t t = r0; t < r1; ++t) {
      const uint8_t* row =
          embed + static_cast<size_t>(b.ids[static_cast<size_t>(t)]) * C * kernels::wtype_size(embed_type);
      for (int64_t i = 0; i < C; ++i) x[t * C + i] = kernels::widen(embed_type, row, i);
    }
  });

  // Attention tasks: (sequence, kv head, query chunk), longest first for load balance.
  struct AttnTask {
    int seq;
    int64_t q0, q1, kv_head, cost;
  };
  std::vector<AttnTask> attn_tasks;
  size_t attn_scratch = 0;
  for (size_t s = 0; s < b.seqs.size(); ++s) {
    const auto& seq = b.seqs[s];
    const int64_t prefix = seq.parent >= 0 ? b.seqs[static_cast<size_t>(seq.parent)].n_rows : 0;
    for (int64_t q0 = 0; q0 < seq.n_rows; q0 += kAttnQueryRows) {
      const int64_t q1 = std::min(seq.n_rows, q0 + kAttnQueryRows);
      for (int64_t g = 0; g < Hkv; ++g) attn_tasks.push_back({static_cast<int>(s), q0, q1, g, prefix + q1});
    }
  }
  // Longest sequences first; within a sequence head-major, query chunks longest first: consecutive
  // tasks reuse one head's keys/values from L2, and the short tasks come last (load balance).
  std::vector<int64_t> seq_cost(b.seqs.size(), 0);
  for (const auto& t : attn_tasks)
    seq_cost[static_cast<size_t>(t.seq)] = std::max(seq_cost[static_cast<size_t>(t.seq)], t.cost);
  std::stable_sort(attn_tasks.begin(), attn_tasks.end(), [&](const AttnTask& x, const AttnTask& y) {
    const int64_t cx = seq_cost[static_cast<size_t>(x.seq)], cy = seq_cost[static_cast<size_t>(y.seq)];
    if (cx != cy) return cx > cy;
    if (x.seq != y.seq) return x.seq < y.seq;
    if (x.kv_head != y.kv_head) return x.kv_head < y.kv_head;
    return x.cost > y.cost;
  });
  attn_scratch =
      kernels->attention_scratch_floats(kAttnQueryRows, static_cast<int>(D), static_cast<int>(n_rep));

  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& L = layers[static_cast<size_t>(l)];
    // xn = rmsnorm(x) ; qkv = xn @ Wqkv^T (+ b)
    rows_parallel(T, [&](int64_t r0, int64_t r1) {
      kernels->rmsnorm_rows(xn + r0 * C, C, x + r0 * C, C, L.attn_norm, r1 - r0, C, eps);
    });
    matmul({xn, C, &L.w_qkv, L.b_qkv, qkv, qkv_n, T, false});
    // Qwen3: RMSNorm over each head of q and k; then RoPE on q and k.
    rows_parallel(T, [&](int64_t r0, int64_t r1) {
      for (int64_t t = r0; t < r1; ++t) {
        float* row = qkv + t * qkv_n;
        if (L.q_norm) {
          kernels->rmsnorm_rows(row, D, row, D, L.q_norm, Hq, D, eps);
          kernels->rmsnorm_rows(row + Hq * D, D, row + Hq * D, D, L.k_norm, Hkv, D, eps);
        }
        const int64_t pos = b.positions[static_cast<size_t>(t)];
        const float* cp = rope.cos(pos);
        const float* sp = rope.sin(pos);
        for (int64_t h = 0; h < Hq + Hkv; ++h) rope_head(row + h * D, cp, sp, D / 2);
      }
    });
    // att = causal attention (per sequence; responses also see their context's keys/values).
    for (auto& s : thread_scratch) s.get(attn_scratch);
    const double t_attn = now_seconds();
    pool->parallel_for(static_cast<int64_t>(attn_tasks.size()), [&](int64_t task, int thread) {
      const AttnTask& at = attn_tasks[static_cast<size_t>(task)];
      const auto& seq = b.seqs[static_cast<size_t>(at.seq)];
      kernels::AttnArgs a;
      const int64_t k_col = Hq * D + at.kv_head * D, v_col = (Hq + Hkv) * D + at.kv_head * D;
      if (seq.parent >= 0) {
        const auto& parent = b.seqs[static_cast<size_t>(seq.parent)];
        a.k_prefix = qkv + parent.row0 * qkv_n + k_col;
        a.v_prefix = qkv + parent.row0 * qkv_n + v_col;
        a.n_prefix = parent.n_rows;
      }
      a.k_own = qkv + seq.row0 * qkv_n + k_col;
      a.v_own = qkv + seq.row0 * qkv_n + v_col;
      a.kv_stride = qkv_n;
      a.q = qkv + seq.row0 * qkv_n + at.kv_head * n_rep * D;
      a.q_stride = qkv_n;
      a.out = att + seq.row0 * Hq * D + at.kv_head * n_rep * D;
      a.out_stride = Hq * D;
      a.q_begin = at.q0;
      a.q_end = at.q1;
      a.head_dim = static_cast<int>(D);
      a.n_rep = static_cast<int>(n_rep);
      a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));  // transformers: head_dim**-0.5
      kernels->attention(a, thread_scratch[static_cast<size_t>(thread)].v.data());
    });
    profile.attention_seconds += now_seconds() - t_attn;
    // x = x + att @ Wo^T (+ b)
    matmul({att, Hq * D, &L.w_o, L.b_o, x, C, T, true});
    // MLP in row chunks: x = x + (silu(xn Wg^T) * (xn Wu^T)) Wd^T
    rows_parallel(T, [&](int64_t r0, int64_t r1) {
      kernels->rmsnorm_rows(xn + r0 * C, C, x + r0 * C, C, L.ffn_norm, r1 - r0, C, eps);
    });
    for (int64_t m0 = 0; m0 < T; m0 += chunk) {
      const int64_t rows = std::min(chunk, T - m0);
      matmul({xn + m0 * C, C, &L.w_gate_up, L.b_gate_up, gu, 2 * F, rows, false});
      rows_parallel(rows, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          kernels->silu_mul(gu + r * 2 * F, gu + r * 2 * F, gu + r * 2 * F + F, F);
      });
      matmul({gu, 2 * F, &L.w_down, L.b_down, x + m0 * C, C, rows, true});
    }
  }
  // Final norm of the requested rows only.
  const int64_t n_out = static_cast<int64_t>(out_rows.size());
  rows_parallel(n_out, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      kernels->rmsnorm_rows(hidden + i * C, C, x + out_rows[static_cast<size_t>(i)] * C, C, final_norm, 1, C,
                            eps);
    }
  });
  return Status::ok();
}

Status Model::Impl::pack_lm_head() {
  std::call_once(lm_once, [&] {
    const int64_t V = config.vocab_size, C = config.hidden_size;
    lm = kernels::PackedMatrix{lm_source_type, V, C, kernels->nr, nullptr};
    if (!lm_packed.allocate(kernels::packed_bytes(lm_source_type, V, C, kernels->nr))) return;
    lm.data = lm_packed.data();
    const std::vector<kernels::RowSource> src = {{lm_source_type, lm_source, V}};
    const int64_t panels = lm.n_panels(), per_task = 64;
    pool->parallel_for((panels + per_task - 1) / per_task, [&](int64_t task, int) {
      const int64_t p0 = task * per_task;
      kernels::pack_weights(src, C, kernels->nr, lm_source_type, lm_packed.data(), p0,
                            std::min(panels, p0 + per_task));
    });
  });
  if (!lm.data) return io_error(dir + ": cannot allocate memory for the LM head");
  return Status::ok();
}

// ---------------------------------------------------------------- API

double measure_fma_peak_gflops(const std::string& kernel_name, int n_threads) {
  const kernels::KernelSet* ks = kernels::select_kernels(kernel_name);
  if (!ks || n_threads < 1) return 0;
  const int64_t iters = 40'000'000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<std::thread> threads;
    std::vector<double> flops(static_cast<size_t>(n_threads));
    const double t0 = now_seconds();
    for (int t = 0; t < n_threads; ++t) {
      threads.emplace_back([&, t] { flops[static_cast<size_t>(t)] = ks->fma_peak_probe(iters); });
    }
    for (auto& th : threads) th.join();
    const double dt = now_seconds() - t0;
    double total = 0;
    for (double f : flops) total += f;
    best = std::max(best, total / dt / 1e9);
  }
  return best;
}

namespace {

Status check_ids(std::span<const int32_t> ids, int64_t vocab, const char* what, size_t index) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return invalid_argument(std::string(what) + " " + std::to_string(index) + ": token id " +
                              std::to_string(ids[i]) + " at position " + std::to_string(i) +
                              " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<std::vector<float>>> Model::score_groups(const std::vector<ScoreGroup>& groups,
                                                            const ScoreOptions& options) const {
  Impl& m = *impl_;
  if (!m.has_score) {
    return invalid_argument(m.dir + ": " + m.config.architecture +
                            " has no score head (load with init_score_head for reward-model initialization)");
  }
  const int64_t vocab = m.config.vocab_size;
  for (size_t g = 0; g < groups.size(); ++g) {
    SP_RETURN_IF_ERROR(check_ids(groups[g].context, vocab, "group", g));
    for (const auto& r : groups[g].responses) {
      SP_RETURN_IF_ERROR(check_ids(r, vocab, "group", g));
      if (groups[g].context.empty() && r.empty()) {
        return invalid_argument("group " + std::to_string(g) +
                                ": empty sequence (context and response both empty)");
      }
    }
  }
  const int64_t max_rows = std::max<int64_t>(1, options.max_tokens_per_batch);

  // Units: a context with a subset of its responses; a group too big for one batch is split into
  // several units that each recompute the context (exactly the same rows, so the same scores).
  struct Unit {
    size_t group;
    std::vector<size_t> responses;
    int64_t rows;
  };
  std::vector<Unit> units;
  for (size_t g = 0; g < groups.size(); ++g) {
    const int64_t ctx = static_cast<int64_t>(groups[g].context.size());
    Unit u{g, {}, ctx};
    for (size_t i = 0; i < groups[g].responses.size(); ++i) {
      const int64_t r = static_cast<int64_t>(groups[g].responses[i].size());
      if (!u.responses.empty() && u.rows + r > max_rows) {
        units.push_back(u);
        u = Unit{g, {}, ctx};
      }
      u.responses.push_back(i);
      u.rows += r;
    }
    if (!u.responses.empty()) units.push_back(u);
  }

  std::vector<std::vector<float>> result(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) result[g].assign(groups[g].responses.size(), 0.0f);
  const std::optional<int64_t> pad = m.config.pad_token_id;
  const int64_t C = m.config.hidden_size;

  size_t next = 0;
  while (next < units.size()) {
    // Greedy packing of whole units.
    size_t end = next;
    int64_t rows = 0;
    while (end < units.size() && (end == next || rows + units[end].rows <= max_rows))
      rows += units[end++].rows;

    Batch batch;
    batch.ids.reserve(static_cast<size_t>(rows));
    batch.positions.reserve(static_cast<size_t>(rows));
    std::vector<int64_t> out_rows;
    std::vector<std::pair<size_t, size_t>> out_index;  // (group, response)
    for (size_t ui = next; ui < end; ++ui) {
      const Unit& u = units[ui];
      const ScoreGroup& grp = groups[u.group];
      const int64_t ctx_len = static_cast<int64_t>(grp.context.size());
      int ctx_seq = -1;
      int64_t ctx_row0 = batch.n_rows();
      if (ctx_len > 0) {
        ctx_seq = static_cast<int>(batch.seqs.size());
        batch.seqs.push_back({ctx_row0, ctx_len, -1});
        for (int64_t i = 0; i < ctx_len; ++i) {
          batch.ids.push_back(grp.context[static_cast<size_t>(i)]);
          batch.positions.push_back(static_cast<int32_t>(i));
        }
      }
      for (size_t ri : u.responses) {
        const auto& resp = grp.responses[ri];
        const int64_t rlen = static_cast<int64_t>(resp.size());
        const int64_t row0 = batch.n_rows();
        if (rlen > 0) {
          batch.seqs.push_back({row0, rlen, ctx_seq});
          for (int64_t i = 0; i < rlen; ++i) {
            batch.ids.push_back(resp[static_cast<size_t>(i)]);
            batch.positions.push_back(static_cast<int32_t>(ctx_len + i));
          }
        }
        // transformers' pooling: the last position whose token is not pad_token_id (0 if none).
        int64_t pos = ctx_len + rlen - 1;
        if (pad) {
          auto id_at = [&](int64_t p) {
            return p < ctx_len ? grp.context[static_cast<size_t>(p)] : resp[static_cast<size_t>(p - ctx_len)];
          };
          while (pos > 0 && id_at(pos) == *pad) --pos;
        }
        out_rows.push_back(pos < ctx_len ? ctx_row0 + pos : row0 + (pos - ctx_len));
        out_index.emplace_back(u.group, ri);
      }
    }

    std::lock_guard<std::mutex> lock(m.mu);
    const size_t n_out = out_rows.size();
    float* hidden = m.out_rows.get(n_out * static_cast<size_t>(C) + n_out);
    SP_RETURN_IF_ERROR(m.forward(batch, out_rows, hidden));
    float* scores = hidden + n_out * static_cast<size_t>(C);
    m.matmul({hidden, C, &m.score, nullptr, scores, 1, static_cast<int64_t>(n_out), false});
    for (size_t i = 0; i < n_out; ++i) result[out_index[i].first][out_index[i].second] = scores[i];
    next = end;
  }
  return result;
}

Result<std::vector<float>> Model::score(std::span<const int32_t> context,
                                        const std::vector<std::span<const int32_t>>& responses,
                                        const ScoreOptions& options) const {
  SP_ASSIGN_OR_RETURN(auto r, score_groups({ScoreGroup{context, responses}}, options));
  return std::move(r[0]);
}

Result<std::vector<float>> Model::score_sequences(const std::vector<std::span<const int32_t>>& sequences,
                                                  const ScoreOptions& options) const {
  std::vector<ScoreGroup> groups;
  groups.reserve(sequences.size());
  for (const auto& s : sequences) groups.push_back(ScoreGroup{{}, {s}});
  SP_ASSIGN_OR_RETURN(auto r, score_groups(groups, options));
  std::vector<float> out;
  out.reserve(r.size());
  for (auto& g : r) out.push_back(g[0]);
  return out;
}

Result<std::vector<float>> Model::lm_logits(std::span<const int32_t> ids) const {
  Impl& m = *impl_;
  if (!m.has_lm) {
    return invalid_argument(m.dir + ": " + m.config.architecture +
                            " has no LM head (no lm_head.weight and tie_word_embeddings is false)");
  }
  if (ids.empty()) return invalid_argument("lm_logits: empty sequence");
  SP_RETURN_IF_ERROR(check_ids(ids, m.config.vocab_size, "sequence", 0));
  SP_RETURN_IF_ERROR(m.pack_lm_head());
  Batch batch;
  const int64_t T = static_cast<int64_t>(ids.size());
  batch.seqs.push_back({0, T, -1});
  std::vector<int64_t> out_rows(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) {
    batch.ids.push_back(ids[static_cast<size_t>(i)]);
    batch.positions.push_back(static_cast<int32_t>(i));
    out_rows[static_cast<size_t>(i)] = i;
  }
  const int64_t C = m.config.hidden_size, V = m.config.vocab_size;
  std::vector<float> logits(static_cast<size_t>(T * V));
  std::lock_guard<std::mutex> lock(m.mu);
  float* hidden = m.out_rows.get(static_cast<size_t>(T * C));
  SP_RETURN_IF_ERROR(m.forward(batch, out_rows, hidden));
  m.matmul({hidden, C, &m.lm, nullptr, logits.data(), V, T, false});
  return logits;
}

}  // namespace synpref::model
