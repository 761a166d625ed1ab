// Hugging Face folder -> GGUF v3 (layout and key table: include/synpref/model/gguf.h).
//
// The export is planned first (metadata blob, tensor table with offsets) and then streamed: each
// tensor is read from the memory-mapped safetensors file(s) a block of rows at a time, converted
// (dtype, Llama q/k row order) and appended, so memory stays at one block whatever the model size.
#include "synpref/model/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "kernels/kernels.h"
#include "rope.h"
#include "synpref/common/io.h"
#include "synpref/model/config.h"
#include "synpref/model/init.h"

namespace synpref::model {

namespace {

static_assert(std::endian::native == std::endian::little, "GGUF is little-endian; so must the host be");

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kGgufVersion = 3;

// GGUF metadata value types (the spec's gguf_metadata_value_type).
enum class ValueType : uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  str = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12
};
// ggml tensor types we write.
enum class GgmlType : uint32_t { f32 = 0, f16 = 1, bf16 = 30 };

// Little-endian byte builder.
class Bytes {
 public:
  template <typename T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const size_t at = out_.size();
    out_.resize(at + sizeof(T));
    std::memcpy(out_.data() + at, &v, sizeof(T));
  }
  void put_str(std::string_view s) {
    put<uint64_t>(s.size());
    out_.append(s);
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

// The metadata key-value section.
class Metadata {
 public:
  void add_u32(const std::string& key, uint32_t v) {
    head(key, ValueType::u32);
    b_.put(v);
  }
  void add_f32(const std::string& key, float v) {
    head(key, ValueType::f32);
    b_.put(v);
  }
  void add_bool(const std::string& key, bool v) {
    head(key, ValueType::boolean);
    b_.put<uint8_t>(v ? 1 : 0);
  }
  void add_str(const std::string& key, std::string_view v) {
    head(key, ValueType::str);
    b_.put_str(v);
  }
  void add_str_array(const std::string& key, const std::vector<std::string>& v) {
    head(key, ValueType::array);
    b_.put(static_cast<uint32_t>(ValueType::str));
    b_.put<uint64_t>(v.size());
    for (const auto& s : v) b_.put_str(s);
  }
  void add_i32_array(const std::string& key, const std::vector<int32_t>& v) {
    head(key, ValueType::array);
    b_.put(static_cast<uint32_t>(ValueType::i32));
    b_.put<uint64_t>(v.size());
    for (int32_t x : v) b_.put(x);
  }
  uint64_t count() const { return count_; }
  std::string& bytes() { return b_.str(); }

 private:
  void head(const std::string& key, ValueType type) {
    b_.put_str(key);
    b_.put(static_cast<uint32_t>(type));
    ++count_;
  }
  Bytes b_;
  uint64_t count_ = 0;
};

// One tensor of the output: where its rows come from and how they are converted.
struct PlannedTensor {
  std::string name;            // llama.cpp's name, e.g. "blk.3.attn_q.weight"
  std::vector<int64_t> shape;  // row-major shape (transformers'); written reversed as ggml ne
  GgmlType type = GgmlType::f32;
  const SafetensorsFile* file = nullptr;  // source, or nullptr for `values`
  const TensorEntry* entry = nullptr;
  kernels::WType src_type = kernels::WType::f32;
  std::vector<float> values;     // synthesized tensors (rope_freqs)
  int64_t permute_head_dim = 0;  // > 0: rotate_half -> interleaved row order within heads of this size
  uint64_t offset = 0;           // in the data section
  uint64_t bytes = 0;
};

uint64_t align_up(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}

// The safetensors file(s) of a folder: model.safetensors or the shards of model.safetensors.index.json.
// Byte-level BPE vocabulary of tokenizer.json as llama.cpp's "gpt2" tokenizer wants it.
struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  int64_t n_padding = 0;
};

// llama.cpp's token types (llama_token_type).
constexpr int32_t kTokenNormal = 1, kTokenControl = 3, kTokenUserDefined = 4, kTokenUnused = 5;

Result<Vocab> read_bpe_vocab(const std::string& path, int64_t vocab_size) {
  SP_ASSIGN_OR_RETURN(std::string text, io::read_file(path, uint64_t{512} << 20));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return data_error(path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    return data_error(path + ": no \"model\" object (not a Hugging Face tokenizer.json)");
  const json& m = j["model"];
  const std::string type = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : "";
  if (type != "BPE") {
    return unsupported(
        path + ": model.type is '" + type +
        "'; GGUF export writes byte-level BPE tokenizers only (or an id-only file without one)");
  }
  // Byte-level BPE (GPT-2 style) maps bytes to printable characters in a ByteLevel pre-tokenizer or
  // decoder; SentencePiece-style BPE (byte_fallback, "▁") would need llama.cpp's "llama" tokenizer.
  const bool byte_level =
      (j.contains("pre_tokenizer") && j["pre_tokenizer"].dump().find("\"ByteLevel\"") != std::string::npos) ||
      (j.contains("decoder") && j["decoder"].dump().find("\"ByteLevel\"") != std::string::npos);
  if (!byte_level) {
    return unsupported(path +
                       ": BPE without a ByteLevel pre-tokenizer or decoder (SentencePiece-style); GGUF "
                       "export writes byte-level BPE only (or an id-only file without one)");
  }
  if (!m.contains("vocab") || !m["vocab"].is_object())
    return data_error(path + ": model.vocab is not an object");
  Vocab v;
  v.tokens.assign(static_cast<size_t>(vocab_size), std::string());
  v.types.assign(static_cast<size_t>(vocab_size), 0);
  auto place = [&](int64_t id, const std::string& token, int32_t token_type, const char* where) -> Status {
    if (id < 0 || id >= vocab_size) {
      return data_error(path + ": " + where + " token '" + token + "' has id " + std::to_string(id) +
                        ", outside the model's vocab_size " + std::to_string(vocab_size) +
                        " (tokenizer and config.json disagree)");
    }
    const size_t i = static_cast<size_t>(id);
    if (v.types[i] != 0 && v.tokens[i] != token) {
      return data_error(path + ": id " + std::to_string(id) + " is both '" + v.tokens[i] + "' and '" + token +
                        "'");
    }
    v.tokens[i] = token;
    v.types[i] = token_type;
    return Status::ok();
  };
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    if (!it.value().is_number_integer())
      return data_error(path + ": model.vocab['" + it.key() + "'] is not an integer id");
    SP_RETURN_IF_ERROR(place(it.value().get<int64_t>(), it.key(), kTokenNormal, "model.vocab"));
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const auto& t : j["added_tokens"]) {
      if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
          !t["content"].is_string()) {
        return data_error(path + ": an added_tokens entry lacks an integer \"id\" or a string \"content\"");
      }
      const bool special = t.contains("special") && t["special"].is_boolean() && t["special"].get<bool>();
      // An added token may repeat a vocab entry (same id and text): it then only sets the type.
      SP_RETURN_IF_ERROR(place(t["id"].get<int64_t>(), t["content"].get<std::string>(),
                               special ? kTokenControl : kTokenUserDefined, "added_tokens"));
    }
  }
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.types[i] != 0) continue;
    v.tokens[i] = "[PAD" + std::to_string(i) + "]";
    v.types[i] = kTokenUnused;
    ++v.n_padding;
  }
  if (m.contains("merges") && m["merges"].is_array()) {
    v.merges.reserve(m["merges"].size());
    for (const auto& merge : m["merges"]) {
      if (merge.is_string()) {
        v.merges.push_back(merge.get<std::string>());
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
        const std::string a = merge[0].get<std::string>(), b = merge[1].get<std::string>();
        if (a.find(' ') != std::string::npos || b.find(' ') != std::string::npos) {
          return unsupported(path + ": merge ['" + a + "', '" + b +
                             "'] contains a space, which GGUF's space-separated merges cannot hold");
        }
        v.merges.push_back(a + " " + b);
      } else {
        return data_error(path + ": model.merges holds an entry that is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
  }
  return v;
}

// RoPE scaling as llama.cpp reads it. Llama 3 scaling is a per-frequency divisor tensor
// (rope_freqs.weight): transformers' unscaled inverse frequencies over the scaled ones.
std::vector<float> llama3_rope_divisors(const ModelConfig& config) {
  ModelConfig plain = config;
  plain.rope_scaling = RopeScaling();
  const std::vector<float> base = rope_inv_freq(plain), scaled = rope_inv_freq(config);
  std::vector<float> out(base.size());
  for (size_t i = 0; i < base.size(); ++i) out[i] = base[i] / scaled[i];
  return out;
}

// Writes the rows of `t` to `out`, converting element type and (Llama q/k) row order.
Status write_tensor(const PlannedTensor& t, io::Writer& out) {
  const int64_t row_len = t.shape.back();
  int64_t n_rows = 1;
  for (size_t i = 0; i + 1 < t.shape.size(); ++i) n_rows *= t.shape[i];
  const size_t out_elem = t.type == GgmlType::f32 ? 4 : 2;
  if (!t.file) {
    std::string bytes(t.values.size() * 4, '\0');
    std::memcpy(bytes.data(), t.values.data(), bytes.size());
    out.append(bytes);
    return Status::ok();
  }
  const uint8_t* src = t.file->tensor_data(*t.entry);
  const size_t src_elem = t.src_type == kernels::WType::f32 ? 4 : 2;
  const bool same = (t.src_type == kernels::WType::f32 && t.type == GgmlType::f32) ||
                    (t.src_type == kernels::WType::f16 && t.type == GgmlType::f16) ||
                    (t.src_type == kernels::WType::bf16 && t.type == GgmlType::bf16);
  const int64_t rows_per_block =
      std::max<int64_t>(1, (int64_t{4} << 20) / (row_len * static_cast<int64_t>(out_elem)));
  std::string block;
  for (int64_t r0 = 0; r0 < n_rows; r0 += rows_per_block) {
    const int64_t r1 = std::min(n_rows, r0 + rows_per_block);
    block.resize(static_cast<size_t>((r1 - r0) * row_len) * out_elem);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t src_row = r;
      if (t.permute_head_dim > 0) {
        // Within a head: output row 2j + s holds transformers' row s * D/2 + j.
        const int64_t D = t.permute_head_dim, head = r / D, within = r % D;
        src_row = head * D + (within % 2) * (D / 2) + within / 2;
      }
      const uint8_t* s = src + static_cast<size_t>(src_row * row_len) * src_elem;
      uint8_t* d =
          reinterpret_cast<uint8_t*>(block.data()) + static_cast<size_t>((r - r0) * row_len) * out_elem;
      if (same) {
        std::memcpy(d, s, static_cast<size_t>(row_len) * out_elem);
      } else {
        for (int64_t i = 0; i < row_len; ++i) {
          const float x = kernels::widen(t.src_type, s, i);
          if (t.type == GgmlType::f32) {
            std::memcpy(d + i * 4, &x, 4);
          } else {
            const uint16_t h = t.type == GgmlType::f16 ? kernels::f32_to_f16(x) : kernels::f32_to_bf16(x);
            std::memcpy(d + i * 2, &h, 2);
          }
        }
      }
    }
    out.append(block);
  }
  t.file->mapped().release(t.entry->begin, t.entry->end);
  return Status::ok();
}

std::optional<json> read_json_file(const fs::path& path) {
  if (!fs::is_regular_file(path)) return std::nullopt;
  auto text = io::read_file(path.string(), uint64_t{64} << 20);
  if (!text) return std::nullopt;
  try {
    return json::parse(*text);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

Result<GgufExportSummary> export_gguf(const std::string& model_dir, const std::string& out_path,
                                      const GgufExportOptions& options) {
  if (options.dtype != DType::F32 && options.dtype != DType::F16 && options.dtype != DType::BF16)
    return invalid_argument(std::string("GGUF export writes F32, F16 or BF16 matrices, not ") +
                            dtype_name(options.dtype));
  if (options.alignment < 8 || (options.alignment & (options.alignment - 1)) != 0)
    return invalid_argument("GGUF alignment must be a power of two >= 8, got " +
                            std::to_string(options.alignment));
  if (out_path.empty() || out_path == "-" || out_path.ends_with(".gz") || out_path.ends_with(".zst"))
    return invalid_argument("GGUF output '" + out_path +
                            "' must be a plain file path (llama.cpp memory-maps it)");

  // Config.
  const fs::path config_path = fs::path(model_dir) / "config.json";
  if (!fs::exists(config_path))
    return not_found(model_dir + ": no config.json (expected a Hugging Face model folder)");
  SP_ASSIGN_OR_RETURN(std::string config_text, io::read_file(config_path.string(), uint64_t{16} << 20));
  SP_ASSIGN_OR_RETURN(ModelConfig config, parse_model_config(config_text, config_path.string()));
  if (config.attention_bias || config.mlp_bias) {
    return unsupported(
        config_path.string() +
        ": attention_bias/mlp_bias are set; GGUF export handles bias-free Qwen3 and Llama only");
  }
  const char* arch = family_spec(config.family).model_type;  // "qwen3" | "llama": llama.cpp's names too
  if (config.max_position_embeddings <= 0)
    return data_error(config_path.string() +
                      ": max_position_embeddings must be positive (llama.cpp's context_length)");

  SP_ASSIGN_OR_RETURN(CheckpointFiles weights, open_checkpoint_files(model_dir));
  for (const auto& [name, loc] : weights.tensors) {
    if (name.ends_with(".bias")) {
      return unsupported(loc.file->path() + ": has bias tensor '" + name +
                         "'; GGUF export handles bias-free Qwen3 and Llama only");
    }
  }
  std::string prefix = "model.";
  if (!weights.tensors.count("model.embed_tokens.weight") && weights.tensors.count("embed_tokens.weight"))
    prefix = "";

  GgufExportSummary summary;
  summary.architecture = arch;
  summary.lm_head_tied = config.tie_word_embeddings;
  const GgmlType matrix_type = options.dtype == DType::F16    ? GgmlType::f16
                               : options.dtype == DType::BF16 ? GgmlType::bf16
                                                              : GgmlType::f32;

  // Tensor table: transformers' role -> llama.cpp's name.
  auto gguf_name = [](TensorRole role, int layer) -> std::string {
    const std::string blk = "blk." + std::to_string(layer) + ".";
    switch (role) {
      case TensorRole::embed:
        return "token_embd.weight";
      case TensorRole::attn_norm:
        return blk + "attn_norm.weight";
      case TensorRole::wq:
        return blk + "attn_q.weight";
      case TensorRole::wk:
        return blk + "attn_k.weight";
      case TensorRole::wv:
        return blk + "attn_v.weight";
      case TensorRole::wo:
        return blk + "attn_output.weight";
      case TensorRole::q_norm:
        return blk + "attn_q_norm.weight";
      case TensorRole::k_norm:
        return blk + "attn_k_norm.weight";
      case TensorRole::ffn_norm:
        return blk + "ffn_norm.weight";
      case TensorRole::w_gate:
        return blk + "ffn_gate.weight";
      case TensorRole::w_up:
        return blk + "ffn_up.weight";
      case TensorRole::w_down:
        return blk + "ffn_down.weight";
      case TensorRole::final_norm:
        return "output_norm.weight";
      case TensorRole::lm_head:
        return "output.weight";
      default:
        return "";
    }
  };
  ModelConfig body = config;
  body.head = HeadKind::none;
  std::vector<CheckpointTensor> table = checkpoint_tensors(body, prefix);
  const bool has_lm_tensor = weights.tensors.count("lm_head.weight") > 0;
  if (!config.tie_word_embeddings && has_lm_tensor) {
    table.push_back({"lm_head.weight", TensorRole::lm_head, -1, {config.vocab_size, config.hidden_size}});
  } else if (!config.tie_word_embeddings) {
    summary.notes.push_back(
        "the folder has no LM head (lm_head.weight) and tie_word_embeddings is false: llama.cpp will use "
        "token_embd as its output layer, so its logits are meaningless (hidden states are exact)");
  }
  if (config.head == HeadKind::score) {
    summary.score_head_dropped = true;
    summary.notes.push_back(
        "score.weight (the reward head) is not exported: llama.cpp's LM graph has no place for it; the "
        "file holds the backbone" +
        std::string(config.tie_word_embeddings || has_lm_tensor ? " and the LM head" : ""));
  }

  std::vector<PlannedTensor> tensors;
  for (const auto& ct : table) {
    auto it = weights.tensors.find(ct.name);
    if (it == weights.tensors.end()) {
      return not_found(model_dir + ": tensor '" + ct.name + "' is missing (the checkpoint does not match " +
                       config.architecture + " as described by config.json)");
    }
    const auto [file, entry] = it->second;  // CheckpointFiles::Located
    PlannedTensor t;
    t.name = gguf_name(ct.role, ct.layer);
    SP_CHECK_MSG(!t.name.empty(), "tensor role without a GGUF name");
    t.shape = ct.shape;
    t.file = file;
    t.entry = entry;
    switch (entry->dtype) {
      case DType::F32:
        t.src_type = kernels::WType::f32;
        break;
      case DType::F16:
        t.src_type = kernels::WType::f16;
        break;
      case DType::BF16:
        t.src_type = kernels::WType::bf16;
        break;
      default:
        return unsupported(file->path() + ": tensor '" + ct.name + "' has dtype " + dtype_name(entry->dtype) +
                           "; GGUF export reads F32, F16 and BF16 weights");
    }
    if (entry->shape != ct.shape) {
      std::string want = "[";
      for (size_t i = 0; i < ct.shape.size(); ++i) want += (i ? ", " : "") + std::to_string(ct.shape[i]);
      return data_error(file->path() + ": tensor '" + ct.name + "' has shape " + entry->shape_string() +
                        " but config.json implies " + want + "]");
    }
    t.type = ct.shape.size() == 1 ? GgmlType::f32 : matrix_type;
    // llama.cpp rotates Llama's q/k as interleaved pairs; Qwen3 (NeoX RoPE) as transformers does.
    if (config.family == Family::llama && (ct.role == TensorRole::wq || ct.role == TensorRole::wk))
      t.permute_head_dim = config.head_dim;
    tensors.push_back(std::move(t));
  }
  if (config.rope_scaling.type == RopeScaling::Type::llama3) {
    PlannedTensor t;
    t.name = "rope_freqs.weight";
    t.values = llama3_rope_divisors(config);
    t.shape = {static_cast<int64_t>(t.values.size())};
    tensors.push_back(std::move(t));
  }

  // Metadata.
  Metadata kv;
  const std::string a = arch;
  kv.add_str("general.architecture", a);
  kv.add_str("general.name", options.name.empty() ? fs::path(model_dir).lexically_normal().filename().string()
                                                  : options.name);
  // llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_BF16 32.
  kv.add_u32("general.file_type", options.dtype == DType::F16 ? 1 : options.dtype == DType::BF16 ? 32 : 0);
  kv.add_u32("general.alignment", options.alignment);
  kv.add_u32(a + ".vocab_size", static_cast<uint32_t>(config.vocab_size));
  kv.add_u32(a + ".context_length", static_cast<uint32_t>(config.max_position_embeddings));
  kv.add_u32(a + ".embedding_length", static_cast<uint32_t>(config.hidden_size));
  kv.add_u32(a + ".block_count", static_cast<uint32_t>(config.n_layer));
  kv.add_u32(a + ".feed_forward_length", static_cast<uint32_t>(config.intermediate_size));
  kv.add_u32(a + ".attention.head_count", static_cast<uint32_t>(config.n_head));
  kv.add_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(config.n_head_kv));
  kv.add_u32(a + ".attention.key_length", static_cast<uint32_t>(config.head_dim));
  kv.add_u32(a + ".attention.value_length", static_cast<uint32_t>(config.head_dim));
  kv.add_u32(a + ".rope.dimension_count", static_cast<uint32_t>(config.head_dim));
  kv.add_f32(a + ".rope.freq_base", static_cast<float>(config.rope_theta));
  kv.add_f32(a + ".attention.layer_norm_rms_epsilon", static_cast<float>(config.rms_norm_eps));
  if (config.rope_scaling.type == RopeScaling::Type::linear) {
    kv.add_str(a + ".rope.scaling.type", "linear");
    kv.add_f32(a + ".rope.scaling.factor", static_cast<float>(config.rope_scaling.factor));
  }

  if (!options.tokenizer) {
    kv.add_str("tokenizer.ggml.model", "none");
  } else {
    const std::string tok_dir = options.tokenizer_dir.empty() ? model_dir : options.tokenizer_dir;
    const fs::path tj = fs::path(tok_dir) / "tokenizer.json";
    if (!fs::is_regular_file(tj)) {
      const bool tiktoken = fs::is_regular_file(fs::path(tok_dir) / "tokenizer.model");
      return unsupported(tok_dir +
                         (tiktoken ? ": has tokenizer.model but no tokenizer.json; GGUF export "
                                     "reads Hugging Face tokenizer.json only"
                                   : ": no tokenizer.json") +
                         " (add one, name a tokenizer folder, or write an id-only GGUF)");
    }
    SP_ASSIGN_OR_RETURN(Vocab vocab, read_bpe_vocab(tj.string(), config.vocab_size));
    SP_ASSIGN_OR_RETURN(TokenizerFacts facts, inspect_tokenizer_dir(tok_dir));
    kv.add_str("tokenizer.ggml.model", "gpt2");
    kv.add_str("tokenizer.ggml.pre", config.family == Family::qwen3 ? "qwen2" : "llama-bpe");
    kv.add_str_array("tokenizer.ggml.tokens", vocab.tokens);
    kv.add_i32_array("tokenizer.ggml.token_type", vocab.types);
    kv.add_str_array("tokenizer.ggml.merges", vocab.merges);
    // Special ids: tokenizer_config.json first (what generation uses), config.json otherwise.
    auto special = [&](const char* key, std::optional<int64_t> from_tokenizer,
                       std::optional<int64_t> from_config) {
      const std::optional<int64_t> id = from_tokenizer ? from_tokenizer : from_config;
      if (id && *id >= 0 && *id < config.vocab_size) kv.add_u32(key, static_cast<uint32_t>(*id));
    };
    special("tokenizer.ggml.bos_token_id", facts.bos_token_id, config.bos_token_id);
    special("tokenizer.ggml.eos_token_id", facts.eos_token_id, config.eos_token_id);
    special("tokenizer.ggml.padding_token_id", facts.pad_token_id, config.pad_token_id);
    if (auto tc = read_json_file(fs::path(tok_dir) / "tokenizer_config.json"); tc && tc->is_object()) {
      if (tc->contains("add_bos_token") && (*tc)["add_bos_token"].is_boolean())
        kv.add_bool("tokenizer.ggml.add_bos_token", (*tc)["add_bos_token"].get<bool>());
      if (tc->contains("chat_template") && (*tc)["chat_template"].is_string())
        kv.add_str("tokenizer.chat_template", (*tc)["chat_template"].get<std::string>());
    }
    summary.n_tokenizer_tokens = static_cast<int64_t>(vocab.tokens.size());
    summary.n_padding_tokens = vocab.n_padding;
  }

  // Tensor infos and data offsets.
  Bytes infos;
  uint64_t data_bytes = 0;
  for (auto& t : tensors) {
    uint64_t n = 1;
    for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
    t.bytes = n * (t.type == GgmlType::f32 ? 4 : 2);
    t.offset = align_up(data_bytes, options.alignment);
    data_bytes = t.offset + t.bytes;
    infos.put_str(t.name);
    infos.put(static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) infos.put(static_cast<uint64_t>(*it));
    infos.put(static_cast<uint32_t>(t.type));
    infos.put(t.offset);
  }
  Bytes header;
  header.put(kGgufMagic);
  header.put(kGgufVersion);
  header.put(static_cast<uint64_t>(tensors.size()));
  header.put(kv.count());
  const uint64_t meta_end = header.str().size() + kv.bytes().size() + infos.str().size();
  const uint64_t data_begin = align_up(meta_end, options.alignment);

  SP_ASSIGN_OR_RETURN(auto out, io::Writer::open(out_path));
  out->append(header.str());
  out->append(kv.bytes());
  out->append(infos.str());
  out->append(std::string(data_begin - meta_end, '\0'));
  uint64_t written = 0;
  for (const auto& t : tensors) {
    out->append(std::string(t.offset - written, '\0'));
    SP_RETURN_IF_ERROR(write_tensor(t, *out));
    written = t.offset + t.bytes;
  }
  SP_CHECK_MSG(out->bytes_written() == data_begin + data_bytes, "GGUF size differs from its plan");
  SP_RETURN_IF_ERROR(out->close());

  summary.n_tensors = tensors.size();
  summary.n_kv = kv.count();
  summary.file_bytes = data_begin + data_bytes;
  return summary;
}

}  // namespace synpref::model
