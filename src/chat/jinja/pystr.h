// src/chat/jinja/pystr.h: Python str semantics over UTF-8 (code points, str.isspace, strip/split, case
// mapping via ICU, repr) and float repr, as the templates' Python reference computes them.
// Precondition everywhere: inputs are valid UTF-8 (the renderer validates what enters it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace synpref::chat::py {

// Decodes the code point at byte offset i and advances i. Precondition: i < s.size().
char32_t decode(std::string_view s, size_t& i);
void append_utf8(std::string& out, char32_t cp);
size_t count_code_points(std::string_view s);
// Byte offsets of each code point start, plus s.size() at the end.
std::vector<size_t> code_point_offsets(std::string_view s);

// Python's str.isspace() for one code point (also what `\s` matches in Python's re for str).
bool is_space(char32_t cp);

// str.strip()/lstrip()/rstrip() without arguments (Unicode whitespace).
std::string_view strip_ws(std::string_view s, bool left, bool right);
// str.strip(chars) with an explicit set of code points.
std::string_view strip_chars(std::string_view s, std::string_view chars, bool left, bool right);
// str.split() without a separator (runs of whitespace; maxsplit < 0: no limit).
std::vector<std::string> split_ws(std::string_view s, int64_t maxsplit);
std::vector<std::string> rsplit_ws(std::string_view s, int64_t maxsplit);
// str.split(sep)/rsplit(sep) with a non-empty separator.
std::vector<std::string> split_sep(std::string_view s, std::string_view sep, int64_t maxsplit);
std::vector<std::string> rsplit_sep(std::string_view s, std::string_view sep, int64_t maxsplit);
std::vector<std::string> splitlines(std::string_view s, bool keepends);
// str.replace(old, new, count) (count < 0: all), including the empty-`old` case.
std::string replace(std::string_view s, std::string_view old_s, std::string_view new_s, int64_t count);

// Unicode case mapping with Python's full mappings (ICU root locale).
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);       // str.title()
std::string capitalize(std::string_view s);  // str.capitalize()
std::string swapcase(std::string_view s);
bool is_lower(std::string_view s);  // str.islower()
bool is_upper(std::string_view s);  // str.isupper()
bool is_digit(std::string_view s);
bool is_decimal(std::string_view s);
bool is_numeric(std::string_view s);
bool is_alpha(std::string_view s);
bool is_alnum(std::string_view s);
bool is_space_str(std::string_view s);

// repr(str): quotes and escapes as CPython does.
void append_repr(std::string& out, std::string_view s);
// repr(float) (also str(float)): shortest round-trip digits, Python's fixed/exponent switch.
void append_float_repr(std::string& out, double d);
// round(x, ndigits) for floats, correctly rounded with ties to even as CPython does.
double round_half_even(double x, int64_t ndigits);

}  // namespace synpref::chat::py
