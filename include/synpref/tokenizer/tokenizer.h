// synpref/tokenizer/tokenizer.h: byte-level BPE tokenizers with Hugging Face `tokenizers`
// semantics (Qwen2/2.5/3, Llama 3.x) and Meta's tiktoken-format Llama 3 `tokenizer.model`.
//
// Encoding pipeline (exactly the order HF applies it; see docs/tokenizer.md):
//   1. invalid UTF-8 is replaced by U+FFFD, one per maximal ill-formed subpart (what Python's
//      bytes.decode("utf-8", "replace") and JS TextDecoder do, i.e. what HF would be given);
//   2. added tokens (special or not) are matched leftmost-longest in the raw text, honouring their
//      lstrip / rstrip / single_word flags; normalized=true added tokens are matched after step 3;
//   3. each remaining section is normalized (NFC for Qwen, none for Llama 3);
//   4. the pre-tokenizer regex splits it into pieces (hand-coded for the Qwen and Llama 3 patterns,
//      PCRE2 for any other pattern);
//   5. each piece's bytes are merged by BPE rank (whole-piece vocab hit first when the model has
//      ignore_merges, as Llama 3 and tiktoken do);
//   6. with add_special_tokens, the post-processor's special tokens are added (Llama 3: BOS).
//
// Thread safety: a Tokenizer is immutable after loading; all const methods may be called from
// any number of threads at once. Copies are cheap (shared immutable state).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/hash.h"
#include "synpref/common/status.h"

namespace synpref::tokenizer {

// A token matched in the raw text before BPE (HF "added token").
struct AddedToken {
  int32_t id = 0;
  std::string content;       // UTF-8, as written in tokenizer.json
  bool special = false;      // skipped by decode(skip_special_tokens=true)
  bool lstrip = false;       // also swallows whitespace on its left
  bool rstrip = false;       // also swallows whitespace on its right
  bool single_word = false;  // only matches when not inside a word
  bool normalized = false;   // matched against normalized text rather than raw text
};

// Many encoded texts in two plain columns: the ids of text i are ids[offsets[i], offsets[i+1]).
struct EncodedBatch {
  std::vector<int32_t> ids;
  std::vector<uint64_t> offsets;  // size() + 1 entries, offsets[0] == 0
  size_t size() const { return offsets.empty() ? 0 : offsets.size() - 1; }
  std::span<const int32_t> operator[](size_t i) const {
    return {ids.data() + offsets[i], static_cast<size_t>(offsets[i + 1] - offsets[i])};
  }
};

class Tokenizer {
 public:
  struct Impl;

  // Ids of `text`. add_special_tokens=true applies the post-processor (Llama 3: prepends
  // <|begin_of_text|>; Qwen: nothing), like HF `encode(text, add_special_tokens=True)`.
  // Never fails: invalid UTF-8 is replaced first (see above).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Appends the ids of `text` to `out` (no allocation when `out` has capacity).
  void encode_into(std::string_view text, bool add_special_tokens, std::vector<int32_t>& out) const;
  // Encodes every text using n_threads threads (0 = all hardware threads). Same ids as encode().
  EncodedBatch encode_batch(std::span<const std::string_view> texts, bool add_special_tokens,
                            int n_threads = 0) const;

  // The bytes the ids stand for (HF's ByteLevel decoder). Not UTF-8-repaired: a cut through a
  // multi-byte character stays cut; pass the result to repair_utf8() for HF's lossy string.
  // Fails (invalid_argument) on an id outside [0, vocab_size()) that names no token.
  Result<std::string> decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Token strings in HF form: vocabulary entries in byte-level characters ("Ġthe"), added tokens
  // as their content ("<|im_start|>").
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  // The raw bytes of one token (what decode() emits for it).
  std::optional<std::string> token_bytes(int32_t id) const;

  // One past the largest id (vocabulary + added tokens): Qwen3 151669, Llama 3 128256.
  int32_t vocab_size() const;
  std::span<const AddedToken> added_tokens() const;

  // From tokenizer_config.json when present, else the family default (Llama 3 tokenizer.model:
  // <|begin_of_text|>, <|end_of_text|>, <|finetune_right_pad_id|>). nullopt when the model has none.
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> pad_id() const;
  const std::string& bos_token() const;  // "" when none
  const std::string& eos_token() const;
  const std::string& pad_token() const;
  // The Jinja chat template from tokenizer_config.json (or chat_template.jinja); "" when none.
  const std::string& chat_template() const;

  // XXH3-128 of everything that decides ids: vocabulary bytes, merge ranks, added tokens and their
  // flags, normalizer, pre-tokenizer pattern, BPE options, post-processor. Equal fingerprints
  // mean equal encode() results; stored in tokenized shards to refuse a mismatched tokenizer.
  Hash128 fingerprint() const;
  // "tokenizer.json" or "tokenizer.model": which file was loaded.
  const std::string& source_format() const;
  // Path of the directory it was loaded from.
  const std::string& source_dir() const;

  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  const Impl& impl() const { return *impl_; }

 private:
  std::shared_ptr<const Impl> impl_;
};

// Loads DIR/tokenizer.json (+ DIR/tokenizer_config.json when present), else DIR/tokenizer.model
// (tiktoken format: "<base64 token> <rank>" per line; Meta's Llama 3.1 special-token table is
// appended after the last rank and the Llama 3 pre-tokenizer pattern is used). Errors name the
// file and the field or line at fault.
Result<Tokenizer> load_tokenizer(const std::string& dir);
// The same from explicit file contents (tests, embedded tokenizers). `config_json` may be empty.
Result<Tokenizer> load_tokenizer_json(std::string_view tokenizer_json, std::string_view config_json,
                                      const std::string& name = "tokenizer.json");
Result<Tokenizer> load_tiktoken_model(std::string_view model_text, std::string_view config_json = {},
                                      const std::string& name = "tokenizer.model");

// Returns `bytes` with every maximal ill-formed UTF-8 subpart replaced by U+FFFD (Unicode's
// recommended practice, as Python, Rust's from_utf8_lossy and WHATWG TextDecoder do).
std::string repair_utf8(std::string_view bytes);

}  // namespace synpref::tokenizer
