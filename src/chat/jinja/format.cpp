// src/chat/jinja/format.cpp: Python formatting of template values: str(), repr() and json.dumps()
// (Interp::append_*), int()/float() parsing, padding, %-formatting and str.format.
#include <algorithm>
#include <cmath>

#include "chat/jinja/builtins.h"
#include "chat/jinja/interp.h"
#include "chat/jinja/pystr.h"
#include "synpref/common/text.h"

namespace synpref::chat::detail {

namespace {
constexpr int kMaxReprDepth = 200;  // containers nested deeper than this are refused, not recursed
}

Status Interp::append_str(std::string& out, const Value& v, uint32_t pos) const {
  switch (v.kind()) {
    case ValueKind::string:
      out += v.as_string();
      return Status::ok();
    case ValueKind::undefined:
      return Status::ok();
    case ValueKind::callable: {
      const auto& c = *v.callable_data();
      if (c.kind == CallableData::Kind::macro) {
        out += "<Macro ";
        py::append_repr(out, c.name);
        out += ">";
        return Status::ok();
      }
      return unsupported_error(pos, "printing the function object '" + c.name +
                                        "' (Python prints a memory address, which cannot be reproduced)");
    }
    case ValueKind::iterator:
      return unsupported_error(pos,
                               std::string("printing a ") + v.iterator_data()->type_name +
                                   " object (Python prints a memory address); convert it with |list first");
    default:
      return append_repr(out, v, pos);
  }
}

Status Interp::append_repr(std::string& out, const Value& v, uint32_t pos) const {
  struct Rec {
    const Interp& self;
    uint32_t pos;
    Status run(std::string& out, const Value& v, int depth) const {
      if (depth > kMaxReprDepth) return self.limit_error(pos, "value nested too deeply to print");
      SP_RETURN_IF_ERROR(self.check_size(out.size(), pos));
      switch (v.kind()) {
        case ValueKind::undefined:
          out += "Undefined";
          return Status::ok();
        case ValueKind::none:
          out += "None";
          return Status::ok();
        case ValueKind::boolean:
          out += v.as_bool() ? "True" : "False";
          return Status::ok();
        case ValueKind::integer:
          out += std::to_string(v.as_int());
          return Status::ok();
        case ValueKind::floating:
          py::append_float_repr(out, v.as_float());
          return Status::ok();
        case ValueKind::string:
          py::append_repr(out, v.as_string());
          return Status::ok();
        case ValueKind::list: {
          SeqKind kind = v.seq_kind();
          const char* open = "[";
          const char* close = "]";
          if (kind == SeqKind::tuple) {
            open = "(";
            close = ")";
          } else if (kind == SeqKind::dict_items) {
            open = "dict_items([";
            close = "])";
          } else if (kind == SeqKind::dict_keys) {
            open = "dict_keys([";
            close = "])";
          } else if (kind == SeqKind::dict_values) {
            open = "dict_values([";
            close = "])";
          }
          out += open;
          const auto& items = v.items();
          for (size_t i = 0; i < items.size(); ++i) {
            if (i) out += ", ";
            SP_RETURN_IF_ERROR(run(out, items[i], depth + 1));
          }
          if (kind == SeqKind::tuple && items.size() == 1) out += ",";
          out += close;
          return Status::ok();
        }
        case ValueKind::dict: {
          out += "{";
          bool first = true;
          for (const auto& [k, val] : v.entries()) {
            if (!first) out += ", ";
            first = false;
            SP_RETURN_IF_ERROR(run(out, k, depth + 1));
            out += ": ";
            SP_RETURN_IF_ERROR(run(out, val, depth + 1));
          }
          out += "}";
          return Status::ok();
        }
        case ValueKind::namespace_object: {
          out += "<Namespace {";
          bool first = true;
          for (const auto& [k, val] : v.namespace_data()->attrs) {
            if (!first) out += ", ";
            first = false;
            py::append_repr(out, k);
            out += ": ";
            SP_RETURN_IF_ERROR(run(out, val, depth + 1));
          }
          out += "}>";
          return Status::ok();
        }
        case ValueKind::loop: {
          const auto& l = *v.loop_data();
          out += "<LoopContext " + std::to_string(l.index0 + 1) + "/" + std::to_string(l.items->size()) + ">";
          return Status::ok();
        }
        case ValueKind::callable:
        case ValueKind::iterator:
          return self.append_str(out, v, pos);
      }
      return Status::ok();
    }
  };
  return Rec{*this, pos}.run(out, v, 0);
}

Result<Value> Interp::to_str_value(const Value& v, uint32_t pos) const {
  if (v.is_string()) return v;
  std::string s;
  SP_RETURN_IF_ERROR(append_str(s, v, pos));
  return Value::string(std::move(s));
}

namespace {

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  static const char* kHex = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t start = i;
      char32_t cp = py::decode(s, i);
      if (!ensure_ascii) {
        out.append(s.substr(start, i - start));
        continue;
      }
      auto u16 = [&](uint32_t unit) {
        out += "\\u";
        for (int k = 3; k >= 0; --k) out += kHex[(unit >> (4 * k)) & 0xF];
      };
      if (cp >= 0x10000) {
        uint32_t v = cp - 0x10000;
        u16(0xD800 | (v >> 10));
        u16(0xDC00 | (v & 0x3FF));
      } else {
        u16(cp);
      }
      continue;
    }
    ++i;
    // json.dumps escapes '"', '\\' and controls, and with ensure_ascii also DEL.
    if (c == '"' || c == '\\' || c < 0x20 || (ensure_ascii && c == 0x7F)) {
      text::append_json_escape(out, c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void append_json_float(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "NaN";
  } else if (std::isinf(d)) {
    out += d < 0 ? "-Infinity" : "Infinity";
  } else {
    py::append_float_repr(out, d);
  }
}

}  // namespace

Status Interp::append_json(std::string& out, const Value& v, const JsonOptions& opts, uint32_t pos,
                           int depth) const {
  if (depth > kMaxReprDepth) return limit_error(pos, "value nested too deeply for tojson");
  SP_RETURN_IF_ERROR(check_size(out.size(), pos));
  auto newline_indent = [&](int level) {
    out += '\n';
    for (int i = 0; i < level; ++i) out += opts.indent;
  };
  switch (v.kind()) {
    case ValueKind::none:
      out += "null";
      return Status::ok();
    case ValueKind::boolean:
      out += v.as_bool() ? "true" : "false";
      return Status::ok();
    case ValueKind::integer:
      out += std::to_string(v.as_int());
      return Status::ok();
    case ValueKind::floating:
      append_json_float(out, v.as_float());
      return Status::ok();
    case ValueKind::string:
      append_json_string(out, v.as_string(), opts.ensure_ascii);
      return Status::ok();
    case ValueKind::list: {
      SeqKind k = v.seq_kind();
      if (k != SeqKind::list && k != SeqKind::tuple)
        return error(pos, std::string("Object of type ") + type_name(v) + " is not JSON serializable");
      const auto& items = v.items();
      if (items.empty()) {
        out += "[]";
        return Status::ok();
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += opts.item_sep;
        if (opts.pretty) newline_indent(depth + 1);
        SP_RETURN_IF_ERROR(append_json(out, items[i], opts, pos, depth + 1));
      }
      if (opts.pretty) newline_indent(depth);
      out += ']';
      return Status::ok();
    }
    case ValueKind::dict: {
      const auto& entries = v.entries();
      if (entries.empty()) {
        out += "{}";
        return Status::ok();
      }
      // Keys as json.dumps converts them: str as is, float/int/bool/None to their JSON text.
      std::vector<std::pair<std::string, const Value*>> items;
      items.reserve(entries.size());
      std::vector<const Value*> raw_keys;
      for (const auto& [key, val] : entries) {
        std::string k;
        switch (key.kind()) {
          case ValueKind::string:
            k = key.as_string();
            break;
          case ValueKind::floating:
            append_json_float(k, key.as_float());
            break;
          case ValueKind::boolean:
            k = key.as_bool() ? "true" : "false";
            break;
          case ValueKind::integer:
            k = std::to_string(key.as_int());
            break;
          case ValueKind::none:
            k = "null";
            break;
          default:
            return error(pos,
                         std::string("keys must be str, int, float, bool or None, not ") + type_name(key));
        }
        items.emplace_back(std::move(k), &val);
        raw_keys.push_back(&key);
      }
      if (opts.sort_keys) {
        // sorted(dct.items()) compares the original keys.
        std::vector<size_t> order(items.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        Status st;
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
          bool lt = false;
          if (st.is_ok()) {
            Status s = less(*raw_keys[a], *raw_keys[b], pos, lt);
            if (!s.is_ok()) st = s;
          }
          return lt;
        });
        SP_RETURN_IF_ERROR(st);
        std::vector<std::pair<std::string, const Value*>> sorted;
        for (size_t i : order) sorted.push_back(std::move(items[i]));
        items = std::move(sorted);
      }
      out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += opts.item_sep;
        if (opts.pretty) newline_indent(depth + 1);
        append_json_string(out, items[i].first, opts.ensure_ascii);
        out += opts.key_sep;
        SP_RETURN_IF_ERROR(append_json(out, *items[i].second, opts, pos, depth + 1));
      }
      if (opts.pretty) newline_indent(depth);
      out += '}';
      return Status::ok();
    }
    default:
      return error(pos, std::string("Object of type ") + type_name(v) + " is not JSON serializable");
  }
}

// Widths and precisions saturate here while parsed (no overflow); check_size rejects them anyway.
namespace {
constexpr int64_t kMaxFieldSize = int64_t{1} << 50;
int64_t push_digit(int64_t value, char digit) {
  return std::min<int64_t>(std::max<int64_t>(value, 0) * 10 + (digit - '0'), kMaxFieldSize);
}
}  // namespace

// --- number parsing and padding ------------------------------------------------------------------

// Python's int(str, base): whitespace, sign, underscores between digits, optional base prefix.
bool parse_py_int(std::string_view s, int base, int64_t& out) {
  s = py::strip_ws(s, true, true);
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.size() >= 2 && s[0] == '0') {
    char p = static_cast<char>(s[1] | 0x20);
    int prefix_base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefix_base && (base == 0 || base == prefix_base)) {
      base = prefix_base;
      s.remove_prefix(2);
      if (!s.empty() && s[0] == '_') s.remove_prefix(1);
    }
  }
  if (base == 0) {
    base = 10;
    if (s.size() > 1 && s[0] == '0') {
      for (char c : s)
        if (c != '0' && c != '_') return false;  // "010" is invalid with base 0
    }
  }
  if (s.empty() || s.front() == '_' || s.back() == '_') return false;
  unsigned __int128 v = 0;
  char prev = 0;
  for (char c : s) {
    if (c == '_') {
      if (prev == '_') return false;
      prev = c;
      continue;
    }
    int d = (c >= '0' && c <= '9')                     ? c - '0'
            : ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ? (c | 0x20) - 'a' + 10
                                                       : 99;
    if (d >= base) return false;
    v = v * static_cast<unsigned>(base) + static_cast<unsigned>(d);
    if (v > (static_cast<unsigned __int128>(1) << 63)) return false;
    prev = c;
  }
  if (!neg && v > static_cast<unsigned __int128>(INT64_MAX)) return false;
  out = neg ? -static_cast<int64_t>(v - 1) - 1 : static_cast<int64_t>(v);
  if (neg && v == 0) out = 0;
  return true;
}

// Python's float(str).
bool parse_py_float(std::string_view s, double& out) {
  s = py::strip_ws(s, true, true);
  std::string clean;
  char prev = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_') {
      bool ok = i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(prev)) &&
                std::isdigit(static_cast<unsigned char>(s[i + 1]));
      if (!ok) return false;
      prev = c;
      continue;
    }
    clean += c;
    prev = c;
  }
  if (clean.empty()) return false;
  std::string lowered = py::lower(clean);
  std::string_view body = lowered;
  bool neg = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") {
    out = neg ? -INFINITY : INFINITY;
    return true;
  }
  if (body == "nan") {
    out = neg ? -NAN : NAN;
    return true;
  }
  for (char c : body)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-'))
      return false;
  char* end = nullptr;
  out = std::strtod(clean.c_str(), &end);
  return end && *end == '\0';
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string pad_cp(std::string s, int64_t width, char align, const std::string& fill) {
  int64_t len = static_cast<int64_t>(py::count_code_points(s));
  if (width <= len) return s;
  int64_t total = width - len;
  int64_t left = align == '<' ? 0 : align == '>' ? total : total / 2;
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < total - left; ++i) out += fill;
  return out;
}

// str.center(width): CPython puts the odd extra space on the right unless width is odd.
std::string py_center(const std::string& s, int64_t width, const std::string& fill) {
  int64_t len = static_cast<int64_t>(py::count_code_points(s));
  if (width <= len) return s;
  int64_t marg = width - len;
  int64_t left = marg / 2 + (marg & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < marg - left; ++i) out += fill;
  return out;
}

// --- %-formatting -----------------------------------------------------------------------------------

Status percent_format(const Interp& in, const std::string& fmt, const Value& rhs, uint32_t pos,
                      std::string& out) {
  std::vector<Value> args;
  const Value* mapping = nullptr;
  if (rhs.is_list() && rhs.seq_kind() == SeqKind::tuple) {
    args = rhs.items();
  } else {
    if (rhs.is_dict()) mapping = &rhs;
    args = {rhs};
  }
  size_t argi = 0;
  bool used_key = false;
  const size_t n = fmt.size();
  for (size_t i = 0; i < n; ++i) {
    char c = fmt[i];
    if (c != '%') {
      out += c;
      continue;
    }
    if (++i >= n) return in.error(pos, "incomplete format");
    std::optional<Value> keyed;
    if (fmt[i] == '(') {
      if (rhs.is_undefined()) return in.undefined_error(pos, rhs);
      if (!mapping) return in.error(pos, "format requires a mapping");
      int depth = 1;
      size_t start = ++i;
      while (i < n && depth > 0) {
        if (fmt[i] == '(') ++depth;
        if (fmt[i] == ')') --depth;
        ++i;
      }
      if (depth) return in.error(pos, "incomplete format key");
      std::string key = fmt.substr(start, i - start - 1);
      const Value* v = mapping->find(key);
      if (!v) return in.error(pos, "KeyError: '" + key + "'");
      keyed = *v;
      used_key = true;
    }
    std::string flags;
    while (i < n && std::string_view("-+ #0").find(fmt[i]) != std::string_view::npos) flags += fmt[i++];
    auto next_arg = [&](Value& v) -> Status {
      if (argi >= args.size()) return in.error(pos, "not enough arguments for format string");
      v = args[argi++];
      return Status::ok();
    };
    int64_t width = -1, precision = -1;
    if (i < n && fmt[i] == '*') {
      Value w;
      SP_RETURN_IF_ERROR(next_arg(w));
      if (!as_index(w, width)) return in.error(pos, "* wants int");
      if (width < 0) {
        flags += '-';
        width = width == INT64_MIN ? kMaxFieldSize : -width;
      }
      ++i;
    } else {
      while (i < n && std::isdigit(static_cast<unsigned char>(fmt[i]))) width = push_digit(width, fmt[i++]);
    }
    if (i < n && fmt[i] == '.') {
      ++i;
      precision = 0;
      if (i < n && fmt[i] == '*') {
        Value p;
        SP_RETURN_IF_ERROR(next_arg(p));
        if (!as_index(p, precision)) return in.error(pos, "* wants int");
        ++i;
      } else {
        while (i < n && std::isdigit(static_cast<unsigned char>(fmt[i])))
          precision = push_digit(precision, fmt[i++]);
      }
    }
    // Padding and precision are allocated: a field wider than the output limit fails first.
    SP_RETURN_IF_ERROR(
        in.check_size(static_cast<uint64_t>(std::clamp<int64_t>(width, 0, kMaxFieldSize)) +
                          static_cast<uint64_t>(std::clamp<int64_t>(precision, 0, kMaxFieldSize)),
                      pos));
    while (i < n && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= n) return in.error(pos, "incomplete format");
    char conv = fmt[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    Value v;
    if (keyed) {
      v = *keyed;
    } else if (mapping) {
      v = *mapping;
      argi = args.size();
    } else {
      SP_RETURN_IF_ERROR(next_arg(v));
    }
    const bool left = flags.find('-') != std::string::npos;
    const bool zero = flags.find('0') != std::string::npos && !left;
    std::string piece;
    if (v.is_undefined() && conv != 's' && conv != 'r') return in.undefined_error(pos, v);
    switch (conv) {
      case 's':
      case 'r': {
        if (conv == 's')
          SP_RETURN_IF_ERROR(in.append_str(piece, v, pos));
        else
          SP_RETURN_IF_ERROR(in.append_repr(piece, v, pos));
        if (precision >= 0) {
          auto offs = py::code_point_offsets(piece);
          if (static_cast<size_t>(precision) + 1 < offs.size())
            piece.resize(offs[static_cast<size_t>(precision)]);
        }
        piece = pad_cp(std::move(piece), width, left ? '<' : '>');
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        int64_t iv;
        if (!as_index(v, iv)) {
          if (v.is_float() && (conv == 'd' || conv == 'i' || conv == 'u')) {
            double d = v.as_float();
            if (!std::isfinite(d)) return in.error(pos, "cannot convert float infinity or NaN to integer");
            iv = static_cast<int64_t>(std::trunc(d));
          } else {
            return in.error(pos,
                            std::string("%") + conv + " format: " +
                                (conv == 'd' || conv == 'i' || conv == 'u' ? "a real number" : "an integer") +
                                " is required, not " + type_name(v));
          }
        }
        bool neg = iv < 0;
        uint64_t mag = neg ? static_cast<uint64_t>(-(iv + 1)) + 1 : static_cast<uint64_t>(iv);
        std::string digits;
        int base = (conv == 'x' || conv == 'X') ? 16 : conv == 'o' ? 8 : 10;
        const char* hex = conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
        do {
          digits += hex[mag % static_cast<uint64_t>(base)];
          mag /= static_cast<uint64_t>(base);
        } while (mag);
        std::reverse(digits.begin(), digits.end());
        if (precision > 0 && static_cast<int64_t>(digits.size()) < precision)
          digits.insert(0, static_cast<size_t>(precision) - digits.size(), '0');
        std::string prefix = neg                                    ? "-"
                             : flags.find('+') != std::string::npos ? "+"
                             : flags.find(' ') != std::string::npos ? " "
                                                                    : "";
        if (flags.find('#') != std::string::npos && base != 10)
          prefix += base == 16 ? (conv == 'X' ? "0X" : "0x") : "0o";
        if (zero && width > 0 && static_cast<int64_t>(prefix.size() + digits.size()) < width)
          digits.insert(0, static_cast<size_t>(width) - prefix.size() - digits.size(), '0');
        piece = pad_cp(prefix + digits, width, left ? '<' : '>');
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        double d;
        int64_t iv;
        if (v.is_float())
          d = v.as_float();
        else if (as_index(v, iv))
          d = static_cast<double>(iv);
        else
          return in.error(pos, std::string("must be real number, not ") + type_name(v));
        std::string spec = "%" + flags;
        if (width >= 0) spec += std::to_string(width);
        spec += "." + std::to_string(precision < 0 ? 6 : precision);
        spec += conv;
        char buf[512];
        int len = std::snprintf(buf, sizeof(buf), spec.c_str(), d);
        if (len < 0 || len >= static_cast<int>(sizeof(buf)))
          return in.unsupported_error(pos, "a %-format field wider than 500 characters");
        piece.assign(buf, static_cast<size_t>(len));
        break;
      }
      case 'c': {
        int64_t iv;
        if (v.is_string() && py::count_code_points(v.as_string()) == 1) {
          piece = v.as_string();
        } else if (as_index(v, iv) && iv >= 0 && iv <= 0x10FFFF) {
          py::append_utf8(piece, static_cast<char32_t>(iv));
        } else {
          return in.error(pos, "%c requires int or char");
        }
        piece = pad_cp(std::move(piece), width, left ? '<' : '>');
        break;
      }
      default:
        return in.error(pos, std::string("unsupported format character '") + conv + "'");
    }
    out += piece;
  }
  // CPython skips this check when the right operand looks like a mapping (has __getitem__ and is
  // not a tuple or str): dicts and lists.
  const bool mapping_like =
      rhs.is_dict() || rhs.is_undefined() || (rhs.is_list() && rhs.seq_kind() == SeqKind::list);
  if (!mapping_like && !used_key && argi < args.size())
    return in.error(pos, "not all arguments converted during string formatting");
  return Status::ok();
}

// --- str.format -------------------------------------------------------------------------------------

namespace {

Status format_field(const Interp& in, const Value& v, std::string_view spec, uint32_t pos, std::string& out) {
  if (spec.empty()) return in.append_str(out, v, pos);
  // [[fill]align][sign][#][0][width][,][.precision][type]
  std::string fill = " ";
  char align = 0, sign = '-', type = 0;
  bool zero = false, alt = false, comma = false;
  int64_t width = -1, precision = -1;
  size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  {
    size_t first_len = 1;
    while (first_len < spec.size() && (static_cast<unsigned char>(spec[first_len]) & 0xC0) == 0x80)
      ++first_len;
    if (spec.size() > first_len && is_align(spec[first_len])) {
      fill = std::string(spec.substr(0, first_len));
      align = spec[first_len];
      i = first_len + 1;
    } else if (is_align(spec[0])) {
      align = spec[0];
      i = 1;
    }
  }
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) sign = spec[i++];
  if (i < spec.size() && spec[i] == '#') {
    alt = true;
    ++i;
  }
  if (i < spec.size() && spec[i] == '0') {
    zero = true;
    ++i;
  }
  while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])))
    width = push_digit(width, spec[i++]);
  if (i < spec.size() && spec[i] == ',') {
    comma = true;
    ++i;
  }
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    precision = 0;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])))
      precision = push_digit(precision, spec[i++]);
  }
  if (i < spec.size()) type = spec[i++];
  SP_RETURN_IF_ERROR(in.check_size(static_cast<uint64_t>(std::max<int64_t>(width, 0)) +
                                       static_cast<uint64_t>(std::max<int64_t>(precision, 0)),
                                   pos));
  if (i != spec.size() || comma || alt)
    return in.unsupported_error(pos, "format spec '" + std::string(spec) + "'");
  if (zero && !align) {
    fill = "0";
    align = '=';
  }
  std::string body;
  std::string sign_str;
  const bool numeric_value = v.is_int() || v.is_bool() || v.is_float();
  if (v.is_string() || (!numeric_value && (type == 0 || type == 's'))) {
    if (type != 0 && type != 's')
      return in.error(
          pos, std::string("Unknown format code '") + type + "' for object of type '" + type_name(v) + "'");
    if (!v.is_string() && !v.is_none())
      return in.unsupported_error(pos, "format spec for a non-string value");
    SP_RETURN_IF_ERROR(in.append_str(body, v, pos));
    if (precision >= 0) {
      auto offs = py::code_point_offsets(body);
      if (static_cast<size_t>(precision) + 1 < offs.size()) body.resize(offs[static_cast<size_t>(precision)]);
    }
    out += align == '^' ? py_center(body, width, fill) : pad_cp(body, width, align ? align : '<', fill);
    return Status::ok();
  }
  if (!numeric_value) return in.unsupported_error(pos, "format spec for this value");
  int64_t iv = 0;
  double d = 0;
  bool is_int = as_index(v, iv);
  if (!is_int) d = v.as_float();
  if (is_int && (type == 0 || type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b')) {
    if (precision >= 0) return in.error(pos, "Precision not allowed in integer format specifier");
    bool neg = iv < 0;
    uint64_t mag = neg ? static_cast<uint64_t>(-(iv + 1)) + 1 : static_cast<uint64_t>(iv);
    int base = type == 'x' || type == 'X' ? 16 : type == 'o' ? 8 : type == 'b' ? 2 : 10;
    const char* digits = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
      body += digits[mag % static_cast<uint64_t>(base)];
      mag /= static_cast<uint64_t>(base);
    } while (mag);
    std::reverse(body.begin(), body.end());
    sign_str = neg ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
  } else {
    if (!is_int && (type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b'))
      return in.error(pos, std::string("Unknown format code '") + type + "' for object of type 'float'");
    if (is_int) d = static_cast<double>(iv);
    if (type == 0 && precision < 0) {
      py::append_float_repr(body, std::fabs(d));
    } else {
      char t = type == 0 ? 'g' : type == '%' ? 'f' : type;
      if (t != 'f' && t != 'F' && t != 'e' && t != 'E' && t != 'g' && t != 'G')
        return in.unsupported_error(pos, std::string("format code '") + type + "'");
      double x = std::fabs(type == '%' ? d * 100 : d);
      std::string cspec = "%." + std::to_string(precision < 0 ? 6 : precision) + t;
      char buf[512];
      int len = std::snprintf(buf, sizeof(buf), cspec.c_str(), x);
      if (len < 0 || len >= static_cast<int>(sizeof(buf)))
        return in.unsupported_error(pos, "a very wide format field");
      body.assign(buf, static_cast<size_t>(len));
      if (type == '%') body += '%';
    }
    sign_str = std::signbit(d) ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
  }
  if (align == '=') {
    int64_t len = static_cast<int64_t>(sign_str.size() + body.size());
    std::string padding;
    for (int64_t k = len; k < width; ++k) padding += fill;
    out += sign_str + padding + body;
  } else if (align == '^') {
    out += py_center(sign_str + body, width, fill);
  } else {
    out += pad_cp(sign_str + body, width, align ? align : '>', fill);
  }
  return Status::ok();
}

}  // namespace

Status str_format(const Interp& in, const std::string& fmt, CallArgs& a, uint32_t pos, std::string& out) {
  size_t auto_index = 0;
  bool used_auto = false, used_manual = false;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      return in.error(pos, "Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    size_t close = fmt.find('}', i + 1);
    if (close == std::string::npos) return in.error(pos, "expected '}' before end of string");
    std::string_view field(fmt.data() + i + 1, close - i - 1);
    if (field.find('{') != std::string_view::npos)
      return in.unsupported_error(pos, "nested replacement fields in str.format");
    std::string_view spec, conv;
    size_t colon = field.find(':');
    if (colon != std::string_view::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    size_t bang = field.find('!');
    if (bang != std::string_view::npos) {
      conv = field.substr(bang + 1);
      field = field.substr(0, bang);
    }
    if (field.find('.') != std::string_view::npos || field.find('[') != std::string_view::npos)
      return in.unsupported_error(pos, "attribute or index lookups in str.format fields");
    Value v;
    if (field.empty() || std::all_of(field.begin(), field.end(),
                                     [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); })) {
      size_t idx;
      if (field.empty()) {
        if (used_manual)
          return in.error(pos, "cannot switch from manual field specification to automatic field numbering");
        used_auto = true;
        idx = auto_index++;
      } else {
        if (used_auto)
          return in.error(pos, "cannot switch from automatic field numbering to manual field specification");
        used_manual = true;
        idx = static_cast<size_t>(std::stoull(std::string(field)));
      }
      if (idx >= a.args.size())
        return in.error(
            pos, "Replacement index " + std::to_string(idx) + " out of range for positional args tuple");
      v = a.args[idx];
    } else {
      bool found = false;
      for (auto& [k, val] : a.kwargs)
        if (k == field) {
          v = val;
          found = true;
        }
      if (!found) return in.error(pos, "KeyError: '" + std::string(field) + "'");
    }
    if (!conv.empty()) {
      std::string converted;
      if (conv == "r")
        SP_RETURN_IF_ERROR(in.append_repr(converted, v, pos));
      else if (conv == "s")
        SP_RETURN_IF_ERROR(in.append_str(converted, v, pos));
      else
        return in.unsupported_error(pos, "str.format conversion '!" + std::string(conv) + "'");
      v = Value::string(std::move(converted));
    }
    SP_RETURN_IF_ERROR(format_field(in, v, spec, pos, out));
    i = close;
  }
  return Status::ok();
}

}  // namespace synpref::chat::detail
