// Random models in Hugging Face format (presets, any config) and tokenizer-folder facts.
#include "synpref/model/init.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/random.h"
#include "kernels/kernels.h"
#include "status_util.h"
#include "synpref/common/io.h"

namespace synpref::model {

namespace fs = std::filesystem;

const std::vector<PresetInfo>& model_presets() {
  static const std::vector<PresetInfo> presets = {
      {"qwen3-tiny", Family::qwen3,
       "2 layers, hidden 64, 4 heads / 2 KV heads, head_dim 32, QK-norm, tied; tokenizer vocab"},
      {"qwen3-0.6b", Family::qwen3,
       "exact shapes of Qwen3-0.6B (28 layers, hidden 1024, 16/8 heads, head_dim 128, tied)"},
      {"qwen3-8b", Family::qwen3,
       "exact shapes of Qwen3-8B (36 layers, hidden 4096, 32/8 heads, FFN 12288, untied)"},
      {"llama-tiny", Family::llama,
       "2 layers, hidden 64, 4 heads / 2 KV heads, llama3 RoPE scaling, tied; tokenizer vocab"},
      {"llama-3.2-1b", Family::llama,
       "exact shapes of Llama-3.2-1B (16 layers, hidden 2048, 32/8 heads, llama3 RoPE, tied)"},
      {"llama-3.1-8b", Family::llama,
       "exact shapes of Llama-3.1-8B (32 layers, hidden 4096, 32/8 heads, FFN 14336, untied)"},
  };
  return presets;
}

Result<Family> parse_family(std::string_view arch) {
  if (arch == "qwen3") return Family::qwen3;
  if (arch == "llama") return Family::llama;
  return invalid_argument("--arch must be qwen3 or llama, got '" + std::string(arch) + "'");
}

Result<ModelConfig> preset_config(Family family, std::string_view preset, HeadKind head,
                                  std::optional<int64_t> tokenizer_vocab_size) {
  ModelConfig c;
  c.family = family;
  c.head = head;
  c.qk_norm = family_spec(family).qk_norm;
  c.num_labels = 1;
  c.torch_dtype = "float32";
  bool tiny = false;
  auto llama3_rope = [&](double factor) {
    c.rope_scaling.type = RopeScaling::Type::llama3;
    c.rope_scaling.factor = factor;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 4.0;
    c.rope_scaling.original_max_position_embeddings = 8192;
  };
  if (family == Family::qwen3 && preset == "qwen3-tiny") {
    tiny = true;
    c.hidden_size = 64, c.intermediate_size = 192, c.n_layer = 2, c.n_head = 4, c.n_head_kv = 2,
    c.head_dim = 32;
    c.tie_word_embeddings = true, c.rope_theta = 1000000.0, c.rms_norm_eps = 1e-6,
    c.max_position_embeddings = 40960;
  } else if (family == Family::qwen3 && preset == "qwen3-0.6b") {
    c.vocab_size = 151936, c.hidden_size = 1024, c.intermediate_size = 3072, c.n_layer = 28, c.n_head = 16;
    c.n_head_kv = 8, c.head_dim = 128, c.tie_word_embeddings = true, c.rope_theta = 1000000.0,
    c.rms_norm_eps = 1e-6;
    c.max_position_embeddings = 40960;
  } else if (family == Family::qwen3 && preset == "qwen3-8b") {
    c.vocab_size = 151936, c.hidden_size = 4096, c.intermediate_size = 12288, c.n_layer = 36, c.n_head = 32;
    c.n_head_kv = 8, c.head_dim = 128, c.tie_word_embeddings = false, c.rope_theta = 1000000.0,
    c.rms_norm_eps = 1e-6;
    c.max_position_embeddings = 40960;
  } else if (family == Family::llama && preset == "llama-tiny") {
    tiny = true;
    c.hidden_size = 64, c.intermediate_size = 176, c.n_layer = 2, c.n_head = 4, c.n_head_kv = 2,
    c.head_dim = 16;
    c.tie_word_embeddings = true, c.rope_theta = 500000.0, c.rms_norm_eps = 1e-5,
    c.max_position_embeddings = 131072;
    llama3_rope(32.0);
  } else if (family == Family::llama && preset == "llama-3.2-1b") {
    c.vocab_size = 128256, c.hidden_size = 2048, c.intermediate_size = 8192, c.n_layer = 16, c.n_head = 32;
    c.n_head_kv = 8, c.head_dim = 64, c.tie_word_embeddings = true, c.rope_theta = 500000.0,
    c.rms_norm_eps = 1e-5;
    c.max_position_embeddings = 131072;
    llama3_rope(32.0);
  } else if (family == Family::llama && preset == "llama-3.1-8b") {
    c.vocab_size = 128256, c.hidden_size = 4096, c.intermediate_size = 14336, c.n_layer = 32, c.n_head = 32;
    c.n_head_kv = 8, c.head_dim = 128, c.tie_word_embeddings = false, c.rope_theta = 500000.0,
    c.rms_norm_eps = 1e-5;
    c.max_position_embeddings = 131072;
    llama3_rope(8.0);
  } else {
    std::string names;
    for (const auto& p : model_presets())
      if (p.family == family) names += (names.empty() ? "" : ", ") + p.name;
    return invalid_argument("unknown preset '" + std::string(preset) + "' for --arch " +
                            family_spec(family).model_type + " (presets: " + names + ")");
  }
  if (tiny) {
    if (!tokenizer_vocab_size)
      return invalid_argument("preset '" + std::string(preset) + "' takes its vocabulary from --tokenizer");
    c.vocab_size = *tokenizer_vocab_size;
  } else if (tokenizer_vocab_size && *tokenizer_vocab_size > c.vocab_size) {
    return invalid_argument("the tokenizer has " + std::to_string(*tokenizer_vocab_size) +
                            " tokens but preset '" + std::string(preset) + "' has vocab_size " +
                            std::to_string(c.vocab_size));
  }
  const FamilySpec& spec = family_spec(family);
  c.architecture = head == HeadKind::score ? spec.arch_score
                   : head == HeadKind::lm  ? spec.arch_lm
                                           : spec.arch_base;
  return c;
}

namespace {

// Fills `out` with `n` values of tensor `name`, chunked into independent streams so that the result
// does not depend on the thread count.
void fill_values(const std::string& name, uint64_t seed, int64_t n, double mean, double std,
                 std::vector<float>* out) {
  out->resize(static_cast<size_t>(n));
  constexpr int64_t kChunk = int64_t{1} << 20;
  const int64_t n_chunks = (n + kChunk - 1) / kChunk;
  const int n_threads = std::max(
      1, std::min<int>(static_cast<int>(std::thread::hardware_concurrency()), static_cast<int>(n_chunks)));
  auto work = [&](int t) {
    for (int64_t ch = t; ch < n_chunks; ch += n_threads) {
      Rng rng(seed, name + "#" + std::to_string(ch));
      const int64_t end = std::min(n, (ch + 1) * kChunk);
      for (int64_t i = ch * kChunk; i < end; ++i)
        (*out)[static_cast<size_t>(i)] = static_cast<float>(mean + std * rng.normal());
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < n_threads; ++t) threads.emplace_back(work, t);
  work(0);
  for (auto& th : threads) th.join();
}

void encode(const std::vector<float>& v, DType dtype, std::string* bytes) {
  if (dtype == DType::F32) {
    bytes->assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
    return;
  }
  bytes->resize(v.size() * 2);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint16_t h = dtype == DType::BF16 ? kernels::f32_to_bf16(v[i]) : kernels::f32_to_f16(v[i]);
    std::memcpy(bytes->data() + 2 * i, &h, 2);
  }
}

}  // namespace

Status write_random_model(const ModelConfig& config, const InitOptions& options, const std::string& out_dir) {
  if (options.dtype != DType::F32 && options.dtype != DType::F16 && options.dtype != DType::BF16) {
    return invalid_argument("init dtype must be F32, F16 or BF16");
  }
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return io_error(out_dir + ": cannot create directory: " + ec.message());
  ModelConfig c = config;
  c.torch_dtype = options.dtype == DType::F32    ? "float32"
                  : options.dtype == DType::BF16 ? "bfloat16"
                                                 : "float16";
  c.initializer_range = options.init_std;
  SP_RETURN_IF_ERROR(io::write_text((fs::path(out_dir) / "config.json").string(), model_config_to_json(c)));

  const std::vector<CheckpointTensor> table = checkpoint_tensors(c, "model.");
  std::vector<TensorSpec> specs;
  for (const auto& t : table) specs.push_back({t.name, options.dtype, t.shape});
  std::vector<float> values;
  return write_safetensors_streaming((fs::path(out_dir) / "model.safetensors").string(), specs,
                                     [&](size_t i, std::string* bytes) {
                                       const CheckpointTensor& t = table[i];
                                       int64_t n = 1;
                                       for (int64_t d : t.shape) n *= d;
                                       double mean = 0, std = options.init_std;
                                       switch (t.role) {
                                         case TensorRole::attn_norm:
                                         case TensorRole::ffn_norm:
                                         case TensorRole::q_norm:
                                         case TensorRole::k_norm:
                                         case TensorRole::final_norm:
                                           mean = 1.0, std = options.norm_jitter;
                                           break;
                                         case TensorRole::bq:
                                         case TensorRole::bk:
                                         case TensorRole::bv:
                                         case TensorRole::bo:
                                         case TensorRole::b_gate:
                                         case TensorRole::b_up:
                                         case TensorRole::b_down:
                                           std = options.bias_std;
                                           break;
                                         default:
                                           break;
                                       }
                                       fill_values(t.name, options.seed, n, mean, std, &values);
                                       encode(values, options.dtype, bytes);
                                       return Status::ok();
                                     });
}

namespace {

const char* const kTokenizerFiles[] = {
    "tokenizer.json",     "tokenizer_config.json",   "tokenizer.model",   "vocab.json",
    "merges.txt",         "special_tokens_map.json", "added_tokens.json", "chat_template.jinja",
    "chat_template.json", "generation_config.json"};

}  // namespace

Result<TokenizerFacts> inspect_tokenizer_dir(const std::string& dir) {
  if (!fs::is_directory(dir))
    return not_found(dir + ": not a directory (--tokenizer expects a tokenizer folder)");
  TokenizerFacts facts;
  for (const char* name : kTokenizerFiles)
    if (fs::is_regular_file(fs::path(dir) / name)) facts.files.push_back(name);
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && (name.rfind("LICENSE", 0) == 0 || name == "USE_POLICY.md"))
      facts.files.push_back(name);
  }
  std::map<std::string, int64_t> token_ids;  // content -> id, for resolving special tokens
  const fs::path tj = fs::path(dir) / "tokenizer.json";
  const fs::path tm = fs::path(dir) / "tokenizer.model";
  if (fs::is_regular_file(tj)) {
    SP_ASSIGN_OR_RETURN(std::string text, io::read_file(tj.string(), uint64_t{512} << 20));
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      return data_error(tj.string() + ": not valid JSON: " + e.what());
    }
    int64_t max_id = -1;
    if (j.contains("model") && j["model"].is_object() && j["model"].contains("vocab") &&
        j["model"]["vocab"].is_object()) {
      for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it) {
        if (!it.value().is_number_integer()) continue;
        const int64_t id = it.value().get<int64_t>();
        max_id = std::max(max_id, id);
        token_ids[it.key()] = id;
      }
    }
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      for (const auto& t : j["added_tokens"]) {
        if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer()) continue;
        const int64_t id = t["id"].get<int64_t>();
        max_id = std::max(max_id, id);
        if (t.contains("content") && t["content"].is_string())
          token_ids[t["content"].get<std::string>()] = id;
      }
    }
    if (max_id < 0) return data_error(tj.string() + ": no model.vocab or added_tokens ids found");
    facts.vocab_size = max_id + 1;
  } else if (fs::is_regular_file(tm)) {
    // Meta's Llama 3 tiktoken file: "<base64> <rank>" lines; 256 special tokens follow the ranks
    // (128000 <|begin_of_text|>, 128001 <|end_of_text|>, ...).
    std::ifstream in(tm);
    std::string line;
    int64_t max_rank = -1;
    while (std::getline(in, line)) {
      const size_t sp = line.rfind(' ');
      if (sp == std::string::npos) continue;
      max_rank = std::max<int64_t>(max_rank, std::atoll(line.c_str() + sp + 1));
    }
    if (max_rank < 0) return data_error(tm.string() + ": no '<base64> <rank>' lines (not a tiktoken file)");
    facts.vocab_size = max_rank + 1 + 256;
    facts.bos_token_id = max_rank + 1;
    facts.eos_token_id = max_rank + 2;
  } else {
    return not_found(dir + ": no tokenizer.json or tokenizer.model");
  }
  const fs::path tc = fs::path(dir) / "tokenizer_config.json";
  if (fs::is_regular_file(tc)) {
    SP_ASSIGN_OR_RETURN(std::string text, io::read_file(tc.string(), uint64_t{64} << 20));
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      return data_error(tc.string() + ": not valid JSON: " + e.what());
    }
    auto resolve = [&](const char* key) -> std::optional<int64_t> {
      if (!j.contains(key)) return std::nullopt;
      const nlohmann::json& v = j[key];
      std::string content;
      if (v.is_string())
        content = v.get<std::string>();
      else if (v.is_object() && v.contains("content") && v["content"].is_string())
        content = v["content"].get<std::string>();
      else
        return std::nullopt;
      auto it = token_ids.find(content);
      return it == token_ids.end() ? std::nullopt : std::optional<int64_t>(it->second);
    };
    if (auto v = resolve("pad_token")) facts.pad_token_id = v;
    if (auto v = resolve("bos_token")) facts.bos_token_id = v;
    if (auto v = resolve("eos_token")) facts.eos_token_id = v;
  }
  return facts;
}

Status copy_tokenizer_files(const std::string& dir, const TokenizerFacts& facts, const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return io_error(out_dir + ": cannot create directory: " + ec.message());
  for (const auto& name : facts.files) {
    fs::copy_file(fs::path(dir) / name, fs::path(out_dir) / name, fs::copy_options::overwrite_existing, ec);
    if (ec)
      return io_error((fs::path(dir) / name).string() + ": cannot copy to " + out_dir + ": " + ec.message());
  }
  return Status::ok();
}

}  // namespace synpref::model
