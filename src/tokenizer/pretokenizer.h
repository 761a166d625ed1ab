// src/tokenizer/pretokenizer.h: the regex split that cuts text into pieces before BPE.
//
// The Qwen2/3 and Llama 3 patterns (the same but for \p{N} vs \p{N}{1,3}) are recognised by their
// exact text and run as a hand-written matcher that follows the regex alternative by alternative
// (leftmost alternative wins, greedy quantifiers, the one lookahead resolved by backtracking).
// Any other pattern is compiled with PCRE2 (UTF + UCP + JIT), which is also the slow reference the
// tests compare the hand-written matcher against. Split behaviour is HF's "Isolated": matches and
// the text between them are all pieces; together they cover the text exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"
#include "unicode.h"

namespace synpref::tokenizer {

// The Qwen2/2.5/3 split pattern and the Llama 3 one, as written in their tokenizer.json.
inline constexpr std::string_view kQwenPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// GPT-2's ByteLevel(use_regex=true) pattern.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace detail {

inline unicode::CharClass class_at(const uint8_t* s, size_t pos, size_t& len) {
  const uint32_t cp = unicode::decode_utf8(s + pos, len);
  return unicode::char_class(cp);
}

// Case folding for the (?i:...) contractions: the ASCII letters and U+017F LATIN SMALL LETTER LONG
// S, which Unicode simple case folding maps to 's' (Oniguruma and Rust regex fold it; JS [sS]
// does not).
inline uint32_t fold_contraction(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp == 0x17F) return 's';
  return cp;
}

inline size_t letters_end(const uint8_t* s, size_t n, size_t pos) {
  while (pos < n) {
    size_t len = 0;
    if (class_at(s, pos, len) != unicode::kLetter) break;
    pos += len;
  }
  return pos;
}

// End of the match of the Qwen (max_digits = 1) / Llama 3 (max_digits = 3) pattern that starts
// at `pos`. Every character is matched by some alternative, so pieces tile the text.
// Preconditions: pos < n; s[0, n) is valid UTF-8.
inline size_t known_piece_end(const uint8_t* s, size_t n, size_t pos, int max_digits) {
  using namespace unicode;
  size_t len0 = 0;
  const uint32_t c0 = decode_utf8(s + pos, len0);
  const CharClass k0 = char_class(c0);
  const size_t p1 = pos + len0;
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (c0 == '\'' && p1 < n) {
    size_t len1 = 0;
    const uint32_t l1 = fold_contraction(decode_utf8(s + p1, len1));
    if (l1 == 's' || l1 == 't' || l1 == 'm' || l1 == 'd') return p1 + len1;
    const size_t p2 = p1 + len1;
    if (p2 < n && (l1 == 'r' || l1 == 'v' || l1 == 'l')) {
      size_t len2 = 0;
      const uint32_t l2 = fold_contraction(decode_utf8(s + p2, len2));
      if ((l1 == 'l' && l2 == 'l') || (l1 != 'l' && l2 == 'e')) return p2 + len2;
    }
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (k0 == kLetter) return letters_end(s, n, p1);
  size_t len1 = 0;
  const CharClass k1 = p1 < n ? class_at(s, p1, len1) : kNewline;  // kNewline: "nothing follows"
  if ((k0 == kOther || k0 == kSpace) && p1 < n && k1 == kLetter) return letters_end(s, n, p1);
  // \p{N} or \p{N}{1,3}
  if (k0 == kNumber) {
    size_t p = p1;
    for (int digits = 1; digits < max_digits && p < n; ++digits) {
      size_t len = 0;
      if (class_at(s, p, len) != kNumber) break;
      p += len;
    }
    return p;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  size_t p = 0;
  bool other_run = false;
  if (k0 == kOther) {
    p = p1;
    other_run = true;
  } else if (c0 == ' ' && p1 < n && k1 == kOther) {
    p = p1 + len1;
    other_run = true;
  }
  if (other_run) {
    while (p < n) {
      size_t len = 0;
      if (class_at(s, p, len) != kOther) break;
      p += len;
    }
    while (p < n && (s[p] == '\r' || s[p] == '\n')) ++p;
    return p;
  }
  // k0 is whitespace. \s*[\r\n]+ ends after the last \r or \n of the whitespace run; otherwise
  // \s+(?!\S) takes the run up to its last character (all of it at the end of the text), and a
  // lone whitespace character before a non-space is \s+.
  size_t last_newline_end = 0, last_start = pos;
  bool has_newline = false;
  p = pos;
  while (p < n) {
    size_t len = 0;
    const CharClass k = class_at(s, p, len);
    if (k == kNewline) {
      has_newline = true;
      last_newline_end = p + len;
    } else if (k != kSpace) {
      break;
    }
    last_start = p;
    p += len;
  }
  if (has_newline) return last_newline_end;
  if (p == n) return p;
  if (last_start > pos) return last_start;
  return p;
}

}  // namespace detail

class PreTokenizer {
 public:
  enum class Kind { qwen, llama3, regex };

  // Recognises the known patterns; compiles anything else with PCRE2 (error names the pattern
  // and PCRE2's message). force_regex=true always uses PCRE2 (tests: the slow reference).
  static Result<PreTokenizer> from_pattern(std::string pattern, bool force_regex = false);

  // Calls on_piece(start, end) for each piece of valid UTF-8 `text`, in order, covering it.
  template <typename OnPiece>
  void split(std::string_view text, OnPiece&& on_piece) const {
    if (kind_ == Kind::regex) {
      split_regex(text, on_piece_thunk<OnPiece>, &on_piece);
      return;
    }
    const int max_digits = kind_ == Kind::qwen ? 1 : 3;
    const auto* s = reinterpret_cast<const uint8_t*>(text.data());
    const size_t n = text.size();
    size_t pos = 0;
    while (pos < n) {
      const size_t end = detail::known_piece_end(s, n, pos, max_digits);
      on_piece(pos, end);
      pos = end;
    }
  }
  std::vector<std::string_view> split_to_vector(std::string_view text) const;

  Kind kind() const { return kind_; }
  const std::string& pattern() const { return pattern_; }

 private:
  struct Regex;
  using Thunk = void (*)(void* ctx, size_t start, size_t end);
  template <typename OnPiece>
  static void on_piece_thunk(void* ctx, size_t start, size_t end) {
    (*static_cast<std::remove_reference_t<OnPiece>*>(ctx))(start, end);
  }
  void split_regex(std::string_view text, Thunk thunk, void* ctx) const;

  Kind kind_ = Kind::regex;
  std::string pattern_;
  std::shared_ptr<const Regex> regex_;
};

}  // namespace synpref::tokenizer
