// synpref/model/init.h: writing model folders in Hugging Face format.
//
//  - Random models (presets with real shapes, or any config) for tests, demos and benchmarks:
//    config.json + model.safetensors with transformers' tensor names, plus the tokenizer files.
//  - Conversion of llama2.c checkpoints (e.g. stories260K) to a LlamaForCausalLM folder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/model/config.h"
#include "synpref/model/safetensors.h"

namespace synpref::model {

// Presets: "qwen3-tiny", "llama-tiny" (tiny hidden size, GQA; vocab = the tokenizer's), and the exact
// shapes of real checkpoints: "qwen3-0.6b", "qwen3-8b", "llama-3.2-1b", "llama-3.1-8b".
struct PresetInfo {
  std::string name;
  Family family;
  std::string description;
};
const std::vector<PresetInfo>& model_presets();
// `vocab_size` replaces the preset's vocabulary for tiny presets (real shapes keep theirs).
Result<ModelConfig> preset_config(Family family, std::string_view preset, HeadKind head,
                                  std::optional<int64_t> tokenizer_vocab_size);
Result<Family> parse_family(std::string_view arch);  // "qwen3" | "llama"

struct InitOptions {
  uint64_t seed = 0;
  double init_std = 0.02;    // normal(0, init_std) for every matrix (transformers' initializer_range)
  double norm_jitter = 0.0;  // RMSNorm weights = 1 + normal(0, norm_jitter) (transformers: 0)
  double bias_std = 0.0;     // biases (attention_bias / mlp_bias) = normal(0, bias_std)
  DType dtype = DType::F32;  // F32, F16 or BF16
};
// Writes config.json and model.safetensors for `config` into out_dir (created if needed). Every
// tensor is drawn from its own stream seeded by (seed, tensor name): reproducible, order-independent.
Status write_random_model(const ModelConfig& config, const InitOptions& options, const std::string& out_dir);

// What init-model needs from a tokenizer folder (tokenizer.json, tokenizer_config.json, or a
// tiktoken tokenizer.model as in Meta's Llama 3 releases).
struct TokenizerFacts {
  int64_t vocab_size = 0;  // 1 + the largest token id
  std::optional<int64_t> pad_token_id, bos_token_id, eos_token_id;
  std::vector<std::string> files;  // tokenizer files present in the folder (names only)
};
Result<TokenizerFacts> inspect_tokenizer_dir(const std::string& dir);
// Copies the tokenizer files (and license files) listed in `facts` from dir to out_dir.
Status copy_tokenizer_files(const std::string& dir, const TokenizerFacts& facts, const std::string& out_dir);

// Converts a llama2.c checkpoint (int32[7] header: dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size (negative = separate classifier), seq_len; then fp32 weights) into a LlamaForCausalLM
// folder. q/k rows are permuted from llama2.c's interleaved-pair RoPE to transformers' rotate_half.
Status convert_llama2c(const std::string& bin_path, const std::string& out_dir);

}  // namespace synpref::model
