#include "chat/jinja/lexer.h"

#include <unicode/uchar.h>

#include <cerrno>
#include <cstdlib>

#include "chat/jinja/pystr.h"

namespace synpref::chat::detail {

std::string normalize_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    char c = source[i];
    if (c == '\r') {
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      out += '\n';
    } else {
      out += c;
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void line_col(std::string_view source, uint32_t pos, uint32_t& line, uint32_t& col) {
  line = 1;
  size_t line_start = 0;
  size_t end = std::min<size_t>(pos, source.size());
  for (size_t i = 0; i < end; ++i) {
    if (source[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  col = static_cast<uint32_t>(py::count_code_points(source.substr(line_start, end - line_start)) + 1);
}

const char* op_text(Op op) {
  switch (op) {
    case Op::add:
      return "+";
    case Op::sub:
      return "-";
    case Op::div:
      return "/";
    case Op::floordiv:
      return "//";
    case Op::mul:
      return "*";
    case Op::mod:
      return "%";
    case Op::pow:
      return "**";
    case Op::tilde:
      return "~";
    case Op::lbracket:
      return "[";
    case Op::rbracket:
      return "]";
    case Op::lparen:
      return "(";
    case Op::rparen:
      return ")";
    case Op::lbrace:
      return "{";
    case Op::rbrace:
      return "}";
    case Op::eq:
      return "==";
    case Op::ne:
      return "!=";
    case Op::gt:
      return ">";
    case Op::gteq:
      return ">=";
    case Op::lt:
      return "<";
    case Op::lteq:
      return "<=";
    case Op::assign:
      return "=";
    case Op::dot:
      return ".";
    case Op::colon:
      return ":";
    case Op::pipe:
      return "|";
    case Op::comma:
      return ",";
    case Op::semicolon:
      return ";";
  }
  return "?";
}

namespace {

class Lexer {
 public:
  explicit Lexer(const std::string& src) : src_(src), n_(src.size()) {}

  Result<std::vector<Token>> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < n_) {
      size_t open = find_opener(pos);
      if (open == std::string::npos) {
        emit_data(pos, src_.substr(pos));
        break;
      }
      const char kind = src_[open + 1];
      char sign = 0;
      if (open + 2 < n_ && (src_[open + 2] == '-' || src_[open + 2] == '+')) sign = src_[open + 2];
      const size_t after_open = open + 2 + (sign ? 1 : 0);

      size_t raw_begin_end = 0;
      const bool is_raw = kind == '%' && match_raw_begin(after_open, raw_begin_end);

      std::string_view text(src_.data() + pos, open - pos);
      text = apply_lstrip(text, sign, /*is_variable=*/kind == '{', line_starting);
      emit_data(pos, text);

      if (is_raw) {
        SP_RETURN_IF_ERROR(lex_raw(open, raw_begin_end, pos, line_starting));
      } else if (kind == '#') {
        SP_RETURN_IF_ERROR(lex_comment(open, after_open, pos, line_starting));
      } else {
        SP_RETURN_IF_ERROR(lex_tag(open, after_open, kind == '%', pos, line_starting));
      }
    }
    Token eof;
    eof.type = Tok::eof;
    eof.pos = static_cast<uint32_t>(n_);
    tokens_.push_back(std::move(eof));
    return std::move(tokens_);
  }

 private:
  Status error(size_t pos, const std::string& message) const {
    uint32_t line, col;
    line_col(src_, static_cast<uint32_t>(pos), line, col);
    return data_error("template syntax error at line " + std::to_string(line) + ", column " +
                      std::to_string(col) + ": " + message);
  }

  size_t find_opener(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < n_ && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  bool space_at(size_t p, size_t& next) const {
    next = p;
    return p < n_ && py::is_space(py::decode(src_, next));
  }
  size_t skip_ws(size_t p) const {
    size_t next;
    while (space_at(p, next)) p = next;
    return p;
  }
  bool starts(size_t p, std::string_view s) const { return src_.compare(p, s.size(), s) == 0; }

  // `{%(-|+|)\s*raw\s*(?:-%}\s*|%})`: on success sets `end` past the tag.
  bool match_raw_begin(size_t after_open, size_t& end) const {
    size_t p = skip_ws(after_open);
    if (!starts(p, "raw")) return false;
    p = skip_ws(p + 3);
    if (starts(p, "-%}")) {
      end = skip_ws(p + 3);
      return true;
    }
    if (starts(p, "%}")) {
      end = p + 2;
      return true;
    }
    return false;
  }

  // Jinja2's OptionalLStrip: '-' strips all whitespace before the tag; otherwise, with
  // lstrip_blocks, a block/comment tag preceded on its line only by whitespace eats that whitespace.
  std::string_view apply_lstrip(std::string_view text, char sign, bool is_variable,
                                bool line_starting) const {
    if (sign == '-') return py::strip_ws(text, false, true);
    if (sign == '+' || is_variable) return text;
    size_t nl = text.rfind('\n');
    size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
    if (l_pos > 0 || line_starting) {
      std::string_view rest = text.substr(l_pos);
      if (!rest.empty() && py::strip_ws(rest, true, false).empty()) return text.substr(0, l_pos);
    }
    return text;
  }

  void emit_data(size_t pos, std::string_view text) {
    if (text.empty()) return;
    Token t;
    t.type = Tok::data;
    t.pos = static_cast<uint32_t>(pos);
    t.text.assign(text);
    tokens_.push_back(std::move(t));
  }

  void emit(Tok type, size_t pos) {
    Token t;
    t.type = type;
    t.pos = static_cast<uint32_t>(pos);
    tokens_.push_back(std::move(t));
  }

  Status lex_comment(size_t open, size_t content_start, size_t& pos, bool& line_starting) {
    size_t j = src_.find("#}", content_start);
    if (j == std::string::npos) return error(open, "missing end of comment tag");
    char sign = 0;
    if (j > content_start && (src_[j - 1] == '-' || src_[j - 1] == '+')) sign = src_[j - 1];
    size_t end = j + 2;
    if (sign == '-') {
      end = skip_ws(end);
    } else if (sign == 0 && end < n_ && src_[end] == '\n') {
      ++end;  // trim_blocks
    }
    pos = end;
    line_starting = src_[end - 1] == '\n';
    return Status::ok();
  }

  Status lex_raw(size_t open, size_t content_start, size_t& pos, bool& line_starting) {
    bool content_line_starting = src_[content_start - 1] == '\n';
    for (size_t q = src_.find("{%", content_start); q != std::string::npos; q = src_.find("{%", q + 1)) {
      size_t p = q + 2;
      char sign = 0;
      if (p < n_ && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
      p = skip_ws(p);
      if (!starts(p, "endraw")) continue;
      p = skip_ws(p + 6);
      size_t end;
      if (starts(p, "+%}")) {
        end = p + 3;
      } else if (starts(p, "-%}")) {
        end = skip_ws(p + 3);
      } else if (starts(p, "%}")) {
        end = p + 2;
        if (end < n_ && src_[end] == '\n') ++end;
      } else {
        continue;
      }
      std::string_view text(src_.data() + content_start, q - content_start);
      emit_data(content_start, apply_lstrip(text, sign, false, content_line_starting));
      pos = end;
      line_starting = src_[end - 1] == '\n';
      return Status::ok();
    }
    return error(open, "missing end of raw directive");
  }

  Status lex_tag(size_t open, size_t p, bool is_block, size_t& pos, bool& line_starting) {
    emit(is_block ? Tok::block_begin : Tok::variable_begin, open);
    std::vector<char> balance;  // expected closing brackets
    while (true) {
      if (p >= n_)
        return error(open, is_block ? "unexpected end of template: '{%' tag is not closed with '%}'"
                                    : "unexpected end of template: '{{' is not closed with '}}'");
      if (balance.empty()) {
        size_t end = 0;
        if (is_block) {
          if (starts(p, "+%}")) {
            end = p + 3;
          } else if (starts(p, "-%}")) {
            end = skip_ws(p + 3);
          } else if (starts(p, "%}")) {
            end = p + 2;
            if (end < n_ && src_[end] == '\n') ++end;  // trim_blocks
          }
        } else {
          if (starts(p, "-}}")) {
            end = skip_ws(p + 3);
          } else if (starts(p, "}}")) {
            end = p + 2;
          }
        }
        if (end) {
          emit(is_block ? Tok::block_end : Tok::variable_end, p);
          pos = end;
          line_starting = src_[end - 1] == '\n';
          return Status::ok();
        }
      }
      size_t next;
      if (space_at(p, next)) {
        p = skip_ws(p);
        continue;
      }
      const unsigned char c = static_cast<unsigned char>(src_[p]);
      if (c >= '0' && c <= '9') {
        SP_RETURN_IF_ERROR(lex_number(p));
        p = lex_pos_;
        continue;
      }
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        size_t e = p + 1;
        while (e < n_) {
          unsigned char d = static_cast<unsigned char>(src_[e]);
          if ((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || (d >= '0' && d <= '9') || d == '_')
            ++e;
          else
            break;
        }
        if (e < n_ && static_cast<unsigned char>(src_[e]) >= 0x80)
          return error(p, "unsupported: identifiers with non-ASCII characters");
        Token t;
        t.type = Tok::name;
        t.pos = static_cast<uint32_t>(p);
        t.text = src_.substr(p, e - p);
        tokens_.push_back(std::move(t));
        p = e;
        continue;
      }
      if (c == '\'' || c == '"') {
        SP_RETURN_IF_ERROR(lex_string(p));
        p = lex_pos_;
        continue;
      }
      Op op;
      size_t len = match_operator(p, op);
      if (len == 0) {
        if (c >= 0x80) {
          size_t i = p;
          char32_t cp = py::decode(src_, i);
          std::string ch;
          py::append_utf8(ch, cp);
          return error(p, "unexpected char '" + ch + "'");
        }
        return error(p, std::string("unexpected char '") + static_cast<char>(c) + "'");
      }
      if (op == Op::lparen || op == Op::lbracket || op == Op::lbrace) {
        balance.push_back(op == Op::lparen ? ')' : op == Op::lbracket ? ']' : '}');
      } else if (op == Op::rparen || op == Op::rbracket || op == Op::rbrace) {
        char closer = src_[p];
        if (balance.empty()) return error(p, std::string("unexpected '") + closer + "'");
        if (balance.back() != closer)
          return error(p, std::string("unexpected '") + closer + "', expected '" + balance.back() + "'");
        balance.pop_back();
      }
      Token t;
      t.type = Tok::op;
      t.op = op;
      t.pos = static_cast<uint32_t>(p);
      tokens_.push_back(std::move(t));
      p += len;
    }
  }

  size_t match_operator(size_t p, Op& op) const {
    struct Entry {
      const char* text;
      Op op;
    };
    static const Entry kOps[] = {
        {"//", Op::floordiv}, {"**", Op::pow},   {"==", Op::eq},      {"!=", Op::ne},      {">=", Op::gteq},
        {"<=", Op::lteq},     {"+", Op::add},    {"-", Op::sub},      {"/", Op::div},      {"*", Op::mul},
        {"%", Op::mod},       {"~", Op::tilde},  {"[", Op::lbracket}, {"]", Op::rbracket}, {"(", Op::lparen},
        {")", Op::rparen},    {"{", Op::lbrace}, {"}", Op::rbrace},   {">", Op::gt},       {"<", Op::lt},
        {"=", Op::assign},    {".", Op::dot},    {":", Op::colon},    {"|", Op::pipe},     {",", Op::comma},
        {";", Op::semicolon},
    };
    for (const auto& e : kOps) {
      std::string_view t(e.text);
      if (starts(p, t)) {
        op = e.op;
        return t.size();
      }
    }
    return 0;
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  // `(\d+_)*\d+` at p: returns the end, or p when no digits.
  size_t scan_digits(size_t p) const {
    size_t e = p;
    if (e >= n_ || !is_digit(src_[e])) return p;
    while (true) {
      while (e < n_ && is_digit(src_[e])) ++e;
      if (e + 1 < n_ && src_[e] == '_' && is_digit(src_[e + 1])) {
        ++e;
        continue;
      }
      return e;
    }
  }

  Status lex_number(size_t p) {
    // Float first (as Jinja2's rule order): digits ((.digits)? e[+-]?digits | .digits), not after '.'.
    bool after_dot = p > 0 && src_[p - 1] == '.';
    size_t int_end = scan_digits(p);
    size_t float_end = 0;
    if (!after_dot) {
      size_t q = int_end;
      size_t frac_end = q;
      if (q < n_ && src_[q] == '.') {
        size_t f = scan_digits(q + 1);
        if (f > q + 1) frac_end = f;
      }
      auto exponent_end = [&](size_t at) -> size_t {
        if (at < n_ && (src_[at] == 'e' || src_[at] == 'E')) {
          size_t s = at + 1;
          if (s < n_ && (src_[s] == '+' || src_[s] == '-')) ++s;
          size_t d = scan_digits(s);
          if (d > s) return d;
        }
        return 0;
      };
      if (size_t e = exponent_end(frac_end)) {
        float_end = e;
      } else if (size_t e2 = exponent_end(int_end); e2 && frac_end == int_end) {
        float_end = e2;
      } else if (frac_end > int_end) {
        float_end = frac_end;
      }
    }
    if (float_end) {
      std::string digits;
      for (size_t i = p; i < float_end; ++i)
        if (src_[i] != '_') digits += src_[i];
      Token t;
      t.type = Tok::floating;
      t.pos = static_cast<uint32_t>(p);
      t.float_value = std::strtod(digits.c_str(), nullptr);
      tokens_.push_back(std::move(t));
      return advance_to(float_end);
    }
    // Integer: 0b.., 0o.., 0x.., [1-9](_?\d)*, 0(_?0)*.
    int base = 10;
    size_t start = p, e = p;
    if (src_[p] == '0' && p + 1 < n_) {
      char x = static_cast<char>(src_[p + 1] | 0x20);
      if (x == 'b' || x == 'o' || x == 'x') {
        base = x == 'b' ? 2 : x == 'o' ? 8 : 16;
        auto ok = [&](char ch) {
          if (base == 2) return ch == '0' || ch == '1';
          if (base == 8) return ch >= '0' && ch <= '7';
          return is_digit(ch) || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
        };
        size_t q = p + 2;
        size_t last_good = 0;
        while (q < n_) {
          if (src_[q] == '_' && q + 1 < n_ && ok(src_[q + 1])) {
            q += 2;
            last_good = q;
          } else if (ok(src_[q])) {
            ++q;
            last_good = q;
          } else {
            break;
          }
        }
        if (last_good) {
          start = p + 2;
          e = last_good;
        } else {
          base = 10;
        }
      }
    }
    if (base == 10) {
      if (src_[p] == '0') {
        e = p + 1;
        while (e < n_) {
          if (src_[e] == '0') {
            ++e;
          } else if (src_[e] == '_' && e + 1 < n_ && src_[e + 1] == '0') {
            e += 2;
          } else {
            break;
          }
        }
      } else {
        e = p + 1;
        while (e < n_) {
          if (is_digit(src_[e])) {
            ++e;
          } else if (src_[e] == '_' && e + 1 < n_ && is_digit(src_[e + 1])) {
            e += 2;
          } else {
            break;
          }
        }
      }
    }
    std::string digits;
    for (size_t i = start; i < e; ++i)
      if (src_[i] != '_') digits += src_[i];
    errno = 0;
    char* endp = nullptr;
    unsigned long long v = std::strtoull(digits.c_str(), &endp, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX))
      return error(p, "unsupported: integer literal does not fit in 64 bits");
    Token t;
    t.type = Tok::integer;
    t.pos = static_cast<uint32_t>(p);
    t.int_value = static_cast<int64_t>(v);
    tokens_.push_back(std::move(t));
    return advance_to(e);
  }

  Status advance_to(size_t e) {
    lex_pos_ = e;
    return Status::ok();
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(c | 0x20);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }

  // A Jinja2 string literal: the text between the quotes decoded like Python's
  // `.encode("ascii", "backslashreplace").decode("unicode-escape")`.
  Status lex_string(size_t p) {
    const char quote = src_[p];
    size_t e = p + 1;
    while (e < n_ && src_[e] != quote) e += src_[e] == '\\' ? 2 : 1;
    if (e >= n_) return error(p, "unterminated string literal");
    std::string_view raw(src_.data() + p + 1, e - p - 1);
    std::string out;
    for (size_t i = 0; i < raw.size();) {
      if (raw[i] != '\\') {
        out += raw[i++];
        continue;
      }
      size_t esc = i;
      ++i;  // raw[i] exists: the scan above never ends a literal on a backslash
      unsigned char c = static_cast<unsigned char>(raw[i]);
      if (c >= 0x80) {
        // The non-ASCII character was backslash-escaped first, so the backslash escapes a backslash.
        char32_t cp = py::decode(raw, i);
        static const char* kHex = "0123456789abcdef";
        int digits = cp < 0x100 ? 2 : cp < 0x10000 ? 4 : 8;
        out += '\\';
        out += digits == 2 ? 'x' : digits == 4 ? 'u' : 'U';
        for (int k = digits - 1; k >= 0; --k) out += kHex[(cp >> (4 * k)) & 0xF];
        continue;
      }
      ++i;
      switch (c) {
        case '\n':
          break;
        case '\\':
          out += '\\';
          break;
        case '\'':
          out += '\'';
          break;
        case '"':
          out += '"';
          break;
        case 'a':
          out += '\a';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'v':
          out += '\v';
          break;
        case 'x':
        case 'u':
        case 'U': {
          int n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            int h = i < raw.size() ? hex_value(raw[i]) : -1;
            if (h < 0)
              return error(p + 1 + esc, std::string("truncated \\") + static_cast<char>(c) +
                                            std::string(n, 'X') + " escape in string literal");
            cp = cp * 16 + static_cast<uint32_t>(h);
            ++i;
          }
          if (cp > 0x10FFFF) return error(p + 1 + esc, "illegal Unicode character in string literal");
          if (cp >= 0xD800 && cp <= 0xDFFF)
            return error(p + 1 + esc, "unsupported: lone surrogate escape in string literal");
          py::append_utf8(out, cp);
          break;
        }
        case 'N': {
          size_t close = raw.find('}', i);
          if (i >= raw.size() || raw[i] != '{' || close == std::string_view::npos)
            return error(p + 1 + esc, "malformed \\N character escape in string literal");
          std::string name(raw.substr(i + 1, close - i - 1));
          UErrorCode err = U_ZERO_ERROR;
          UChar32 cp = u_charFromName(U_UNICODE_CHAR_NAME, name.c_str(), &err);
          if (U_FAILURE(err)) {
            err = U_ZERO_ERROR;
            cp = u_charFromName(U_CHAR_NAME_ALIAS, name.c_str(), &err);
          }
          if (U_FAILURE(err) || cp < 0)
            return error(p + 1 + esc, "unknown Unicode character name '" + name + "'");
          py::append_utf8(out, static_cast<char32_t>(cp));
          i = close + 1;
          break;
        }
        default:
          if (c >= '0' && c <= '7') {
            uint32_t cp = c - '0';
            for (int k = 0; k < 2 && i < raw.size() && raw[i] >= '0' && raw[i] <= '7'; ++k, ++i)
              cp = cp * 8 + static_cast<uint32_t>(raw[i] - '0');
            py::append_utf8(out, cp);
          } else {
            out += '\\';
            out += static_cast<char>(c);
          }
      }
    }
    Token t;
    t.type = Tok::string;
    t.pos = static_cast<uint32_t>(p);
    t.text = std::move(out);
    tokens_.push_back(std::move(t));
    return advance_to(e + 1);
  }

  const std::string& src_;
  const size_t n_;
  std::vector<Token> tokens_;
  size_t lex_pos_ = 0;
};

}  // namespace

Result<std::vector<Token>> tokenize(const std::string& source) {
  return Lexer(source).run();
}

}  // namespace synpref::chat::detail
