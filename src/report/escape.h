// src/report/escape.h: text made safe for the two contexts a page has (internal).
#pragma once

#include <string>
#include <string_view>

namespace synpref::report {

// Appends `text` as HTML text or attribute value: & < > " ' become entities, invalid UTF-8 bytes
// become U+FFFD, and control characters other than \t \n \r are dropped (they are not allowed in
// HTML).
void append_html_escaped(std::string& out, std::string_view text);

// Re-serializes JSON text so it can sit inside a <script> element: compact, invalid UTF-8 in
// strings replaced by U+FFFD, and '<', '>', '&' written as \u003c, \u003e, \u0026 (they can only
// occur inside JSON strings, where the escape means the same character). Returns "" when `json`
// does not parse.
std::string script_safe_json(std::string_view json);

}  // namespace synpref::report
