// synpref/common/text.h: UTF-8 checks and JSON string output shared by every writer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace synpref::text {

// True when `s` is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool is_valid_utf8(std::string_view s);
// Byte offset of the first invalid UTF-8 sequence, or npos when valid.
size_t first_invalid_utf8(std::string_view s);

// Appends `s` as a JSON string literal (with quotes). Precondition: `s` is valid UTF-8. Only '"',
// '\\' and control characters are escaped, so output is compact and round-trips byte for byte.
void append_json_string(std::string& out, std::string_view s);
// Appends the JSON escape of one ASCII byte: \" \\ \n \r \t \b \f, any other as \u00xx (lowercase
// hex, as Python's json.dumps writes it).
void append_json_escape(std::string& out, unsigned char c);
// Same as append_json_string, but replaces each invalid UTF-8 byte by U+FFFD: for echoing untrusted input
// (rejects).
void append_json_string_lossy(std::string& out, std::string_view s);
// Appends the shortest decimal that reads back to the same double (JSON has no NaN/Inf: callers
// must not pass them).
void append_json_number(std::string& out, double v);
void append_json_number(std::string& out, int64_t v);

// Removes leading and trailing ASCII whitespace (space, \t, \n, \r, \f, \v).
std::string_view trim(std::string_view s);

}  // namespace synpref::text
