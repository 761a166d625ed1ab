// The scoring API over packed batches; the forward pass is the graph's (graph.h), over the loaded
// weights.
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
#include "synpref/common/check.h"

namespace synpref::model {

namespace {

constexpr int64_t kMlpChunkRows = 1024;  // MLP rows per chunk: bounds the (rows, 2F) buffer

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

double Model::forward_flops(int64_t n_tokens, bool prune_last_layer) const {
  const double full = forward_flops(n_tokens);
  if (!prune_last_layer || n_tokens < 1) return full;
  const ModelConfig& c = impl_->config;
  const double n = static_cast<double>(n_tokens);
  // Rows other than the scored one skip the last layer's q and o projections and the MLP, and its
  // attention keeps one query row (n keys) of the n(n+1)/2 pairs.
  const double q_o_and_mlp =
      static_cast<double>(2 * c.q_dim() * c.hidden_size + 3 * c.hidden_size * c.intermediate_size);
  const double per_pair = 4.0 * static_cast<double>(c.head_dim * c.n_head);
  return full - 2.0 * (n - 1) * q_o_and_mlp - per_pair * (n * (n + 1) / 2.0 - n);
}

// ---------------------------------------------------------------- the forward pass

void Model::Impl::matmul(const kernels::GemmArgs& g) {
  const double t0 = now_seconds();
  gemm->run(g);
  profile.gemm_seconds += now_seconds() - t0;
}

namespace {

// The graph's view of a loaded model: matrices packed once in their checkpoint dtype, f32 norms
// and biases, the memory-mapped embedding.
class PackedWeights final : public GraphWeights {
 public:
  explicit PackedWeights(Model::Impl& m) : m_(m) {}
  void embed(const int32_t* ids, int64_t rows, float* x) const override {
    const int64_t C = m_.config.hidden_size;
    for (int64_t t = 0; t < rows; ++t) {
      const uint8_t* row = m_.embed + static_cast<size_t>(ids[t]) * C * kernels::wtype_size(m_.embed_type);
      for (int64_t i = 0; i < C; ++i) x[t * C + i] = kernels::widen(m_.embed_type, row, i);
    }
  }
  LayerNorms norms(int64_t layer) const override {
    const LayerWeights& L = m_.layers[static_cast<size_t>(layer)];
    return {L.attn_norm, L.ffn_norm, L.q_norm, L.k_norm};
  }
  const float* final_norm() const override { return m_.final_norm; }
  void linear(int64_t layer, Proj proj, const float* in, int64_t lda, int64_t rows, float* out, int64_t ldc,
              bool accumulate) override {
    auto run = [&](const kernels::PackedMatrix& w, const float* bias, float* c) {
      m_.matmul({in, lda, &w, bias, c, ldc, rows, accumulate});
    };
    if (proj == Proj::score) return run(m_.score, nullptr, out);
    const LayerWeights& L = m_.layers[static_cast<size_t>(layer)];
    const int64_t Qd = m_.config.q_dim();
    const float* b_kv = L.b_qkv ? L.b_qkv + Qd : nullptr;
    switch (proj) {
      case Proj::qkv:
        if (L.w_qkv.data) return run(L.w_qkv, L.b_qkv, out);
        run(L.w_q, L.b_qkv, out);
        return run(L.w_kv, b_kv, out + Qd);
      case Proj::q:
        SP_CHECK(L.w_q.data);
        return run(L.w_q, L.b_qkv, out);
      case Proj::kv:
        SP_CHECK(L.w_kv.data);
        return run(L.w_kv, b_kv, out);
      case Proj::o:
        return run(L.w_o, L.b_o, out);
      case Proj::gate_up:
        return run(L.w_gate_up, L.b_gate_up, out);
      case Proj::down:
        return run(L.w_down, L.b_down, out);
      case Proj::score:
        break;
    }
  }

 private:
  Model::Impl& m_;
};

}  // namespace

// One reused set of activation buffers, written in place layer after layer; the MLP runs in row
// chunks (bounded memory at long contexts).
void Model::Impl::forward(const PackedRows& b, std::span<const int64_t> out_rows_in, bool prune_last_layer,
                          float* hidden, float* scores) {
  const ModelConfig& c = config;
  const int64_t T = b.n_rows();
  if (T == 0) return;
  const int64_t C = c.hidden_size, F = c.intermediate_size, Qd = c.q_dim(), qkv_n = Qd + 2 * c.kv_dim();
  const int64_t chunk = std::min(T, kMlpChunkRows);
  float* xb = x.get(static_cast<size_t>(T * C));           // (T, C) residual stream
  float* qkv_b = qkv.get(static_cast<size_t>(T * qkv_n));  // (T, Hq*D + 2*Hkv*D)
  const LayerBuffers in_place{xb,    qkv_b,
                              qkv_b, att.get(static_cast<size_t>(T * Qd)),
                              xb,    gate_up.get(static_cast<size_t>(chunk * 2 * F)),
                              xb};
  ActivationPlan plan;
  plan.layers.assign(static_cast<size_t>(c.n_layer), in_place);
  plan.xn = xn.get(static_cast<size_t>(T * C));
  plan.mlp_chunk_rows = kMlpChunkRows;
  ScoredRows rows;
  if (prune_last_layer) {
    rows = scored_rows(b, out_rows_in);
    const int64_t U = rows.size();
    float* t = tail.get(static_cast<size_t>(U * (Qd + C)));
    plan.tail_att = t;
    plan.tail_mid = plan.tail_out = t + U * Qd;
    plan.tail_gate_up = in_place.gate_up;
  }
  const ScoredRows* pruned = prune_last_layer ? &rows : nullptr;
  PackedWeights weights(*this);
  graph->forward(b, weights, plan, pruned);
  graph->head(plan, pruned, out_rows_in, weights, hidden, scores);
  profile.attention_seconds += graph->attention_seconds;
  graph->attention_seconds = 0;
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
  return score_groups_hidden(groups, options, nullptr);
}

Result<std::vector<std::vector<float>>> Model::pooled_hidden(
    const std::vector<std::span<const int32_t>>& sequences, const ScoreOptions& options) const {
  std::vector<ScoreGroup> groups;
  groups.reserve(sequences.size());
  for (const auto& s : sequences) groups.push_back(ScoreGroup{{}, {s}});
  std::vector<std::vector<float>> hidden;
  SP_RETURN_IF_ERROR(score_groups_hidden(groups, options, &hidden).status());
  return hidden;
}

Result<std::vector<std::vector<float>>> Model::score_groups_hidden(
    const std::vector<ScoreGroup>& groups, const ScoreOptions& options,
    std::vector<std::vector<float>>* pooled) const {
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
  // pooled: one hidden state per (group, response), flattened in that order.
  std::vector<size_t> pooled_base;
  if (pooled) {
    size_t n = 0;
    for (const auto& g : groups) {
      pooled_base.push_back(n);
      n += g.responses.size();
    }
    pooled->assign(n, {});
  }
  const std::optional<int64_t> pad = m.config.pad_token_id;
  const int64_t C = m.config.hidden_size;

  size_t next = 0;
  while (next < units.size()) {
    // Greedy packing of whole units.
    size_t end = next;
    int64_t rows = 0;
    while (end < units.size() && (end == next || rows + units[end].rows <= max_rows))
      rows += units[end++].rows;

    PackedRows batch;
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
    float* scores = hidden + n_out * static_cast<size_t>(C);
    m.forward(batch, out_rows, options.prune_last_layer, hidden, scores);
    for (size_t i = 0; i < n_out; ++i) {
      result[out_index[i].first][out_index[i].second] = scores[i];
      if (pooled) {
        const float* row = hidden + i * static_cast<size_t>(C);
        (*pooled)[pooled_base[out_index[i].first] + out_index[i].second].assign(row, row + C);
      }
    }
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
  PackedRows batch;
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
  m.forward(batch, out_rows, false, hidden, nullptr);  // every row is an output: nothing to prune
  m.matmul({hidden, C, &m.lm, nullptr, logits.data(), V, T, false});
  return logits;
}

}  // namespace synpref::model
