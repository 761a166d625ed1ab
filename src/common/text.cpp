#include "synpref/common/text.h"

#include <simdjson.h>
#include <charconv>
#include <cstring>

#include "synpref/common/check.h"

namespace synpref::text {

bool is_valid_utf8(std::string_view s) {
  return simdjson::validate_utf8(s.data(), s.size());
}

namespace {
// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid (RFC 3629 table).
size_t utf8_seq_len(const unsigned char* s, size_t n, size_t i) {
  unsigned char c = s[i];
  if (c < 0x80) return 1;
  auto cont = [&](size_t k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && s[i + 1] < 0xA0) return 0;   // overlong
    if (c == 0xED && s[i + 1] >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && s[i + 1] < 0x90) return 0;   // overlong
    if (c == 0xF4 && s[i + 1] >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}
}  // namespace

size_t first_invalid_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string_view::npos;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8_seq_len(p, s.size(), i);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

namespace {
constexpr char kHex[] = "0123456789abcdef";

// 1 where a byte must be escaped in a JSON string.
struct EscapeTable {
  bool needs[256] = {};
  constexpr EscapeTable() {
    for (int c = 0; c < 0x20; ++c) needs[c] = true;
    needs[static_cast<int>('"')] = true;
    needs[static_cast<int>('\\')] = true;
  }
};
constexpr EscapeTable kEscape;

}  // namespace

void append_json_escape(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default: {
      char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      out.append(u, 6);
    }
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), run_start = 0, i = 0;
  // Copy runs of bytes that need no escaping in one append; check 8 bytes at a time.
  while (i < n) {
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      // has a byte < 0x20, or == '"' (0x22), or == '\\' (0x5C)?
      uint64_t lt20 = (w - 0x2020202020202020ULL) & ~w & 0x8080808080808080ULL;
      uint64_t q = w ^ 0x2222222222222222ULL;
      uint64_t is_q = (q - 0x0101010101010101ULL) & ~q & 0x8080808080808080ULL;
      uint64_t b = w ^ 0x5C5C5C5C5C5C5C5CULL;
      uint64_t is_b = (b - 0x0101010101010101ULL) & ~b & 0x8080808080808080ULL;
      if (lt20 | is_q | is_b) break;
      i += 8;
    }
    while (i < n && !kEscape.needs[p[i]]) {
      ++i;
      if ((i & 7) == 0) break;  // re-enter the word loop at alignment-free boundaries
    }
    if (i < n && kEscape.needs[p[i]]) {
      out.append(s.data() + run_start, i - run_start);
      append_json_escape(out, p[i]);
      ++i;
      run_start = i;
    }
  }
  out.append(s.data() + run_start, n - run_start);
  out.push_back('"');
}

void append_json_string_lossy(std::string& out, std::string_view s) {
  if (is_valid_utf8(s)) {
    append_json_string(out, s);
    return;
  }
  std::string clean;
  clean.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8_seq_len(p, s.size(), i);
    if (len == 0) {
      clean += "\xEF\xBF\xBD";
      ++i;
    } else {
      clean.append(s.data() + i, len);
      i += len;
    }
  }
  append_json_string(out, clean);
}

void append_json_number(std::string& out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  SP_CHECK(r.ec == std::errc());
  out.append(buf, r.ptr);
}

void append_json_number(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

std::string_view trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  size_t b = 0, e = s.size();
  while (b < e && ws(s[b])) ++b;
  while (e > b && ws(s[e - 1])) --e;
  return s.substr(b, e - b);
}

}  // namespace synpref::text
