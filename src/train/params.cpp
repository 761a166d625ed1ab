// The tensor list of a reward model: names and shapes from model::checkpoint_tensors (transformers'
// names), order and offsets chosen for training (see params.h).
#include "synpref/train/params.h"

#include <algorithm>

#include "synpref/common/check.h"

namespace synpref::train {

using model::TensorRole;

namespace {

// Position of a layer tensor inside its layer block. Stacked GEMM operands are adjacent:
// wq, wk, wv (and their biases); w_gate, w_up (and their biases).
int layer_rank(TensorRole role) {
  switch (role) {
    case TensorRole::attn_norm:
      return 0;
    case TensorRole::wq:
      return 1;
    case TensorRole::wk:
      return 2;
    case TensorRole::wv:
      return 3;
    case TensorRole::bq:
      return 4;
    case TensorRole::bk:
      return 5;
    case TensorRole::bv:
      return 6;
    case TensorRole::q_norm:
      return 7;
    case TensorRole::k_norm:
      return 8;
    case TensorRole::wo:
      return 9;
    case TensorRole::bo:
      return 10;
    case TensorRole::ffn_norm:
      return 11;
    case TensorRole::w_gate:
      return 12;
    case TensorRole::w_up:
      return 13;
    case TensorRole::b_gate:
      return 14;
    case TensorRole::b_up:
      return 15;
    case TensorRole::w_down:
      return 16;
    case TensorRole::b_down:
      return 17;
    default:
      return -1;
  }
}

bool is_matrix(TensorRole role) {
  switch (role) {
    case TensorRole::embed:
    case TensorRole::wq:
    case TensorRole::wk:
    case TensorRole::wv:
    case TensorRole::wo:
    case TensorRole::w_gate:
    case TensorRole::w_up:
    case TensorRole::w_down:
    case TensorRole::score:
    case TensorRole::lm_head:
      return true;
    default:
      return false;
  }
}

}  // namespace

ParamLayout::ParamLayout(const model::ModelConfig& config, bool freeze_embeddings, int n_frozen_layers)
    : config_(config),
      n_frozen_layers_(n_frozen_layers),
      freeze_embeddings_(freeze_embeddings || n_frozen_layers > 0) {
  SP_CHECK(n_frozen_layers >= 0 && n_frozen_layers <= config.n_layer);
  config_.head = model::HeadKind::score;
  config_.num_labels = 1;
  const std::vector<model::CheckpointTensor> table = model::checkpoint_tensors(config_, "model.");
  // Sort key: embed (-1, 0), layers (l, rank), final norm, score.
  auto key = [&](const model::CheckpointTensor& t) -> std::pair<int64_t, int> {
    if (t.role == TensorRole::embed) return {-1, 0};
    if (t.role == TensorRole::final_norm) return {config_.n_layer, 0};
    if (t.role == TensorRole::score) return {config_.n_layer, 1};
    return {t.layer, layer_rank(t.role)};
  };
  std::vector<model::CheckpointTensor> sorted;
  for (const auto& t : table) {
    if (t.role == TensorRole::lm_head) continue;
    SP_CHECK(t.role == TensorRole::embed || t.role == TensorRole::final_norm || t.role == TensorRole::score ||
             layer_rank(t.role) >= 0);
    sorted.push_back(t);
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](const auto& a, const auto& b) { return key(a) < key(b); });
  size_t offset = 0;
  bool trainable_found = false;
  for (const auto& t : sorted) {
    ParamTensor p;
    p.name = t.name;
    p.role = t.role;
    p.layer = t.layer;
    p.shape = t.shape;
    p.size = 1;
    for (int64_t d : t.shape) p.size *= static_cast<size_t>(d);
    p.offset = offset;
    p.decay = is_matrix(t.role);
    offset += p.size;
    const bool frozen =
        (t.role == TensorRole::embed && freeze_embeddings_) || (t.layer >= 0 && t.layer < n_frozen_layers_);
    if (!frozen && !trainable_found) {
      trainable_found = true;
      trainable_begin_ = p.offset;
    }
    SP_CHECK(!frozen || !trainable_found);  // frozen tensors form a prefix of the order
    tensors_.push_back(std::move(p));
  }
  size_ = offset;
  if (!trainable_found) trainable_begin_ = size_;
}

const ParamTensor* ParamLayout::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

ModelView ParamLayout::view(float* base, size_t skip_below, ptrdiff_t shift) const {
  ModelView v;
  v.layers.resize(static_cast<size_t>(config_.n_layer));
  for (const auto& t : tensors_) {
    float* p = t.offset < skip_below ? nullptr : base + (static_cast<ptrdiff_t>(t.offset) - shift);
    LayerView* L = t.layer >= 0 ? &v.layers[static_cast<size_t>(t.layer)] : nullptr;
    switch (t.role) {
      case TensorRole::embed:
        v.embed = p;
        break;
      case TensorRole::final_norm:
        v.final_norm = p;
        break;
      case TensorRole::score:
        v.score = p;
        break;
      case TensorRole::attn_norm:
        L->attn_norm = p;
        break;
      case TensorRole::wq:
        L->w_qkv = p;
        break;  // wk, wv follow contiguously
      case TensorRole::bq:
        L->b_qkv = p;
        break;
      case TensorRole::q_norm:
        L->q_norm = p;
        break;
      case TensorRole::k_norm:
        L->k_norm = p;
        break;
      case TensorRole::wo:
        L->w_o = p;
        break;
      case TensorRole::bo:
        L->b_o = p;
        break;
      case TensorRole::ffn_norm:
        L->ffn_norm = p;
        break;
      case TensorRole::w_gate:
        L->w_gate_up = p;
        break;  // w_up follows contiguously
      case TensorRole::b_gate:
        L->b_gate_up = p;
        break;
      case TensorRole::w_down:
        L->w_down = p;
        break;
      case TensorRole::b_down:
        L->b_down = p;
        break;
      default:
        break;  // wk, wv, bk, bv, w_up, b_up: reached through the stacked view
    }
  }
  return v;
}

ModelView ParamLayout::params_view(float* params) const {
  return view(params, 0, 0);
}

ModelView ParamLayout::grads_view(float* grads) const {
  return view(grads, trainable_begin_, static_cast<ptrdiff_t>(trainable_begin_));
}

}  // namespace synpref::train
