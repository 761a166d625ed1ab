// synpref/model/config.h: Hugging Face model configs as data.
//
// Architectures are described by tables, not by branches in kernels (STYLE.md practice 6):
//   - FamilySpec: one row per model family (Llama, Qwen3): transformers' config defaults, the
//     architecture class names and the structural switches (per-head QK-norm).
//   - checkpoint_tensors(): the tensor-name table (transformers' names and shapes) a config implies.
// parse_model_config() reads config.json with transformers' defaults and refuses contradictions
// (e.g. heads not dividing, architectures vs model_type, id2label vs num_labels) with a message
// naming the file and the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::model {

enum class Family : uint8_t { llama, qwen3 };
// What sits on top of the decoder: nothing (base checkpoint), the reward head `score`
// (*ForSequenceClassification), or the LM head (*ForCausalLM).
enum class HeadKind : uint8_t { none, score, lm };

struct RopeScaling {
  enum class Type : uint8_t { none, linear, llama3 };
  Type type = Type::none;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;  // the class named in "architectures", e.g. "Qwen3ForSequenceClassification"
  Family family = Family::llama;
  HeadKind head = HeadKind::none;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;        // C
  int64_t intermediate_size = 0;  // F
  int64_t n_layer = 0;
  int64_t n_head = 0;     // query heads
  int64_t n_head_kv = 0;  // key/value heads (GQA when < n_head)
  int64_t head_dim = 0;   // D (Qwen3: independent of hidden_size / n_head)
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool qk_norm = false;  // per-head RMSNorm of q and k before RoPE (Qwen3)
  bool attention_bias = false;
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  int64_t num_labels = 1;
  int64_t max_position_embeddings = 0;
  double initializer_range = 0.02;
  std::optional<int64_t> pad_token_id, bos_token_id, eos_token_id;
  std::string torch_dtype = "float32";  // informational ("bfloat16" for bf16 checkpoints)

  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
  // Parameters excluding the token embedding and LM head (the ones every token multiplies).
  int64_t n_matmul_params() const;
};

// One row per family: the facts transformers hard-codes in its config class and modeling file.
struct FamilySpec {
  Family family;
  const char* model_type;  // "llama", "qwen3"
  const char* arch_score;  // "LlamaForSequenceClassification"
  const char* arch_lm;     // "LlamaForCausalLM"
  const char* arch_base;   // "LlamaModel"
  bool qk_norm;            // Qwen3RMSNorm on each head of q and k
  // transformers' defaults for fields a config.json may omit
  int64_t default_vocab_size, default_hidden_size, default_intermediate_size, default_n_layer, default_n_head;
  double default_rms_norm_eps, default_rope_theta;
  bool default_tie_word_embeddings;
  int64_t default_max_position_embeddings;
  int64_t default_head_dim;  // 0: hidden_size / num_attention_heads
};
const FamilySpec& family_spec(Family family);
const std::vector<FamilySpec>& family_specs();

// Parses config.json text. `file_name` appears in every error message.
Result<ModelConfig> parse_model_config(std::string_view json_text, const std::string& file_name);
// Serializes to a transformers-compatible config.json (keys transformers writes for this family).
std::string model_config_to_json(const ModelConfig& config);

// The tensor-name table.
enum class TensorRole : uint8_t {
  embed,      // model.embed_tokens.weight (V, C)
  attn_norm,  // model.layers.N.input_layernorm.weight (C)
  wq,
  wk,
  wv,  // model.layers.N.self_attn.{q,k,v}_proj.weight (Hq*D, C), (Hkv*D, C), (Hkv*D, C)
  bq,
  bk,
  bv,        // ...{q,k,v}_proj.bias when attention_bias
  wo,        // model.layers.N.self_attn.o_proj.weight (C, Hq*D)
  bo,        // o_proj.bias when attention_bias
  q_norm,    // model.layers.N.self_attn.q_norm.weight (D), Qwen3
  k_norm,    // model.layers.N.self_attn.k_norm.weight (D), Qwen3
  ffn_norm,  // model.layers.N.post_attention_layernorm.weight (C)
  w_gate,    // model.layers.N.mlp.gate_proj.weight (F, C)
  w_up,      // model.layers.N.mlp.up_proj.weight (F, C)
  w_down,    // model.layers.N.mlp.down_proj.weight (C, F)
  b_gate,
  b_up,
  b_down,      // when mlp_bias
  final_norm,  // model.norm.weight (C)
  score,       // score.weight (num_labels, C)
  lm_head,     // lm_head.weight (V, C), absent when tie_word_embeddings
};
const char* tensor_role_name(TensorRole role);

struct CheckpointTensor {
  std::string name;
  TensorRole role;
  int layer = -1;  // -1 for non-layer tensors
  std::vector<int64_t> shape;
};
// Tensors a checkpoint of `config` holds, with transformers' names. `prefix` is "model." for
// *ForSequenceClassification / *ForCausalLM checkpoints and "" for base-model checkpoints. The
// head tensor follows config.head (score.weight, or lm_head.weight unless tied).
std::vector<CheckpointTensor> checkpoint_tensors(const ModelConfig& config,
                                                 const std::string& prefix = "model.");

}  // namespace synpref::model
