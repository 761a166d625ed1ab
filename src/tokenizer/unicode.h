// src/tokenizer/unicode.h: the Unicode facts the pre-tokenizer needs, as fast lookups.
//
// Character classes follow Hugging Face tokenizers (Oniguruma) and tiktoken (Rust regex):
// \p{L} = general category L*, \p{N} = N*, \s = the Unicode White_Space property (includes U+0085,
// excludes U+FEFF; JavaScript's \s differs on exactly those two, see docs/tokenizer.md).
// Data comes from ICU (u_charType, u_isUWhiteSpace) once, into a two-level table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace synpref::tokenizer::unicode {

enum CharClass : uint8_t {
  kOther = 0,
  kLetter = 1,   // \p{L}
  kNumber = 2,   // \p{N}
  kSpace = 3,    // \s except \r and \n
  kNewline = 4,  // \r or \n
};

struct ClassTable {
  uint16_t block_of[0x1100];  // code point >> 8 -> block index
  const uint8_t* blocks;      // 256 classes per block
};
const ClassTable& class_table();

inline CharClass char_class(uint32_t cp) {
  static const ClassTable& table = class_table();
  return static_cast<CharClass>(
      table.blocks[(static_cast<size_t>(table.block_of[cp >> 8]) << 8) | (cp & 0xFF)]);
}

// Decodes one code point. Precondition: `p` starts a valid UTF-8 sequence.
inline uint32_t decode_utf8(const uint8_t* p, size_t& len) {
  const uint32_t c = p[0];
  if (c < 0x80) {
    len = 1;
    return c;
  }
  if (c < 0xE0) {
    len = 2;
    return ((c & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (c < 0xF0) {
    len = 3;
    return ((c & 0x0F) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3F);
  }
  len = 4;
  return ((c & 0x07) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3F);
}

void append_utf8(std::string& out, uint32_t cp);

// Appends `bytes` to `out` with each maximal ill-formed subpart replaced by U+FFFD.
void append_repaired_utf8(std::string& out, std::string_view bytes);

// Rust's char::is_alphanumeric (Alphabetic or N*) and char::is_whitespace (White_Space), for the
// added-token single_word / lstrip / rstrip rules.
bool is_alphanumeric(uint32_t cp);
bool is_whitespace(uint32_t cp);
// Last / first code point of valid UTF-8 text (precondition: non-empty).
uint32_t last_code_point(std::string_view text);
uint32_t first_code_point(std::string_view text);

// Unicode normalization forms (HF normalizers NFC, NFD, NFKC, NFKD) through ICU.
enum class NormalForm { nfc, nfd, nfkc, nfkd };
// Appends the normalized form of valid UTF-8 `text` to `out`.
void normalize(NormalForm form, std::string_view text, std::string& out);
// True when `text` is certainly already in `form` (cheap byte scan, then ICU's quick check).
bool is_normalized(NormalForm form, std::string_view text);

}  // namespace synpref::tokenizer::unicode
