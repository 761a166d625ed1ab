// synpref/train/params.h: every trainable tensor of a reward model in one flat buffer.
//
// One tensor list (ParamLayout::tensors) drives loading, saving, zero-grad, clipping and the
// optimizer (STYLE.md practice 4; gemma.cpp's ForEachTensor). Each tensor is a named view at a fixed
// offset; the parameter, gradient and Adam-moment buffers share the offsets.
//
// Order (chosen so that matrices multiplied by the same input are contiguous and run as one GEMM):
//   model.embed_tokens.weight                                   (V, C)
//   per layer l:  input_layernorm (C) | q_proj, k_proj, v_proj weights (Hq*D + 2*Hkv*D, C) stacked |
//                 q/k/v biases (when attention_bias) | q_norm (D), k_norm (D) (Qwen3) |
//                 o_proj weight (C, Hq*D) | o_proj bias | post_attention_layernorm (C) |
//                 gate_proj, up_proj weights (2F, C) stacked | gate/up biases | down_proj (C, F) | bias
//   model.norm.weight (C) ; score.weight (1, C)
//
// Freezing the embeddings and the lowest K layers makes a prefix of this order frozen: the
// gradient and moment buffers then cover only the trainable suffix [trainable_begin, size), so a
// frozen tensor costs memory once (its weights), not four times.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "synpref/model/config.h"

namespace synpref::train {

struct ParamTensor {
  std::string name;  // transformers' name, e.g. "model.layers.0.self_attn.q_proj.weight"
  model::TensorRole role;
  int layer = -1;  // -1 for non-layer tensors
  std::vector<int64_t> shape;
  size_t offset = 0;  // floats from the start of the parameter buffer
  size_t size = 0;    // elements
  bool decay = true;  // AdamW weight decay applies (matrices); never to norms and biases
};

// Pointers to one layer's tensors inside some buffer (parameters or gradients). nullptr when the
// tensor does not exist in this architecture (biases, QK-norm) or lies in the frozen prefix of a
// gradient buffer.
struct LayerView {
  float* attn_norm = nullptr;  // (C)
  float* w_qkv = nullptr;      // (Hq*D + 2*Hkv*D, C): q, k, v rows stacked
  float* b_qkv = nullptr;      // (Hq*D + 2*Hkv*D)
  float* q_norm = nullptr;     // (D)
  float* k_norm = nullptr;     // (D)
  float* w_o = nullptr;        // (C, Hq*D)
  float* b_o = nullptr;        // (C)
  float* ffn_norm = nullptr;   // (C)
  float* w_gate_up = nullptr;  // (2F, C): gate rows then up rows
  float* b_gate_up = nullptr;  // (2F)
  float* w_down = nullptr;     // (C, F)
  float* b_down = nullptr;     // (C)
};
struct ModelView {
  float* embed = nullptr;  // (V, C)
  std::vector<LayerView> layers;
  float* final_norm = nullptr;  // (C)
  float* score = nullptr;       // (1, C)
};

class ParamLayout {
 public:
  // Precondition: config.num_labels == 1 and the heads divide (parse_model_config checks).
  // n_frozen_layers in [0, n_layer]; freezing layers implies freezing the embeddings.
  ParamLayout(const model::ModelConfig& config, bool freeze_embeddings, int n_frozen_layers);

  const model::ModelConfig& config() const { return config_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  size_t size() const { return size_; }  // floats in the parameter buffer
  // First float of the trainable suffix; gradient/moment buffers hold size() - trainable_begin().
  size_t trainable_begin() const { return trainable_begin_; }
  size_t n_trainable() const { return size_ - trainable_begin_; }
  bool trainable(const ParamTensor& t) const { return t.offset >= trainable_begin_; }
  int n_frozen_layers() const { return n_frozen_layers_; }
  bool embeddings_frozen() const { return freeze_embeddings_; }
  const ParamTensor* find(const std::string& name) const;

  // Views into a parameter buffer (all tensors) or a gradient buffer (trainable tensors only;
  // frozen ones are nullptr). `grads` points at the gradient of the first trainable float.
  ModelView params_view(float* params) const;
  ModelView grads_view(float* grads) const;

 private:
  ModelView view(float* base, size_t skip_below, ptrdiff_t shift) const;
  model::ModelConfig config_;
  std::vector<ParamTensor> tensors_;
  size_t size_ = 0, trainable_begin_ = 0;
  int n_frozen_layers_ = 0;
  bool freeze_embeddings_ = false;
};

}  // namespace synpref::train
