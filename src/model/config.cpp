// config.json parsing and the tensor-name table (architectures as data).
#include "synpref/model/config.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace synpref::model {

namespace {

// transformers' LlamaConfig / Qwen3Config defaults and class names.
const std::vector<FamilySpec> kFamilies = {
    {Family::llama, "llama", "LlamaForSequenceClassification", "LlamaForCausalLM", "LlamaModel",
     /*qk_norm=*/false, 32000, 4096, 11008, 32, 32, 1e-6, 10000.0, false, 2048, 0},
    {Family::qwen3, "qwen3", "Qwen3ForSequenceClassification", "Qwen3ForCausalLM", "Qwen3Model",
     /*qk_norm=*/true, 151936, 4096, 22016, 32, 32, 1e-6, 10000.0, false, 32768, 128},
};

// Upper bounds that no real checkpoint reaches; they keep size arithmetic far from overflow.
constexpr int64_t kMaxDim = int64_t{1} << 20;
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxLayers = 1024;

using json = nlohmann::json;

class Fields {
 public:
  Fields(const json& j, const std::string& file) : j_(j), file_(file) {}

  Status error(const std::string& field, const std::string& what) const {
    return data_error(file_ + ": field \"" + field + "\" " + what + " (fix config.json)");
  }
  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  Status get_int(const char* key, int64_t fallback, int64_t lo, int64_t hi, int64_t* out) const {
    if (!has(key)) {
      *out = fallback;
      return Status::ok();
    }
    const json& v = j_[key];
    if (!v.is_number_integer()) return error(key, "must be an integer, got " + v.dump());
    int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                    ? INT64_MAX
                    : v.get<int64_t>();
    if (x < lo || x > hi) {
      return error(key, "is " + std::to_string(x) + ", outside [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "]");
    }
    *out = x;
    return Status::ok();
  }
  Status get_double(const char* key, double fallback, double* out) const {
    if (!has(key)) {
      *out = fallback;
      return Status::ok();
    }
    const json& v = j_[key];
    if (!v.is_number()) return error(key, "must be a number, got " + v.dump());
    *out = v.get<double>();
    if (!std::isfinite(*out)) return error(key, "must be finite");
    return Status::ok();
  }
  Status get_bool(const char* key, bool fallback, bool* out) const {
    if (!has(key)) {
      *out = fallback;
      return Status::ok();
    }
    if (!j_[key].is_boolean()) return error(key, "must be true or false, got " + j_[key].dump());
    *out = j_[key].get<bool>();
    return Status::ok();
  }
  // Token ids: an integer, null, or (eos in Llama 3.1 configs) a list whose first entry is used.
  Status get_token(const char* key, std::optional<int64_t>* out) const {
    out->reset();
    if (!has(key)) return Status::ok();
    json v = j_[key];
    if (v.is_array()) {
      if (v.empty()) return Status::ok();
      v = v[0];
    }
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
      return error(key, "must be a non-negative integer or null");
    *out = v.get<int64_t>();
    return Status::ok();
  }

 private:
  const json& j_;
  const std::string& file_;
};

Status parse_rope(const json& j, const Fields& fields, const FamilySpec& spec, ModelConfig* c) {
  // Newer transformers write "rope_parameters" {rope_type, rope_theta, ...}; older ones
  // "rope_theta" + "rope_scaling" {rope_type|type, ...}. Accept both; refuse disagreement.
  SP_RETURN_IF_ERROR(fields.get_double("rope_theta", spec.default_rope_theta, &c->rope_theta));
  const json* scaling = nullptr;
  std::string scaling_key;
  if (fields.has("rope_parameters")) {
    const json& p = j["rope_parameters"];
    if (!p.is_object()) return fields.error("rope_parameters", "must be an object");
    if (p.contains("rope_theta")) {
      if (!p["rope_theta"].is_number()) return fields.error("rope_parameters.rope_theta", "must be a number");
      double theta = p["rope_theta"].get<double>();
      if (fields.has("rope_theta") && theta != c->rope_theta) {
        return fields.error("rope_parameters.rope_theta", "disagrees with \"rope_theta\"");
      }
      c->rope_theta = theta;
    }
    scaling = &p;
    scaling_key = "rope_parameters";
  }
  if (fields.has("rope_scaling")) {
    if (scaling) return fields.error("rope_scaling", "given together with \"rope_parameters\"; keep one");
    scaling = &j["rope_scaling"];
    scaling_key = "rope_scaling";
    if (!scaling->is_object()) return fields.error("rope_scaling", "must be an object or null");
  }
  if (!(c->rope_theta > 0)) return fields.error("rope_theta", "must be positive");
  if (!scaling) return Status::ok();
  std::string type = "default";
  if (scaling->contains("rope_type")) {
    if (!(*scaling)["rope_type"].is_string())
      return fields.error(scaling_key + ".rope_type", "must be a string");
    type = (*scaling)["rope_type"].get<std::string>();
  } else if (scaling->contains("type")) {
    if (!(*scaling)["type"].is_string()) return fields.error(scaling_key + ".type", "must be a string");
    type = (*scaling)["type"].get<std::string>();
  }
  auto num = [&](const char* key, double* out) -> Status {
    if (!scaling->contains(key) || !(*scaling)[key].is_number()) {
      return fields.error(scaling_key + "." + key,
                          "is required for rope_type '" + type + "' and must be a number");
    }
    *out = (*scaling)[key].get<double>();
    if (!std::isfinite(*out)) return fields.error(scaling_key + "." + key, "must be finite");
    return Status::ok();
  };
  if (type == "default") return Status::ok();
  if (type == "linear") {
    c->rope_scaling.type = RopeScaling::Type::linear;
    SP_RETURN_IF_ERROR(num("factor", &c->rope_scaling.factor));
    if (!(c->rope_scaling.factor > 0)) return fields.error(scaling_key + ".factor", "must be positive");
    return Status::ok();
  }
  if (type == "llama3") {
    RopeScaling& r = c->rope_scaling;
    r.type = RopeScaling::Type::llama3;
    double orig = 0;
    SP_RETURN_IF_ERROR(num("factor", &r.factor));
    SP_RETURN_IF_ERROR(num("low_freq_factor", &r.low_freq_factor));
    SP_RETURN_IF_ERROR(num("high_freq_factor", &r.high_freq_factor));
    SP_RETURN_IF_ERROR(num("original_max_position_embeddings", &orig));
    r.original_max_position_embeddings = static_cast<int64_t>(orig);
    if (!(r.factor > 0)) return fields.error(scaling_key + ".factor", "must be positive");
    if (!(r.low_freq_factor > 0) || !(r.high_freq_factor > r.low_freq_factor)) {
      return fields.error(scaling_key, "needs 0 < low_freq_factor < high_freq_factor");
    }
    if (orig != std::floor(orig) || r.original_max_position_embeddings <= 0) {
      return fields.error(scaling_key + ".original_max_position_embeddings", "must be a positive integer");
    }
    return Status::ok();
  }
  return unsupported(
      fields.error(scaling_key, "has rope_type '" + type + "'; synpref implements default, linear and llama3")
          .message());
}

}  // namespace

const FamilySpec& family_spec(Family family) {
  for (const auto& f : kFamilies)
    if (f.family == family) return f;
  SP_CHECK_MSG(false, "family without a FamilySpec row");
  return kFamilies[0];
}

const std::vector<FamilySpec>& family_specs() {
  return kFamilies;
}

int64_t ModelConfig::n_matmul_params() const {
  const int64_t per_layer =
      hidden_size * (q_dim() + 2 * kv_dim()) + q_dim() * hidden_size + 3 * hidden_size * intermediate_size;
  return per_layer * n_layer;
}

Result<ModelConfig> parse_model_config(std::string_view json_text, const std::string& file_name) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    return data_error(file_name + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) return data_error(file_name + ": not a JSON object");
  Fields fields(j, file_name);
  ModelConfig c;

  // Architecture: "architectures"[0] names family and head; "model_type" must agree.
  const FamilySpec* spec = nullptr;
  std::string supported;
  for (const auto& f : kFamilies) {
    supported +=
        std::string(supported.empty() ? "" : ", ") + f.arch_score + ", " + f.arch_lm + ", " + f.arch_base;
  }
  if (fields.has("architectures")) {
    const json& a = j["architectures"];
    if (!a.is_array() || a.empty() || !a[0].is_string()) {
      return fields.error("architectures", "must be a non-empty list of class names");
    }
    c.architecture = a[0].get<std::string>();
    for (const auto& f : kFamilies) {
      if (c.architecture == f.arch_score) spec = &f, c.head = HeadKind::score;
      if (c.architecture == f.arch_lm) spec = &f, c.head = HeadKind::lm;
      if (c.architecture == f.arch_base) spec = &f, c.head = HeadKind::none;
    }
    if (!spec) {
      return unsupported(file_name + ": architecture '" + c.architecture +
                         "' is not supported (supported: " + supported + ")");
    }
  }
  if (fields.has("model_type")) {
    if (!j["model_type"].is_string()) return fields.error("model_type", "must be a string");
    const std::string mt = j["model_type"].get<std::string>();
    const FamilySpec* by_type = nullptr;
    for (const auto& f : kFamilies)
      if (mt == f.model_type) by_type = &f;
    if (!by_type) {
      return unsupported(file_name + ": model_type '" + mt + "' is not supported (supported: llama, qwen3)");
    }
    if (spec && spec != by_type) {
      return data_error(file_name + ": architectures says '" + c.architecture + "' but model_type is '" + mt +
                        "' (contradictory config; fix config.json)");
    }
    spec = by_type;
  }
  if (!spec) return data_error(file_name + ": neither \"architectures\" nor \"model_type\" is given");
  if (c.architecture.empty()) c.architecture = spec->arch_base;
  c.family = spec->family;
  c.qk_norm = spec->qk_norm;

  SP_RETURN_IF_ERROR(fields.get_int("vocab_size", spec->default_vocab_size, 1, kMaxVocab, &c.vocab_size));
  SP_RETURN_IF_ERROR(fields.get_int("hidden_size", spec->default_hidden_size, 1, kMaxDim, &c.hidden_size));
  SP_RETURN_IF_ERROR(
      fields.get_int("intermediate_size", spec->default_intermediate_size, 1, kMaxDim, &c.intermediate_size));
  SP_RETURN_IF_ERROR(fields.get_int("num_hidden_layers", spec->default_n_layer, 1, kMaxLayers, &c.n_layer));
  SP_RETURN_IF_ERROR(fields.get_int("num_attention_heads", spec->default_n_head, 1, 4096, &c.n_head));
  SP_RETURN_IF_ERROR(fields.get_int("num_key_value_heads", c.n_head, 1, 4096, &c.n_head_kv));
  if (c.n_head % c.n_head_kv != 0) {
    return data_error(file_name + ": num_attention_heads " + std::to_string(c.n_head) +
                      " is not a multiple of num_key_value_heads " + std::to_string(c.n_head_kv) +
                      " (contradictory config; fix config.json)");
  }
  if (fields.has("head_dim")) {
    SP_RETURN_IF_ERROR(fields.get_int("head_dim", 0, 1, 4096, &c.head_dim));
  } else if (spec->default_head_dim > 0) {
    c.head_dim = spec->default_head_dim;
  } else {
    if (c.hidden_size % c.n_head != 0) {
      return data_error(file_name + ": hidden_size " + std::to_string(c.hidden_size) +
                        " is not a multiple of num_attention_heads " + std::to_string(c.n_head) +
                        " and head_dim is not given (contradictory config; fix config.json)");
    }
    c.head_dim = c.hidden_size / c.n_head;
  }
  if (c.head_dim % 2 != 0) return fields.error("head_dim", "must be even (RoPE rotates pairs)");
  if (c.q_dim() > kMaxDim) return fields.error("num_attention_heads", "times head_dim is implausibly large");

  SP_RETURN_IF_ERROR(fields.get_double("rms_norm_eps", spec->default_rms_norm_eps, &c.rms_norm_eps));
  if (!(c.rms_norm_eps > 0)) return fields.error("rms_norm_eps", "must be positive");
  SP_RETURN_IF_ERROR(parse_rope(j, fields, *spec, &c));
  SP_RETURN_IF_ERROR(fields.get_bool("attention_bias", false, &c.attention_bias));
  SP_RETURN_IF_ERROR(fields.get_bool("mlp_bias", false, &c.mlp_bias));
  SP_RETURN_IF_ERROR(
      fields.get_bool("tie_word_embeddings", spec->default_tie_word_embeddings, &c.tie_word_embeddings));
  SP_RETURN_IF_ERROR(fields.get_int("max_position_embeddings", spec->default_max_position_embeddings, 1,
                                    int64_t{1} << 40, &c.max_position_embeddings));
  SP_RETURN_IF_ERROR(fields.get_double("initializer_range", 0.02, &c.initializer_range));
  if (!(c.initializer_range >= 0)) return fields.error("initializer_range", "must be non-negative");
  if (fields.has("hidden_act")) {
    if (!j["hidden_act"].is_string() || j["hidden_act"].get<std::string>() != "silu") {
      return unsupported(
          fields.error("hidden_act", "is " + j["hidden_act"].dump() + "; only \"silu\" is implemented")
              .message());
    }
  }
  bool sliding = false;
  SP_RETURN_IF_ERROR(fields.get_bool("use_sliding_window", false, &sliding));
  if (sliding)
    return unsupported(
        fields.error("use_sliding_window", "is true; sliding-window attention is not implemented").message());
  if (fields.has("layer_types")) {
    const json& lt = j["layer_types"];
    if (!lt.is_array()) return fields.error("layer_types", "must be a list");
    for (const auto& t : lt) {
      if (!t.is_string() || t.get<std::string>() != "full_attention") {
        return unsupported(
            fields.error("layer_types", "contains " + t.dump() + "; only full_attention is implemented")
                .message());
      }
    }
    if (static_cast<int64_t>(lt.size()) != c.n_layer) {
      return fields.error("layer_types", "has " + std::to_string(lt.size()) +
                                             " entries but num_hidden_layers is " +
                                             std::to_string(c.n_layer));
    }
  }
  if (fields.has("quantization_config")) {
    return unsupported(file_name +
                       ": quantized checkpoints (quantization_config) are not supported; use f32/f16/bf16");
  }

  // num_labels: transformers derives it from id2label (default 2 when neither is given).
  int64_t from_id2label = -1;
  if (fields.has("id2label")) {
    if (!j["id2label"].is_object()) return fields.error("id2label", "must be an object");
    from_id2label = static_cast<int64_t>(j["id2label"].size());
  }
  if (fields.has("num_labels")) {
    SP_RETURN_IF_ERROR(fields.get_int("num_labels", 1, 1, 1 << 16, &c.num_labels));
    if (from_id2label >= 0 && from_id2label != c.num_labels) {
      return data_error(file_name + ": num_labels " + std::to_string(c.num_labels) + " but id2label has " +
                        std::to_string(from_id2label) + " entries (contradictory config; fix config.json)");
    }
  } else {
    c.num_labels = from_id2label > 0 ? from_id2label : 2;
  }
  SP_RETURN_IF_ERROR(fields.get_token("pad_token_id", &c.pad_token_id));
  SP_RETURN_IF_ERROR(fields.get_token("bos_token_id", &c.bos_token_id));
  SP_RETURN_IF_ERROR(fields.get_token("eos_token_id", &c.eos_token_id));
  if (fields.has("torch_dtype") && j["torch_dtype"].is_string())
    c.torch_dtype = j["torch_dtype"].get<std::string>();
  return c;
}

std::string model_config_to_json(const ModelConfig& c) {
  const FamilySpec& spec = family_spec(c.family);
  nlohmann::ordered_json j;
  // transformers writes keys sorted (to_json_string(sort_keys=True)); so do we.
  j["architectures"] = {c.architecture};
  j["attention_bias"] = c.attention_bias;
  j["attention_dropout"] = 0.0;
  j["bos_token_id"] = c.bos_token_id ? json(*c.bos_token_id) : json(nullptr);
  j["eos_token_id"] = c.eos_token_id ? json(*c.eos_token_id) : json(nullptr);
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["hidden_size"] = c.hidden_size;
  if (c.head == HeadKind::score) {
    json id2label = json::object();
    for (int64_t i = 0; i < c.num_labels; ++i) id2label[std::to_string(i)] = "LABEL_" + std::to_string(i);
    j["id2label"] = id2label;
  }
  j["initializer_range"] = c.initializer_range;
  j["intermediate_size"] = c.intermediate_size;
  if (c.head == HeadKind::score) {
    json label2id = json::object();
    for (int64_t i = 0; i < c.num_labels; ++i) label2id["LABEL_" + std::to_string(i)] = i;
    j["label2id"] = label2id;
  }
  j["max_position_embeddings"] = c.max_position_embeddings;
  if (c.family == Family::qwen3) j["max_window_layers"] = c.n_layer;
  if (c.family == Family::llama) j["mlp_bias"] = c.mlp_bias;
  j["model_type"] = spec.model_type;
  j["num_attention_heads"] = c.n_head;
  j["num_hidden_layers"] = c.n_layer;
  j["num_key_value_heads"] = c.n_head_kv;
  if (c.head == HeadKind::score) j["num_labels"] = c.num_labels;
  j["pad_token_id"] = c.pad_token_id ? json(*c.pad_token_id) : json(nullptr);
  if (c.family == Family::llama) j["pretraining_tp"] = 1;
  j["rms_norm_eps"] = c.rms_norm_eps;
  switch (c.rope_scaling.type) {
    case RopeScaling::Type::none:
      j["rope_scaling"] = nullptr;
      break;
    case RopeScaling::Type::linear:
      j["rope_scaling"] = {{"factor", c.rope_scaling.factor}, {"rope_type", "linear"}};
      break;
    case RopeScaling::Type::llama3:
      j["rope_scaling"] = {
          {"factor", c.rope_scaling.factor},
          {"high_freq_factor", c.rope_scaling.high_freq_factor},
          {"low_freq_factor", c.rope_scaling.low_freq_factor},
          {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings},
          {"rope_type", "llama3"}};
      break;
  }
  j["rope_theta"] = c.rope_theta;
  if (c.family == Family::qwen3) {
    j["sliding_window"] = nullptr;
    j["use_sliding_window"] = false;
  }
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["torch_dtype"] = c.torch_dtype;
  j["transformers_version"] = "4.51.3";
  j["use_cache"] = true;
  j["vocab_size"] = c.vocab_size;
  return j.dump(2) + "\n";
}

const char* tensor_role_name(TensorRole role) {
  switch (role) {
    case TensorRole::embed:
      return "embed";
    case TensorRole::attn_norm:
      return "attn_norm";
    case TensorRole::wq:
      return "wq";
    case TensorRole::wk:
      return "wk";
    case TensorRole::wv:
      return "wv";
    case TensorRole::bq:
      return "bq";
    case TensorRole::bk:
      return "bk";
    case TensorRole::bv:
      return "bv";
    case TensorRole::wo:
      return "wo";
    case TensorRole::bo:
      return "bo";
    case TensorRole::q_norm:
      return "q_norm";
    case TensorRole::k_norm:
      return "k_norm";
    case TensorRole::ffn_norm:
      return "ffn_norm";
    case TensorRole::w_gate:
      return "w_gate";
    case TensorRole::w_up:
      return "w_up";
    case TensorRole::w_down:
      return "w_down";
    case TensorRole::b_gate:
      return "b_gate";
    case TensorRole::b_up:
      return "b_up";
    case TensorRole::b_down:
      return "b_down";
    case TensorRole::final_norm:
      return "final_norm";
    case TensorRole::score:
      return "score";
    case TensorRole::lm_head:
      return "lm_head";
  }
  return "?";
}

namespace {

// Symbolic dimensions of the tensor-name table.
enum class Dim : uint8_t { C, F, QD, KVD, D, V, LABELS };
enum class When : uint8_t { always, attention_bias, mlp_bias, qk_norm };

struct LayerTensorRow {
  TensorRole role;
  const char* suffix;  // after "<prefix>layers.N."
  std::vector<Dim> shape;
  When when;
};

const std::vector<LayerTensorRow>& layer_table() {
  static const std::vector<LayerTensorRow> rows = {
      {TensorRole::attn_norm, "input_layernorm.weight", {Dim::C}, When::always},
      {TensorRole::wq, "self_attn.q_proj.weight", {Dim::QD, Dim::C}, When::always},
      {TensorRole::bq, "self_attn.q_proj.bias", {Dim::QD}, When::attention_bias},
      {TensorRole::wk, "self_attn.k_proj.weight", {Dim::KVD, Dim::C}, When::always},
      {TensorRole::bk, "self_attn.k_proj.bias", {Dim::KVD}, When::attention_bias},
      {TensorRole::wv, "self_attn.v_proj.weight", {Dim::KVD, Dim::C}, When::always},
      {TensorRole::bv, "self_attn.v_proj.bias", {Dim::KVD}, When::attention_bias},
      {TensorRole::wo, "self_attn.o_proj.weight", {Dim::C, Dim::QD}, When::always},
      {TensorRole::bo, "self_attn.o_proj.bias", {Dim::C}, When::attention_bias},
      {TensorRole::q_norm, "self_attn.q_norm.weight", {Dim::D}, When::qk_norm},
      {TensorRole::k_norm, "self_attn.k_norm.weight", {Dim::D}, When::qk_norm},
      {TensorRole::ffn_norm, "post_attention_layernorm.weight", {Dim::C}, When::always},
      {TensorRole::w_gate, "mlp.gate_proj.weight", {Dim::F, Dim::C}, When::always},
      {TensorRole::b_gate, "mlp.gate_proj.bias", {Dim::F}, When::mlp_bias},
      {TensorRole::w_up, "mlp.up_proj.weight", {Dim::F, Dim::C}, When::always},
      {TensorRole::b_up, "mlp.up_proj.bias", {Dim::F}, When::mlp_bias},
      {TensorRole::w_down, "mlp.down_proj.weight", {Dim::C, Dim::F}, When::always},
      {TensorRole::b_down, "mlp.down_proj.bias", {Dim::C}, When::mlp_bias},
  };
  return rows;
}

int64_t dim_value(const ModelConfig& c, Dim d) {
  switch (d) {
    case Dim::C:
      return c.hidden_size;
    case Dim::F:
      return c.intermediate_size;
    case Dim::QD:
      return c.q_dim();
    case Dim::KVD:
      return c.kv_dim();
    case Dim::D:
      return c.head_dim;
    case Dim::V:
      return c.vocab_size;
    case Dim::LABELS:
      return c.num_labels;
  }
  return 0;
}

bool applies(const ModelConfig& c, When w) {
  switch (w) {
    case When::always:
      return true;
    case When::attention_bias:
      return c.attention_bias;
    case When::mlp_bias:
      return c.mlp_bias;
    case When::qk_norm:
      return c.qk_norm;
  }
  return false;
}

}  // namespace

std::vector<CheckpointTensor> checkpoint_tensors(const ModelConfig& c, const std::string& prefix) {
  std::vector<CheckpointTensor> out;
  auto shape = [&](std::initializer_list<Dim> dims) {
    std::vector<int64_t> s;
    for (Dim d : dims) s.push_back(dim_value(c, d));
    return s;
  };
  out.push_back({prefix + "embed_tokens.weight", TensorRole::embed, -1, shape({Dim::V, Dim::C})});
  for (int layer = 0; layer < c.n_layer; ++layer) {
    for (const auto& row : layer_table()) {
      if (!applies(c, row.when)) continue;
      std::vector<int64_t> s;
      for (Dim d : row.shape) s.push_back(dim_value(c, d));
      out.push_back({prefix + "layers." + std::to_string(layer) + "." + row.suffix, row.role, layer, s});
    }
  }
  out.push_back({prefix + "norm.weight", TensorRole::final_norm, -1, shape({Dim::C})});
  if (c.head == HeadKind::score)
    out.push_back({"score.weight", TensorRole::score, -1, shape({Dim::LABELS, Dim::C})});
  if (c.head == HeadKind::lm && !c.tie_word_embeddings) {
    out.push_back({"lm_head.weight", TensorRole::lm_head, -1, shape({Dim::V, Dim::C})});
  }
  return out;
}

}  // namespace synpref::model
