#include "chat/jinja/pystr.h"

#include <unicode/ucasemap.h>
#include <unicode/uchar.h>
#include <unicode/utypes.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "synpref/common/check.h"

namespace synpref::chat::py {

char32_t decode(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int n = b0 >= 0xF0 ? 3 : b0 >= 0xE0 ? 2 : 1;
  char32_t cp = b0 & (0x3F >> n);
  ++i;
  for (int k = 0; k < n && i < s.size(); ++k, ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3F);
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

size_t count_code_points(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::vector<size_t> code_point_offsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) offsets.push_back(i);
  offsets.push_back(s.size());
  return offsets;
}

bool is_space(char32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

namespace {

// Code point ending at byte offset `end` (exclusive); sets `start` to its first byte.
char32_t decode_before(std::string_view s, size_t end, size_t& start) {
  start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  size_t i = start;
  return decode(s, i);
}

template <typename Pred>
std::string_view strip_if(std::string_view s, bool left, bool right, Pred in_set) {
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e) {
      size_t i = b;
      if (!in_set(decode(s, i))) break;
      b = i;
    }
  }
  if (right) {
    while (e > b) {
      size_t start;
      if (!in_set(decode_before(s, e, start))) break;
      e = start;
    }
  }
  return s.substr(b, e - b);
}

bool contains_cp(std::string_view set, char32_t cp) {
  for (size_t i = 0; i < set.size();)
    if (decode(set, i) == cp) return true;
  return false;
}

}  // namespace

std::string_view strip_ws(std::string_view s, bool left, bool right) {
  return strip_if(s, left, right, is_space);
}

std::string_view strip_chars(std::string_view s, std::string_view chars, bool left, bool right) {
  return strip_if(s, left, right, [&](char32_t c) { return contains_cp(chars, c); });
}

std::vector<std::string> split_ws(std::string_view s, int64_t maxsplit) {
  std::vector<std::string> out;
  uint64_t budget = maxsplit < 0 ? UINT64_MAX : static_cast<uint64_t>(maxsplit);
  size_t i = 0, n = s.size();
  auto space_at = [&](size_t pos, size_t& next) {
    next = pos;
    return is_space(decode(s, next));
  };
  size_t next;
  while (budget-- > 0) {
    while (i < n && space_at(i, next)) i = next;
    if (i == n) break;
    size_t j = i;
    space_at(i, next);
    i = next;
    while (i < n && !space_at(i, next)) i = next;
    out.emplace_back(s.substr(j, i - j));
  }
  if (i < n) {
    while (i < n && space_at(i, next)) i = next;
    if (i != n) out.emplace_back(s.substr(i));
  }
  return out;
}

std::vector<std::string> rsplit_ws(std::string_view s, int64_t maxsplit) {
  std::vector<std::string> out;
  uint64_t budget = maxsplit < 0 ? UINT64_MAX : static_cast<uint64_t>(maxsplit);
  size_t e = s.size();  // exclusive end of the unscanned prefix
  size_t start;
  while (budget-- > 0) {
    while (e > 0 && is_space(decode_before(s, e, start))) e = start;
    if (e == 0) break;
    size_t j = e;
    decode_before(s, e, start);
    e = start;
    while (e > 0 && !is_space(decode_before(s, e, start))) e = start;
    out.emplace_back(s.substr(e, j - e));
  }
  if (e > 0) {
    while (e > 0 && is_space(decode_before(s, e, start))) e = start;
    if (e > 0) out.emplace_back(s.substr(0, e));
  }
  return {out.rbegin(), out.rend()};
}

std::vector<std::string> split_sep(std::string_view s, std::string_view sep, int64_t maxsplit) {
  std::vector<std::string> out;
  uint64_t budget = maxsplit < 0 ? UINT64_MAX : static_cast<uint64_t>(maxsplit);
  size_t i = 0;
  while (budget-- > 0) {
    size_t pos = s.find(sep, i);
    if (pos == std::string_view::npos) break;
    out.emplace_back(s.substr(i, pos - i));
    i = pos + sep.size();
  }
  out.emplace_back(s.substr(i));
  return out;
}

std::vector<std::string> rsplit_sep(std::string_view s, std::string_view sep, int64_t maxsplit) {
  std::vector<std::string> out;
  uint64_t budget = maxsplit < 0 ? UINT64_MAX : static_cast<uint64_t>(maxsplit);
  size_t e = s.size();
  while (budget-- > 0 && e >= sep.size()) {
    size_t pos = s.rfind(sep, e - sep.size());
    if (pos == std::string_view::npos) break;
    out.emplace_back(s.substr(pos + sep.size(), e - pos - sep.size()));
    e = pos;
  }
  out.emplace_back(s.substr(0, e));
  return {out.rbegin(), out.rend()};
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> out;
  size_t i = 0, line_start = 0;
  while (i < s.size()) {
    size_t cp_start = i;
    char32_t c = decode(s, i);
    bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
               c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    size_t eol = i;
    if (c == '\r' && i < s.size() && s[i] == '\n') eol = ++i;
    out.emplace_back(s.substr(line_start, (keepends ? eol : cp_start) - line_start));
    line_start = i;
  }
  if (line_start < s.size()) out.emplace_back(s.substr(line_start));
  return out;
}

std::string replace(std::string_view s, std::string_view old_s, std::string_view new_s, int64_t count) {
  uint64_t budget = count < 0 ? UINT64_MAX : static_cast<uint64_t>(count);
  std::string out;
  if (old_s.empty()) {
    // Python inserts `new` before every code point and at the end.
    size_t i = 0;
    while (i < s.size()) {
      if (budget > 0) {
        out += new_s;
        --budget;
      }
      size_t start = i;
      decode(s, i);
      out.append(s.substr(start, i - start));
    }
    if (budget > 0) out += new_s;
    return out;
  }
  size_t i = 0;
  while (budget > 0) {
    size_t pos = s.find(old_s, i);
    if (pos == std::string_view::npos) break;
    out.append(s.substr(i, pos - i));
    out += new_s;
    i = pos + old_s.size();
    --budget;
  }
  out.append(s.substr(i));
  return out;
}

namespace {

UCaseMap* case_map(bool whole_string_title) {
  struct Maps {
    UCaseMap* plain = nullptr;
    UCaseMap* title = nullptr;
    ~Maps() {
      if (plain) ucasemap_close(plain);
      if (title) ucasemap_close(title);
    }
  };
  thread_local Maps maps;
  UCaseMap*& slot = whole_string_title ? maps.title : maps.plain;
  if (!slot) {
    UErrorCode err = U_ZERO_ERROR;
    uint32_t options = whole_string_title ? (U_TITLECASE_WHOLE_STRING | U_TITLECASE_NO_LOWERCASE) : 0;
    slot = ucasemap_open("", options, &err);
    SP_CHECK_MSG(U_SUCCESS(err), "ucasemap_open failed");
  }
  return slot;
}

using CaseFn = int32_t (*)(const UCaseMap*, char*, int32_t, const char*, int32_t, UErrorCode*);

std::string icu_map(CaseFn fn, const UCaseMap* map, std::string_view s) {
  std::string out(s.size() + 8, '\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode err = U_ZERO_ERROR;
    int32_t n =
        fn(map, out.data(), static_cast<int32_t>(out.size()), s.data(), static_cast<int32_t>(s.size()), &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      out.assign(static_cast<size_t>(n) + 1, '\0');
      continue;
    }
    SP_CHECK_MSG(U_SUCCESS(err), "ICU case mapping failed");
    out.resize(static_cast<size_t>(n));
    return out;
  }
  SP_CHECK_MSG(false, "ICU case mapping did not converge");
  return {};
}

int32_t to_title_adapter(const UCaseMap* map, char* dst, int32_t cap, const char* src, int32_t len,
                         UErrorCode* err) {
  return ucasemap_utf8ToTitle(const_cast<UCaseMap*>(map), dst, cap, src, len, err);
}

std::string upper_cp(std::string_view one) {
  return icu_map(ucasemap_utf8ToUpper, case_map(false), one);
}
std::string lower_cp(std::string_view one) {
  return icu_map(ucasemap_utf8ToLower, case_map(false), one);
}
std::string title_cp(std::string_view one) {
  return icu_map(to_title_adapter, case_map(true), one);
}

bool is_cased(char32_t c) {
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CASED);
}
bool is_case_ignorable(char32_t c) {
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CASE_IGNORABLE);
}

// Lowercase of the code point at [start, end) of s, with CPython's Final_Sigma rule for U+03A3
// (cased case-ignorable* SIGMA, not followed by case-ignorable* cased), which needs the context.
std::string lower_in_context(std::string_view s, size_t start, size_t end) {
  size_t i = start;
  if (decode(s, i) != 0x3A3) return lower_cp(s.substr(start, end - start));
  bool final_sigma = false;
  size_t j = start;
  while (j > 0) {
    size_t prev;
    char32_t c = decode_before(s, j, prev);
    j = prev;
    if (!is_case_ignorable(c)) {
      final_sigma = is_cased(c);
      break;
    }
  }
  if (final_sigma) {
    size_t k = end;
    while (k < s.size()) {
      char32_t c = decode(s, k);
      if (!is_case_ignorable(c)) {
        final_sigma = !is_cased(c);
        break;
      }
    }
  }
  return final_sigma ? "\u03c2" : "\u03c3";
}

}  // namespace

std::string upper(std::string_view s) {
  bool ascii = true;
  for (unsigned char c : s) ascii &= c < 0x80;
  if (ascii) {
    std::string out(s);
    for (char& c : out)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    return out;
  }
  return icu_map(ucasemap_utf8ToUpper, case_map(false), s);
}

std::string lower(std::string_view s) {
  bool ascii = true;
  for (unsigned char c : s) ascii &= c < 0x80;
  if (ascii) {
    std::string out(s);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
  }
  return icu_map(ucasemap_utf8ToLower, case_map(false), s);
}

std::string title(std::string_view s) {
  std::string out;
  bool previous_is_cased = false;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t c = decode(s, i);
    std::string_view one = s.substr(start, i - start);
    out += previous_is_cased ? lower_in_context(s, start, i) : title_cp(one);
    previous_is_cased = is_cased(c);
  }
  return out;
}

std::string capitalize(std::string_view s) {
  if (s.empty()) return {};
  size_t i = 0;
  decode(s, i);
  std::string out = title_cp(s.substr(0, i));
  bool ascii_rest = true;
  for (size_t k = i; k < s.size(); ++k) ascii_rest &= static_cast<unsigned char>(s[k]) < 0x80;
  if (ascii_rest) return out + lower(s.substr(i));
  while (i < s.size()) {
    size_t start = i;
    decode(s, i);
    out += lower_in_context(s, start, i);
  }
  return out;
}

std::string swapcase(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t c = decode(s, i);
    std::string_view one = s.substr(start, i - start);
    if (u_isUUppercase(static_cast<UChar32>(c)))
      out += lower_in_context(s, start, i);
    else if (u_isULowercase(static_cast<UChar32>(c)))
      out += upper_cp(one);
    else
      out += one;
  }
  return out;
}

bool is_lower(std::string_view s) {
  bool cased = false;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<UChar32>(decode(s, i));
    if (u_isUUppercase(c) || u_istitle(c)) return false;
    if (u_isULowercase(c)) cased = true;
  }
  return cased;
}

bool is_upper(std::string_view s) {
  bool cased = false;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<UChar32>(decode(s, i));
    if (u_isULowercase(c) || u_istitle(c)) return false;
    if (u_isUUppercase(c)) cased = true;
  }
  return cased;
}

namespace {
template <typename Pred>
bool all_of_cps(std::string_view s, Pred p) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size();)
    if (!p(static_cast<UChar32>(decode(s, i)))) return false;
  return true;
}
int numeric_type(UChar32 c) {
  return u_getIntPropertyValue(c, UCHAR_NUMERIC_TYPE);
}
bool alpha_cp(UChar32 c) {
  auto cat = u_charType(c);
  return cat == U_UPPERCASE_LETTER || cat == U_LOWERCASE_LETTER || cat == U_TITLECASE_LETTER ||
         cat == U_MODIFIER_LETTER || cat == U_OTHER_LETTER;
}
}  // namespace

bool is_digit(std::string_view s) {
  return all_of_cps(
      s, [](UChar32 c) { return numeric_type(c) == U_NT_DECIMAL || numeric_type(c) == U_NT_DIGIT; });
}
bool is_decimal(std::string_view s) {
  return all_of_cps(s, [](UChar32 c) { return numeric_type(c) == U_NT_DECIMAL; });
}
bool is_numeric(std::string_view s) {
  return all_of_cps(s, [](UChar32 c) { return numeric_type(c) != U_NT_NONE; });
}
bool is_alpha(std::string_view s) {
  return all_of_cps(s, alpha_cp);
}
bool is_alnum(std::string_view s) {
  return all_of_cps(s, [](UChar32 c) { return alpha_cp(c) || numeric_type(c) != U_NT_NONE; });
}
bool is_space_str(std::string_view s) {
  return all_of_cps(s, [](UChar32 c) { return is_space(static_cast<char32_t>(c)); });
}

namespace {
// Python's str.isprintable() for one code point.
bool printable(char32_t c) {
  if (c == ' ') return true;
  if (c < 0x20 || c == 0x7F) return false;
  if (c < 0x7F) return true;
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_SURROGATE:
    case U_PRIVATE_USE_CHAR:
    case U_UNASSIGNED:
    case U_LINE_SEPARATOR:
    case U_PARAGRAPH_SEPARATOR:
    case U_SPACE_SEPARATOR:
      return false;
    default:
      return true;
  }
}
}  // namespace

void append_repr(std::string& out, std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  out += quote;
  static const char* kHex = "0123456789abcdef";
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t c = decode(s, i);
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (printable(c)) {
      out.append(s.substr(start, i - start));
    } else {
      int digits = c < 0x100 ? 2 : c < 0x10000 ? 4 : 8;
      out += '\\';
      out += digits == 2 ? 'x' : digits == 4 ? 'u' : 'U';
      for (int k = digits - 1; k >= 0; --k) out += kHex[(c >> (4 * k)) & 0xF];
    }
  }
  out += quote;
}

void append_float_repr(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "nan";
    return;
  }
  if (std::isinf(d)) {
    out += d < 0 ? "-inf" : "inf";
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  SP_CHECK(res.ec == std::errc());
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));  // e.g. "-1.2345e+17"
  bool negative = sci[0] == '-';
  if (negative) sci.remove_prefix(1);
  size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos))
    if (c != '.') digits += c;
  int exponent = 0;
  std::from_chars(sci.data() + e_pos + 1 + (sci[e_pos + 1] == '+'), sci.data() + sci.size(), exponent);
  int decpt = exponent + 1;  // digits[0] sits just left of the decimal point at position decpt
  int ndigits = static_cast<int>(digits.size());
  if (negative) out += '-';
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-decpt), '0');
      out += digits;
    } else if (decpt >= ndigits) {
      out += digits;
      out.append(static_cast<size_t>(decpt - ndigits), '0');
      out += ".0";
    } else {
      out.append(digits, 0, static_cast<size_t>(decpt));
      out += '.';
      out.append(digits, static_cast<size_t>(decpt));
    }
    return;
  }
  out += digits[0];
  if (ndigits > 1) {
    out += '.';
    out.append(digits, 1);
  }
  out += 'e';
  out += exponent < 0 ? '-' : '+';
  int abs_exp = exponent < 0 ? -exponent : exponent;
  if (abs_exp < 10) out += '0';
  out += std::to_string(abs_exp);
}

double round_half_even(double x, int64_t ndigits) {
  if (!std::isfinite(x) || x == 0.0) return x;
  if (ndigits > 340) return x;
  if (ndigits < -340) return 0.0 * x;
  if (ndigits >= 0) {
    // printf rounds the exact binary value, ties to even: what CPython's round() computes.
    std::vector<char> buf(static_cast<size_t>(ndigits) + 400);
    std::snprintf(buf.data(), buf.size(), "%.*f", static_cast<int>(ndigits), x);
    double r = std::strtod(buf.data(), nullptr);
    return r == 0.0 ? std::copysign(0.0, x) : r;
  }
  double pow10 = std::pow(10.0, static_cast<double>(-ndigits));
  double r = std::nearbyint(x / pow10) * pow10;
  return r == 0.0 ? std::copysign(0.0, x) : r;
}

}  // namespace synpref::chat::py
