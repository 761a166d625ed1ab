#include "unicode.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>

#include <cstring>
#include <map>
#include <vector>

#include "synpref/common/check.h"

namespace synpref::tokenizer::unicode {

namespace {

CharClass classify(UChar32 cp) {
  if (cp == '\r' || cp == '\n') return kNewline;
  if (u_isUWhiteSpace(cp)) return kSpace;
  switch (u_charType(cp)) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return kLetter;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      return kNumber;
    default:
      return kOther;
  }
}

struct TableStorage {
  ClassTable table;
  std::vector<uint8_t> blocks;
  TableStorage() {
    // Deduplicate identical 256-code-point blocks: ~1.1M code points fit in a few hundred KiB.
    std::map<std::vector<uint8_t>, uint16_t> seen;
    std::vector<uint8_t> block(256);
    for (uint32_t hi = 0; hi < 0x1100; ++hi) {
      for (uint32_t lo = 0; lo < 256; ++lo) block[lo] = classify(static_cast<UChar32>((hi << 8) | lo));
      auto [it, inserted] = seen.emplace(block, static_cast<uint16_t>(seen.size()));
      if (inserted) blocks.insert(blocks.end(), block.begin(), block.end());
      table.block_of[hi] = it->second;
    }
    SP_CHECK(seen.size() < 0xFFFF);
    table.blocks = blocks.data();
  }
};

const icu::Normalizer2* normalizer_for(NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case NormalForm::nfc:
      n = icu::Normalizer2::getNFCInstance(status);
      break;
    case NormalForm::nfd:
      n = icu::Normalizer2::getNFDInstance(status);
      break;
    case NormalForm::nfkc:
      n = icu::Normalizer2::getNFKCInstance(status);
      break;
    case NormalForm::nfkd:
      n = icu::Normalizer2::getNFKDInstance(status);
      break;
  }
  SP_CHECK_MSG(U_SUCCESS(status) && n != nullptr, "ICU normalizer data missing");
  return n;
}

}  // namespace

const ClassTable& class_table() {
  static const TableStorage storage;
  return storage.table;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void append_repaired_utf8(std::string& out, std::string_view bytes) {
  const auto* s = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t c = s[i];
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    size_t need = 0;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;  // no overlongs
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;  // no overlongs
      if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    }
    // Length of the maximal subpart: the lead byte plus every continuation byte that could still
    // belong to a valid sequence.
    size_t k = 1;
    while (k <= need && i + k < n) {
      const uint8_t b = s[i + k];
      const uint8_t b_lo = k == 1 ? lo : 0x80, b_hi = k == 1 ? hi : 0xBF;
      if (b < b_lo || b > b_hi) break;
      ++k;
    }
    if (need > 0 && k == need + 1) {
      out.append(bytes.substr(i, k));
    } else {
      out.append("\xEF\xBF\xBD");
    }
    i += k;
  }
}

bool is_alphanumeric(uint32_t cp) {
  return u_hasBinaryProperty(static_cast<UChar32>(cp), UCHAR_ALPHABETIC) || char_class(cp) == kNumber;
}

bool is_whitespace(uint32_t cp) {
  const CharClass c = char_class(cp);
  return c == kSpace || c == kNewline;
}

uint32_t last_code_point(std::string_view text) {
  size_t i = text.size() - 1;
  while (i > 0 && (static_cast<uint8_t>(text[i]) & 0xC0) == 0x80) --i;
  size_t len = 0;
  return decode_utf8(reinterpret_cast<const uint8_t*>(text.data()) + i, len);
}

uint32_t first_code_point(std::string_view text) {
  size_t len = 0;
  return decode_utf8(reinterpret_cast<const uint8_t*>(text.data()), len);
}

bool is_normalized(NormalForm form, std::string_view text) {
  // Code points below U+0300 are stable under NFC and never compose with each other; for every
  // form, pure ASCII is stable.
  const uint8_t limit = form == NormalForm::nfc ? 0xCC : 0x80;
  bool all_below = true;
  for (unsigned char c : text) {
    if (c >= limit) {
      all_below = false;
      break;
    }
  }
  if (all_below) return true;
  UErrorCode status = U_ZERO_ERROR;
  const bool yes = normalizer_for(form)->isNormalizedUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), status);
  return U_SUCCESS(status) && yes;
}

void normalize(NormalForm form, std::string_view text, std::string& out) {
  UErrorCode status = U_ZERO_ERROR;
  icu::StringByteSink<std::string> sink(&out);
  normalizer_for(form)->normalizeUTF8(0, icu::StringPiece(text.data(), static_cast<int32_t>(text.size())),
                                      sink, nullptr, status);
  SP_CHECK_MSG(U_SUCCESS(status), u_errorName(status));
}

}  // namespace synpref::tokenizer::unicode
