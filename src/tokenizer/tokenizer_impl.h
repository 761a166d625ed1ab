// src/tokenizer/tokenizer_impl.h: the state behind synpref::tokenizer::Tokenizer (shared by the
// loaders in load.cpp and the encoder in tokenizer.cpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bpe.h"
#include "pretokenizer.h"
#include "synpref/tokenizer/tokenizer.h"
#include "unicode.h"

namespace synpref::tokenizer {

// Leftmost-longest matcher over a small set of added-token strings (a byte trie).
class AddedMatcher {
 public:
  void add(std::string_view content, int32_t token_index);
  bool empty() const { return nodes_.size() <= 1; }
  struct Match {
    size_t start = 0, end = 0;
    int32_t token_index = -1;
  };
  // The leftmost match starting at or after `from` (longest among those starting there).
  std::optional<Match> find(std::string_view text, size_t from) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;
    int32_t token_index = -1;
  };
  std::vector<Node> nodes_ = std::vector<Node>(1);
  bool first_byte_[256] = {};
  int n_first_bytes_ = 0;
  uint8_t only_first_byte_ = 0;
};

struct Tokenizer::Impl {
  BpeModel bpe;
  PreTokenizer pre;
  // Normalizer: a sequence of Unicode forms applied in order (empty = none).
  std::vector<unicode::NormalForm> normal_forms;
  std::string normalizer_desc;  // for the fingerprint, e.g. "NFC"

  std::vector<AddedToken> added;  // in tokenizer.json order
  AddedMatcher raw_matcher;       // normalized=false added tokens, matched on the raw text
  AddedMatcher normalized_matcher;

  std::vector<int32_t> post_prefix, post_suffix;  // ids added by the post-processor

  // Per id (size vocab_size): HF token string, raw bytes, flags.
  std::vector<std::string> token_string;
  std::vector<std::string> token_raw;
  std::vector<uint8_t> id_kind;  // 0 = unused id, 1 = vocabulary, 2 = added, 3 = added special
  BytesIndex string_to_id;       // HF token strings (vocabulary and added) -> id

  std::optional<int32_t> bos_id, eos_id, pad_id;
  std::string bos_token, eos_token, pad_token, chat_template;
  std::string source_format, source_dir;
  Hash128 fingerprint;
  uint64_t serial = 0;  // distinguishes models for the per-thread word caches

  void encode_into(std::string_view text, bool add_special_tokens, std::vector<int32_t>& out) const;
  void encode_section(std::string_view section, std::vector<int32_t>& out) const;
  void encode_normalized(std::string_view text, std::vector<int32_t>& out) const;
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const;
  // Runs HF's AddedVocabulary::find_matches: text sections and added-token ids, in order.
  template <typename OnText, typename OnToken>
  void split_added(std::string_view text, const AddedMatcher& matcher, OnText&& on_text,
                   OnToken&& on_token) const;
};

// GPT-2's byte <-> character map used by ByteLevel: printable Latin-1 bytes map to themselves,
// the rest to U+0100 onwards. byte_to_char[b] is a code point; char_to_byte is -1 for others.
struct ByteLevelMap {
  uint32_t byte_to_char[256];
  int16_t char_to_byte[512];
  ByteLevelMap();
  static const ByteLevelMap& get();
};

// Decodes a byte-level token string ("Ġthe") to raw bytes; false when a character is outside the
// map.
bool byte_level_decode(std::string_view token, std::string& out);
std::string byte_level_encode(std::string_view bytes);

// Fills the derived tables (token strings, ids, matchers, fingerprint) once the loader has set
// bpe, pre, normalizer, added tokens and post-processor. Errors name `name`.
Status finish_tokenizer(Tokenizer::Impl& impl, const std::string& name);

}  // namespace synpref::tokenizer
