// src/chat/jinja/lexer.h: Jinja2's lexer with trim_blocks=True, lstrip_blocks=True.
//
// Mirrors jinja2.lexer.Lexer.tokeniter: template data between tags, whitespace control ({%- -%}
// {{- -}} {#- -#}, '+' to disable lstrip/trim), lstrip of block/comment tags that start a line,
// trim of the first newline after a block/comment tag, raw blocks, comments, and the expression
// tokens inside {{ }} and {% %} (with bracket balancing, so `}}` inside a dict literal does not end
// the tag).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::chat::detail {

enum class Tok : uint8_t {
  data,
  variable_begin,
  variable_end,
  block_begin,
  block_end,
  name,
  string,
  integer,
  floating,
  op,
  eof,
};

enum class Op : uint8_t {
  add,
  sub,
  div,
  floordiv,
  mul,
  mod,
  pow,
  tilde,
  lbracket,
  rbracket,
  lparen,
  rparen,
  lbrace,
  rbrace,
  eq,
  ne,
  gt,
  gteq,
  lt,
  lteq,
  assign,
  dot,
  colon,
  pipe,
  comma,
  semicolon,
};

struct Token {
  Tok type = Tok::eof;
  Op op = Op::add;
  uint32_t pos = 0;  // byte offset in the normalized source
  std::string text;  // data, name or decoded string literal
  int64_t int_value = 0;
  double float_value = 0.0;
};

// Jinja2's source normalization: "\r\n" and "\r" become "\n"; one trailing newline is dropped
// (keep_trailing_newline=False).
std::string normalize_source(std::string_view source);

// 1-based line and column (in code points) of byte offset `pos` in `source`.
void line_col(std::string_view source, uint32_t pos, uint32_t& line, uint32_t& col);

// Tokenizes a normalized source. Errors name the line and column.
Result<std::vector<Token>> tokenize(const std::string& source);

const char* op_text(Op op);

}  // namespace synpref::chat::detail
