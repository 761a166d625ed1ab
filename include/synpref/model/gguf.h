// synpref/model/gguf.h: exporting a Hugging Face folder to GGUF, llama.cpp's model file.
//
// Used to run the same weights in llama.cpp (the CPU baseline of the model benchmark, and a second
// implementation to compare logits with). Written from the GGUF specification (ggml docs/gguf.md);
// the metadata keys and tensor names are the ones llama.cpp's loader reads for "qwen3" and "llama".
//
// GGUF version 3, all integers little-endian:
//
//   u32 magic      0x46554747 (the bytes "GGUF")
//   u32 version    3
//   u64 n_tensors
//   u64 n_kv
//   n_kv x { str key, u32 value_type, value }
//       str   = u64 byte length + UTF-8 bytes (no terminator)
//       value_type: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (1 byte), 8 str,
//                   9 array = { u32 element_type, u64 count, count x element }, 10 u64, 11 i64, 12 f64
//   n_tensors x { str name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//       ne[0] is the fastest-varying dimension: a row-major (out, in) matrix is ne = {in, out}.
//       ggml_type: 0 F32, 1 F16, 30 BF16. offset is relative to the start of the data section and a
//       multiple of the alignment.
//   zero padding to a multiple of `general.alignment` (u32; 32 when absent; we always write it)
//   data section: each tensor's bytes at its offset, zero padding between tensors
//
// What is written (llama.cpp's names; A = general.architecture, "qwen3" or "llama"):
//   general.architecture, general.name, general.file_type (0 all F32, 1 mostly F16, 32 mostly BF16),
//   general.alignment; A.vocab_size, A.context_length, A.embedding_length, A.block_count,
//   A.feed_forward_length, A.attention.head_count, A.attention.head_count_kv,
//   A.attention.key_length = A.attention.value_length = A.rope.dimension_count = head_dim,
//   A.rope.freq_base, A.attention.layer_norm_rms_epsilon, A.rope.scaling.{type,factor} (linear);
//   tokenizer.ggml.model "gpt2" (byte-level BPE from tokenizer.json; "none" with tokenizer = false),
//   tokenizer.ggml.pre ("qwen2" for Qwen3, "llama-bpe" for Llama), .tokens (vocab_size strings; ids
//   the tokenizer lacks become "[PAD<id>]", type 5 unused), .token_type (1 normal, 3 control = special
//   added token, 4 user-defined = other added token), .merges ("a b"), .bos/.eos/.padding_token_id,
//   .add_bos_token (when tokenizer_config.json says), tokenizer.chat_template (when it has one).
// Tensors: token_embd, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, attn_q_norm,
//   attn_k_norm (Qwen3), ffn_norm, ffn_gate, ffn_up, ffn_down}, output_norm, output (only when the
//   LM head is not tied to the embedding), rope_freqs (Llama 3 RoPE scaling: per-frequency divisors).
//   Llama's q/k rows are permuted within each head from transformers' rotate_half order to
//   llama.cpp's interleaved pairs (new row 2j + s = old row s * head_dim/2 + j, s = 0, 1); Qwen3 is stored as
//   is (llama.cpp applies NeoX-style RoPE to it).
//
// Not exported: the reward head (score.weight of *ForSequenceClassification), which llama.cpp's LM
// graph has no place for: the file holds the backbone and, tied or not, an LM head.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/model/safetensors.h"

namespace synpref::model {

struct GgufExportOptions {
  // Element type of the matrices (F32, F16 or BF16). 1-D tensors (norm weights, rope_freqs) stay F32, as
  // llama.cpp expects. Source weights may be F32, F16 or BF16.
  DType dtype = DType::F32;
  std::string name{};  // general.name; empty: the folder's name
  // false: tokenizer.ggml.model "none" (token ids only). llama.cpp's loader accepts that, but some
  // front ends (node-llama-cpp) need a vocabulary and abort on such files.
  bool tokenizer = true;
  std::string tokenizer_dir{};  // folder with tokenizer.json (+ tokenizer_config.json); empty: model_dir
  uint32_t alignment = 32;      // general.alignment (a power of two, >= 8)
};

struct GgufExportSummary {
  std::string architecture;  // "qwen3" or "llama"
  uint64_t n_tensors = 0, n_kv = 0;
  uint64_t file_bytes = 0;
  int64_t n_tokenizer_tokens = 0;  // 0 with tokenizer = false
  int64_t n_padding_tokens = 0;    // ids below vocab_size the tokenizer does not define
  bool score_head_dropped = false;
  bool lm_head_tied = false;
  // Facts a user should know (dropped head, untied model without an LM head, ...).
  std::vector<std::string> notes;
};

// Writes `out_path` (atomically: a temporary file renamed into place) from the Hugging Face folder
// `model_dir` (config.json + model.safetensors or a sharded index; the tokenizer files beside them).
// Supported: Qwen3 and Llama *ForCausalLM, *ForSequenceClassification and base checkpoints without
// attention or MLP biases, RoPE scaling none, linear or llama3. Everything else is an `unsupported`
// or `data_error` Status naming the file and the field. Memory: one tensor row block at a time.
Result<GgufExportSummary> export_gguf(const std::string& model_dir, const std::string& out_path,
                                      const GgufExportOptions& options = {});

}  // namespace synpref::model
