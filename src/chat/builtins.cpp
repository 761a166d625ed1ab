// Filters, tests, methods and global functions, each following the Python implementation that
// transformers' environment uses (jinja2.filters, jinja2.tests, CPython str/dict/list methods).
#include "chat/builtins.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "chat/interp.h"
#include "chat/parser.h"
#include "chat/pystr.h"

namespace synpref::chat::detail {

namespace {

struct NameId {
  const char* name;
  int16_t id;
};

#define F(n, id) \
  { n, static_cast<int16_t>(FilterId::id) }
constexpr NameId kFilters[] = {
    F("abs", abs),
    F("attr", attr),
    F("batch", batch),
    F("capitalize", capitalize),
    F("center", center),
    F("count", length),
    F("d", default_),
    F("default", default_),
    F("dictsort", dictsort),
    F("e", escape),
    F("escape", escape),
    F("first", first),
    F("float", float_),
    F("forceescape", forceescape),
    F("format", format),
    F("indent", indent),
    F("int", int_),
    F("items", items),
    F("join", join),
    F("last", last),
    F("length", length),
    F("list", list),
    F("lower", lower),
    F("map", map),
    F("max", max),
    F("min", min),
    F("reject", reject),
    F("rejectattr", rejectattr),
    F("replace", replace),
    F("reverse", reverse),
    F("round", round),
    F("safe", safe),
    F("select", select),
    F("selectattr", selectattr),
    F("sort", sort),
    F("string", string),
    F("sum", sum),
    F("title", title),
    F("tojson", tojson),
    F("trim", trim),
    F("unique", unique),
    F("upper", upper),
    F("wordcount", wordcount),
};
#undef F

#define T(n, id) \
  { n, static_cast<int16_t>(TestId::id) }
constexpr NameId kTests[] = {
    T("odd", odd),
    T("even", even),
    T("divisibleby", divisibleby),
    T("defined", defined),
    T("undefined", undefined),
    T("none", none),
    T("boolean", boolean),
    T("false", false_),
    T("true", true_),
    T("integer", integer),
    T("float", float_),
    T("lower", lower),
    T("upper", upper),
    T("string", string),
    T("mapping", mapping),
    T("number", number),
    T("sequence", sequence),
    T("iterable", iterable),
    T("callable", callable),
    T("sameas", sameas),
    T("escaped", escaped),
    T("in", in),
    T("==", eq),
    T("eq", eq),
    T("equalto", eq),
    T("!=", ne),
    T("ne", ne),
    T(">", gt),
    T("gt", gt),
    T("greaterthan", gt),
    T(">=", ge),
    T("ge", ge),
    T("<", lt),
    T("lt", lt),
    T("lessthan", lt),
    T("<=", le),
    T("le", le),
    T("filter", filter),
    T("test", test),
};
#undef T

int16_t lookup_id(const NameId* table, size_t n, std::string_view name) {
  for (size_t i = 0; i < n; ++i)
    if (name == table[i].name) return table[i].id;
  return -1;
}

}  // namespace

int16_t filter_id(std::string_view name) {
  return lookup_id(kFilters, std::size(kFilters), name);
}
int16_t test_id(std::string_view name) {
  return lookup_id(kTests, std::size(kTests), name);
}

namespace {

bool as_index(const Value& v, int64_t& out) {
  if (v.is_int()) {
    out = v.as_int();
    return true;
  }
  if (v.is_bool()) {
    out = v.as_bool();
    return true;
  }
  return false;
}

// Python-style argument binding: positional then keyword, by parameter name.
struct Bound {
  std::vector<std::optional<Value>> values;
  const Value* get(size_t i) const { return values[i] ? &*values[i] : nullptr; }
};

Status bind(const Interp& in, const std::string& fn, CallArgs& a, std::initializer_list<const char*> names,
            uint32_t pos, Bound& out) {
  const size_t n = names.size();
  out.values.assign(n, std::nullopt);
  if (a.args.size() > n)
    return in.error(pos, fn + "() takes at most " + std::to_string(n) + " argument(s) (" +
                             std::to_string(a.args.size()) + " given)");
  for (size_t i = 0; i < a.args.size(); ++i) out.values[i] = a.args[i];
  for (auto& [k, v] : a.kwargs) {
    size_t idx = 0;
    for (const char* name : names) {
      if (k == name) break;
      ++idx;
    }
    if (idx == n) return in.error(pos, fn + "() got an unexpected keyword argument '" + k + "'");
    if (out.values[idx]) return in.error(pos, fn + "() got multiple values for argument '" + k + "'");
    out.values[idx] = v;
  }
  return Status::ok();
}

Status require_str(const Interp& in, const Value* v, const char* what, uint32_t pos) {
  if (!v || !v->is_string())
    return in.error(pos, std::string(what) + " must be str, not " + (v ? type_name(*v) : "nothing"));
  return Status::ok();
}

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

std::string pad_cp(std::string s, int64_t width, char align, const std::string& fill = " ") {
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

}  // namespace

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
        width = -width;
      }
      ++i;
    } else {
      while (i < n && std::isdigit(static_cast<unsigned char>(fmt[i])))
        width = std::max<int64_t>(width, 0) * 10 + (fmt[i++] - '0');
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
          precision = precision * 10 + (fmt[i++] - '0');
      }
    }
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
    width = std::max<int64_t>(width, 0) * 10 + (spec[i++] - '0');
  if (i < spec.size() && spec[i] == ',') {
    comma = true;
    ++i;
  }
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    precision = 0;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])))
      precision = precision * 10 + (spec[i++] - '0');
  }
  if (i < spec.size()) type = spec[i++];
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

}  // namespace

// --- methods ----------------------------------------------------------------------------------------

bool Interp::find_method(const Value& obj, std::string_view name, Method& m) const {
  struct Entry {
    const char* name;
    Method m;
  };
  static const Entry kStr[] = {
      {"strip", Method::str_strip},
      {"lstrip", Method::str_lstrip},
      {"rstrip", Method::str_rstrip},
      {"split", Method::str_split},
      {"rsplit", Method::str_rsplit},
      {"splitlines", Method::str_splitlines},
      {"startswith", Method::str_startswith},
      {"endswith", Method::str_endswith},
      {"upper", Method::str_upper},
      {"lower", Method::str_lower},
      {"title", Method::str_title},
      {"capitalize", Method::str_capitalize},
      {"swapcase", Method::str_swapcase},
      {"replace", Method::str_replace},
      {"find", Method::str_find},
      {"rfind", Method::str_rfind},
      {"index", Method::str_index},
      {"rindex", Method::str_rindex},
      {"count", Method::str_count},
      {"join", Method::str_join},
      {"format", Method::str_format},
      {"isdigit", Method::str_isdigit},
      {"isdecimal", Method::str_isdecimal},
      {"isnumeric", Method::str_isnumeric},
      {"isalpha", Method::str_isalpha},
      {"isalnum", Method::str_isalnum},
      {"isspace", Method::str_isspace},
      {"isupper", Method::str_isupper},
      {"islower", Method::str_islower},
      {"removeprefix", Method::str_removeprefix},
      {"removesuffix", Method::str_removesuffix},
      {"partition", Method::str_partition},
      {"rpartition", Method::str_rpartition},
      {"ljust", Method::str_ljust},
      {"rjust", Method::str_rjust},
      {"center", Method::str_center},
      {"zfill", Method::str_zfill},
  };
  static const Entry kDict[] = {
      {"get", Method::dict_get},       {"items", Method::dict_items}, {"keys", Method::dict_keys},
      {"values", Method::dict_values}, {"copy", Method::dict_copy},   {"clear", Method::unsafe},
      {"pop", Method::unsafe},         {"popitem", Method::unsafe},   {"setdefault", Method::unsafe},
      {"update", Method::unsafe},
  };
  static const Entry kList[] = {
      {"index", Method::list_index}, {"count", Method::list_count}, {"copy", Method::list_copy},
      {"append", Method::unsafe},    {"extend", Method::unsafe},    {"insert", Method::unsafe},
      {"remove", Method::unsafe},    {"reverse", Method::unsafe},   {"sort", Method::unsafe},
      {"pop", Method::unsafe},       {"clear", Method::unsafe},
  };
  static const Entry kTuple[] = {{"index", Method::list_index}, {"count", Method::list_count}};
  static const Entry kLoop[] = {{"cycle", Method::loop_cycle}, {"changed", Method::loop_changed}};
  auto search = [&](const Entry* table, size_t n) {
    for (size_t i = 0; i < n; ++i)
      if (name == table[i].name) {
        m = table[i].m;
        return true;
      }
    return false;
  };
  switch (obj.kind()) {
    case ValueKind::string:
      return search(kStr, std::size(kStr));
    case ValueKind::dict:
      return search(kDict, std::size(kDict));
    case ValueKind::list:
      if (obj.seq_kind() == SeqKind::list) return search(kList, std::size(kList));
      if (obj.seq_kind() == SeqKind::tuple) return search(kTuple, std::size(kTuple));
      return false;
    case ValueKind::loop:
      return search(kLoop, std::size(kLoop));
    default:
      return false;
  }
}

namespace {

// Code point index range [start, end) of str methods' optional start/end arguments, as byte offsets.
Status slice_bounds(const Interp& in, const std::string& s, const Value* start_v, const Value* end_v,
                    uint32_t pos, size_t& b, size_t& e) {
  auto offs = py::code_point_offsets(s);
  const int64_t n = static_cast<int64_t>(offs.size()) - 1;
  int64_t start = 0, end = n;
  if (start_v && !start_v->is_none() && !as_index(*start_v, start))
    return in.error(pos, "slice indices must be integers or None");
  if (end_v && !end_v->is_none() && !as_index(*end_v, end))
    return in.error(pos, "slice indices must be integers or None");
  if (start < 0) start = std::max<int64_t>(0, start + n);
  if (end < 0) end = std::max<int64_t>(0, end + n);
  start = std::min(start, n);
  end = std::min(end, n);
  b = offs[static_cast<size_t>(start)];
  e = std::max(b, offs[static_cast<size_t>(end)]);
  return Status::ok();
}

Value str_list(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& p : parts) items.push_back(Value::string(std::move(p)));
  return Value::list(std::move(items));
}

}  // namespace

Status Interp::call_method(const Value& self, Method m, const std::string& name, CallArgs& a, uint32_t pos,
                           Value& out) {
  Bound b;
  const std::string fn = name;
  if (m == Method::unsafe)
    return error(pos, "access to attribute '" + name + "' of '" + type_name(self) +
                          "' object is unsafe (the sandbox forbids changing values)");
  if (self.is_string()) {
    const std::string& s = self.as_string();
    switch (m) {
      case Method::str_strip:
      case Method::str_lstrip:
      case Method::str_rstrip: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {"chars"}, pos, b));
        const Value* chars = b.get(0);
        bool left = m != Method::str_rstrip, right = m != Method::str_lstrip;
        if (!chars || chars->is_none()) {
          out = Value::string(std::string(py::strip_ws(s, left, right)));
        } else if (chars->is_string()) {
          out = Value::string(std::string(py::strip_chars(s, chars->as_string(), left, right)));
        } else {
          return error(pos, fn + " arg must be None or str");
        }
        return Status::ok();
      }
      case Method::str_split:
      case Method::str_rsplit: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {"sep", "maxsplit"}, pos, b));
        int64_t maxsplit = -1;
        if (b.get(1) && !as_index(*b.get(1), maxsplit)) return error(pos, "maxsplit must be an integer");
        const Value* sep = b.get(0);
        if (!sep || sep->is_none()) {
          out = str_list(m == Method::str_split ? py::split_ws(s, maxsplit) : py::rsplit_ws(s, maxsplit));
          return Status::ok();
        }
        SP_RETURN_IF_ERROR(require_str(*this, sep, "separator", pos));
        if (sep->as_string().empty()) return error(pos, "empty separator");
        out = str_list(m == Method::str_split ? py::split_sep(s, sep->as_string(), maxsplit)
                                              : py::rsplit_sep(s, sep->as_string(), maxsplit));
        return Status::ok();
      }
      case Method::str_splitlines: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {"keepends"}, pos, b));
        out = str_list(py::splitlines(s, b.get(0) && truthy(*b.get(0))));
        return Status::ok();
      }
      case Method::str_startswith:
      case Method::str_endswith: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {"prefix", "start", "end"}, pos, b));
        size_t lo, hi;
        SP_RETURN_IF_ERROR(slice_bounds(*this, s, b.get(1), b.get(2), pos, lo, hi));
        std::string_view view(s.data() + lo, hi - lo);
        auto test = [&](const std::string& p) {
          if (p.size() > view.size()) return false;
          return m == Method::str_startswith ? view.compare(0, p.size(), p) == 0
                                             : view.compare(view.size() - p.size(), p.size(), p) == 0;
        };
        const Value* p = b.get(0);
        if (!p) return error(pos, fn + "() takes at least 1 argument (0 given)");
        bool r = false;
        if (p->is_string()) {
          r = test(p->as_string());
        } else if (p->is_list() && p->seq_kind() == SeqKind::tuple) {
          for (const auto& item : p->items()) {
            if (!item.is_string())
              return error(pos,
                           std::string("tuple for ") + fn + " must only contain str, not " + type_name(item));
            r = r || test(item.as_string());
          }
        } else {
          return error(pos, fn + " first arg must be str or a tuple of str, not " + type_name(*p));
        }
        out = Value::boolean(r);
        return Status::ok();
      }
      case Method::str_upper:
      case Method::str_lower:
      case Method::str_title:
      case Method::str_capitalize:
      case Method::str_swapcase: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {}, pos, b));
        out = Value::string(m == Method::str_upper        ? py::upper(s)
                            : m == Method::str_lower      ? py::lower(s)
                            : m == Method::str_title      ? py::title(s)
                            : m == Method::str_capitalize ? py::capitalize(s)
                                                          : py::swapcase(s));
        return Status::ok();
      }
      case Method::str_replace: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {"old", "new", "count"}, pos, b));
        SP_RETURN_IF_ERROR(require_str(*this, b.get(0), "replace() argument 1", pos));
        SP_RETURN_IF_ERROR(require_str(*this, b.get(1), "replace() argument 2", pos));
        int64_t count = -1;
        if (b.get(2) && !as_index(*b.get(2), count)) return error(pos, "replace() count must be an integer");
        Status st;
        out = make_string(py::replace(s, b.get(0)->as_string(), b.get(1)->as_string(), count), pos, st);
        return st;
      }
      case Method::str_find:
      case Method::str_rfind:
      case Method::str_index:
      case Method::str_rindex:
      case Method::str_count: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {"sub", "start", "end"}, pos, b));
        SP_RETURN_IF_ERROR(require_str(*this, b.get(0), "substring", pos));
        size_t lo, hi;
        SP_RETURN_IF_ERROR(slice_bounds(*this, s, b.get(1), b.get(2), pos, lo, hi));
        std::string_view view(s.data() + lo, hi - lo);
        const std::string& sub = b.get(0)->as_string();
        if (m == Method::str_count) {
          int64_t count = 0;
          if (sub.empty()) {
            count = static_cast<int64_t>(py::count_code_points(view)) + 1;
          } else {
            for (size_t p = view.find(sub); p != std::string_view::npos; p = view.find(sub, p + sub.size()))
              ++count;
          }
          out = Value::integer(count);
          return Status::ok();
        }
        bool reverse = m == Method::str_rfind || m == Method::str_rindex;
        size_t p = reverse ? view.rfind(sub) : view.find(sub);
        if (p == std::string_view::npos) {
          if (m == Method::str_index || m == Method::str_rindex) return error(pos, "substring not found");
          out = Value::integer(-1);
          return Status::ok();
        }
        out = Value::integer(static_cast<int64_t>(py::count_code_points(std::string_view(s.data(), lo + p))));
        return Status::ok();
      }
      case Method::str_join: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {"iterable"}, pos, b));
        if (!b.get(0)) return error(pos, "join() takes exactly one argument (0 given)");
        std::shared_ptr<const std::vector<Value>> items;
        SP_RETURN_IF_ERROR(iterate(*b.get(0), pos, items));
        std::string r;
        for (size_t i = 0; i < items->size(); ++i) {
          const Value& item = (*items)[i];
          if (!item.is_string())
            return error(pos, "sequence item " + std::to_string(i) + ": expected str instance, " +
                                  type_name(item) + " found");
          if (i) r += s;
          r += item.as_string();
          SP_RETURN_IF_ERROR(check_size(r.size(), pos));
        }
        out = Value::string(std::move(r));
        return Status::ok();
      }
      case Method::str_format: {
        std::string r;
        SP_RETURN_IF_ERROR(str_format(*this, s, a, pos, r));
        Status st;
        out = make_string(std::move(r), pos, st);
        return st;
      }
      case Method::str_isdigit:
      case Method::str_isdecimal:
      case Method::str_isnumeric:
      case Method::str_isalpha:
      case Method::str_isalnum:
      case Method::str_isspace:
      case Method::str_isupper:
      case Method::str_islower: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {}, pos, b));
        bool r = m == Method::str_isdigit     ? py::is_digit(s)
                 : m == Method::str_isdecimal ? py::is_decimal(s)
                 : m == Method::str_isnumeric ? py::is_numeric(s)
                 : m == Method::str_isalpha   ? py::is_alpha(s)
                 : m == Method::str_isalnum   ? py::is_alnum(s)
                 : m == Method::str_isspace   ? py::is_space_str(s)
                 : m == Method::str_isupper   ? py::is_upper(s)
                                              : py::is_lower(s);
        out = Value::boolean(r);
        return Status::ok();
      }
      case Method::str_removeprefix:
      case Method::str_removesuffix: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {"affix"}, pos, b));
        SP_RETURN_IF_ERROR(require_str(*this, b.get(0), fn.c_str(), pos));
        const std::string& x = b.get(0)->as_string();
        std::string_view view(s);
        if (m == Method::str_removeprefix && view.substr(0, x.size()) == x) view.remove_prefix(x.size());
        if (m == Method::str_removesuffix && !x.empty() && view.size() >= x.size() &&
            view.substr(view.size() - x.size()) == x)
          view.remove_suffix(x.size());
        out = Value::string(std::string(view));
        return Status::ok();
      }
      case Method::str_partition:
      case Method::str_rpartition: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {"sep"}, pos, b));
        SP_RETURN_IF_ERROR(require_str(*this, b.get(0), "separator", pos));
        const std::string& sep = b.get(0)->as_string();
        if (sep.empty()) return error(pos, "empty separator");
        size_t p = m == Method::str_partition ? s.find(sep) : s.rfind(sep);
        std::vector<Value> parts;
        if (p == std::string::npos) {
          if (m == Method::str_partition)
            parts = {Value::string(s), Value::string(""), Value::string("")};
          else
            parts = {Value::string(""), Value::string(""), Value::string(s)};
        } else {
          parts = {Value::string(s.substr(0, p)), Value::string(sep),
                   Value::string(s.substr(p + sep.size()))};
        }
        out = Value::tuple(std::move(parts));
        return Status::ok();
      }
      case Method::str_ljust:
      case Method::str_rjust:
      case Method::str_center:
      case Method::str_zfill: {
        if (m == Method::str_zfill) {
          SP_RETURN_IF_ERROR(bind(*this, fn, a, {"width"}, pos, b));
        } else {
          SP_RETURN_IF_ERROR(bind(*this, fn, a, {"width", "fillchar"}, pos, b));
        }
        int64_t width;
        if (!b.get(0) || !as_index(*b.get(0), width)) return error(pos, fn + "() width must be an integer");
        SP_RETURN_IF_ERROR(check_size(static_cast<uint64_t>(std::max<int64_t>(width, 0)), pos));
        std::string fill = " ";
        if (m != Method::str_zfill && b.get(1)) {
          if (!b.get(1)->is_string() || py::count_code_points(b.get(1)->as_string()) != 1)
            return error(pos, "The fill character must be exactly one character long");
          fill = b.get(1)->as_string();
        }
        if (m == Method::str_zfill) {
          int64_t len = static_cast<int64_t>(py::count_code_points(s));
          std::string r = s;
          if (width > len) {
            size_t at = (!r.empty() && (r[0] == '+' || r[0] == '-')) ? 1 : 0;
            r.insert(at, static_cast<size_t>(width - len), '0');
          }
          out = Value::string(std::move(r));
        } else if (m == Method::str_center) {
          out = Value::string(py_center(s, width, fill));
        } else {
          out = Value::string(pad_cp(s, width, m == Method::str_ljust ? '<' : '>', fill));
        }
        return Status::ok();
      }
      default:
        break;
    }
  }
  if (self.is_dict()) {
    switch (m) {
      case Method::dict_get: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {"key", "default"}, pos, b));
        if (!b.get(0)) return error(pos, "get expected at least 1 argument, got 0");
        if (!is_hashable(*b.get(0)))
          return error(pos, std::string("unhashable type: '") + type_name(*b.get(0)) + "'");
        int64_t at = self.dict_data()->find(*b.get(0));
        out =
            at >= 0 ? self.entries()[static_cast<size_t>(at)].second : (b.get(1) ? *b.get(1) : Value::none());
        return Status::ok();
      }
      case Method::dict_items:
      case Method::dict_keys:
      case Method::dict_values: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {}, pos, b));
        std::vector<Value> items;
        items.reserve(self.entries().size());
        for (const auto& [k, v] : self.entries()) {
          if (m == Method::dict_items)
            items.push_back(Value::tuple({k, v}));
          else
            items.push_back(m == Method::dict_keys ? k : v);
        }
        out = Value::list(std::move(items), m == Method::dict_items  ? SeqKind::dict_items
                                            : m == Method::dict_keys ? SeqKind::dict_keys
                                                                     : SeqKind::dict_values);
        return Status::ok();
      }
      case Method::dict_copy:
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {}, pos, b));
        out = self;
        return Status::ok();
      default:
        break;
    }
  }
  if (self.is_list()) {
    switch (m) {
      case Method::list_index:
      case Method::list_count: {
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {"value"}, pos, b));
        if (!b.get(0)) return error(pos, fn + "() takes exactly one argument (0 given)");
        const auto& items = self.items();
        int64_t count = 0;
        for (size_t i = 0; i < items.size(); ++i) {
          if (py_equal(items[i], *b.get(0))) {
            if (m == Method::list_index) {
              out = Value::integer(static_cast<int64_t>(i));
              return Status::ok();
            }
            ++count;
          }
        }
        if (m == Method::list_index)
          return error(pos, std::string(type_name(self)) + ".index(x): x not in " + type_name(self));
        out = Value::integer(count);
        return Status::ok();
      }
      case Method::list_copy:
        SP_RETURN_IF_ERROR(bind(*this, fn, a, {}, pos, b));
        out = Value::list(self.items());
        return Status::ok();
      default:
        break;
    }
  }
  if (self.kind() == ValueKind::loop) {
    auto& loop = *self.loop_data();
    if (m == Method::loop_cycle) {
      if (!a.kwargs.empty()) return error(pos, "cycle() takes no keyword arguments");
      if (a.args.empty()) return error(pos, "no items for cycling given");
      out = a.args[static_cast<size_t>(loop.index0) % a.args.size()];
      return Status::ok();
    }
    if (m == Method::loop_changed) {
      Value current = Value::list(a.args);
      bool changed = !loop.changed_called || !py_equal(current, loop.last_changed);
      loop.changed_called = true;
      loop.last_changed = std::move(current);
      out = Value::boolean(changed);
      return Status::ok();
    }
  }
  return unsupported_error(pos, "method '" + name + "' of '" + type_name(self) + "'");
}

// --- global functions -------------------------------------------------------------------------------

Status Interp::call_builtin(const CallableData& c, CallArgs& a, uint32_t pos, Value& out) {
  Bound b;
  switch (c.fn) {
    case BuiltinFn::range: {
      if (!a.kwargs.empty()) return error(pos, "range() takes no keyword arguments");
      if (a.args.empty() || a.args.size() > 3)
        return error(pos, "range expected at most 3 arguments, got " + std::to_string(a.args.size()));
      int64_t v[3] = {0, 0, 1};
      for (size_t i = 0; i < a.args.size(); ++i) {
        if (!as_index(a.args[i], v[i]))
          return error(
              pos, std::string("'") + type_name(a.args[i]) + "' object cannot be interpreted as an integer");
      }
      int64_t start = 0, stop, step = 1;
      if (a.args.size() == 1) {
        stop = v[0];
      } else {
        start = v[0];
        stop = v[1];
        if (a.args.size() == 3) step = v[2];
      }
      if (step == 0) return error(pos, "range() arg 3 must not be zero");
      // Length computed in 128 bits: the sandbox refuses more than 100000 items (MAX_RANGE).
      __int128 len = 0;
      if (step > 0 && start < stop) len = ((__int128)stop - start - 1) / step + 1;
      if (step < 0 && start > stop) len = ((__int128)start - stop - 1) / (-(__int128)step) + 1;
      if (len > 100000)
        return error(pos, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
      std::vector<Value> items;
      items.reserve(static_cast<size_t>(len));
      for (__int128 i = 0; i < len; ++i)
        items.push_back(Value::integer(static_cast<int64_t>(start + i * step)));
      out = Value::list(std::move(items));
      return Status::ok();
    }
    case BuiltinFn::dict:
    case BuiltinFn::namespace_: {
      if (a.args.size() > 1)
        return error(pos, c.name + " expected at most 1 argument, got " + std::to_string(a.args.size()));
      std::vector<std::pair<Value, Value>> entries;
      if (a.args.size() == 1) {
        const Value& src = a.args[0];
        if (src.is_dict()) {
          entries = src.entries();
        } else {
          std::shared_ptr<const std::vector<Value>> items;
          SP_RETURN_IF_ERROR(iterate(src, pos, items));
          for (const auto& item : *items) {
            if (!item.is_list() || item.items().size() != 2)
              return error(pos, "dictionary update sequence element has wrong length or type");
            entries.emplace_back(item.items()[0], item.items()[1]);
          }
        }
      }
      for (auto& [k, v] : a.kwargs) entries.emplace_back(Value::string(k), v);
      if (c.fn == BuiltinFn::dict) {
        for (const auto& [k, v] : entries)
          if (!is_hashable(k)) return error(pos, std::string("unhashable type: '") + type_name(k) + "'");
        out = Value::dict(std::move(entries));
        return Status::ok();
      }
      out = new_namespace();
      auto& ns = *out.namespace_data();
      for (auto& [k, v] : entries) {
        if (!k.is_string()) return error(pos, "namespace() keywords must be strings");
        if (Value* slot = ns.find(k.as_string()))
          *slot = v;
        else
          ns.attrs.emplace_back(k.as_string(), v);
      }
      return Status::ok();
    }
    case BuiltinFn::raise_exception: {
      SP_RETURN_IF_ERROR(bind(*this, "raise_exception", a, {"message"}, pos, b));
      if (!b.get(0)) return error(pos, "raise_exception() missing 1 required positional argument: 'message'");
      std::string msg;
      SP_RETURN_IF_ERROR(append_str(msg, *b.get(0), pos));
      return data_error(positioned(program_.source, pos, "template raised an exception", msg));
    }
    case BuiltinFn::strftime_now: {
      SP_RETURN_IF_ERROR(bind(*this, "strftime_now", a, {"format"}, pos, b));
      if (!b.get(0)) return error(pos, "strftime_now() missing 1 required positional argument: 'format'");
      if (!b.get(0)->is_string())
        return error(pos, std::string("strftime() argument 1 must be str, not ") + type_name(*b.get(0)));
      LocalDateTime now = options_.now ? *options_.now : LocalDateTime::now();
      auto r = strftime_local(now, b.get(0)->as_string());
      if (!r.is_ok()) return error(pos, r.status().message());
      out = Value::string(std::move(r).value());
      return Status::ok();
    }
    case BuiltinFn::joiner:
    case BuiltinFn::cycler:
    case BuiltinFn::lipsum:
      return unsupported_error(pos, "the global function '" + c.name + "'");
  }
  return Status::ok();
}

// --- filters ----------------------------------------------------------------------------------------

namespace {

// make_attrgetter: "a.b.0" looked up with the sandbox's getitem, digits as integers.
struct AttrGetter {
  std::vector<Value> parts;
  std::optional<Value> default_value;
};

AttrGetter make_getter(const Value* attribute) {
  AttrGetter g;
  if (!attribute || attribute->is_none()) return g;
  if (attribute->is_string()) {
    for (auto& part : py::split_sep(attribute->as_string(), ".", -1)) {
      bool digits =
          !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits && part.size() < 18)
        g.parts.push_back(Value::integer(std::stoll(part)));
      else
        g.parts.push_back(Value::string(part));
    }
  } else {
    g.parts.push_back(*attribute);
  }
  return g;
}

}  // namespace

namespace {
Status get_path(Interp& in, const AttrGetter& g, const Value& item, uint32_t pos, Value& out) {
  out = item;
  for (const auto& part : g.parts) {
    Value next;
    SP_RETURN_IF_ERROR(in.getitem(out, part, pos, next));
    out = std::move(next);
    if (g.default_value && out.is_undefined()) out = *g.default_value;
  }
  return Status::ok();
}

Value ignore_case(const Value& v) {
  if (v.is_string()) return Value::string(py::lower(v.as_string()));
  return v;
}
}  // namespace

Status Interp::apply_filter(int16_t id, const std::string& name, const Value& v, CallArgs& a, uint32_t pos,
                            Value& out) {
  if (id < 0) return unsupported_error(pos, "the filter '" + name + "' is not implemented");
  Bound b;
  auto str_of = [&](const Value& x, std::string& s) { return append_str(s, x, pos); };
  switch (static_cast<FilterId>(id)) {
    case FilterId::abs: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      int64_t i;
      if (v.is_undefined()) return undefined_error(pos, v);
      if (as_index(v, i)) {
        if (i == INT64_MIN) return unsupported_error(pos, "integer overflow (beyond 64 bits)");
        out = Value::integer(i < 0 ? -i : i);
      } else if (v.is_float()) {
        out = Value::floating(std::fabs(v.as_float()));
      } else {
        return error(pos, std::string("bad operand type for abs(): '") + type_name(v) + "'");
      }
      return Status::ok();
    }
    case FilterId::attr: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"name"}, pos, b));
      if (!b.get(0) || !b.get(0)->is_string()) return error(pos, "attribute name must be string");
      const std::string& attr = b.get(0)->as_string();
      if (v.is_undefined()) return undefined_error(pos, v);
      Method m;
      if (v.kind() == ValueKind::namespace_object || v.kind() == ValueKind::loop || find_method(v, attr, m))
        return getattr(v, *b.get(0), pos, out);
      std::string msg;
      py::append_repr(msg, std::string(type_name(v)) + " object");
      out = Value::undefined_with(msg + " has no attribute '" + attr + "'");
      return Status::ok();
    }
    case FilterId::batch: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"linecount", "fill_with"}, pos, b));
      int64_t count;
      if (!b.get(0) || !as_index(*b.get(0), count)) return error(pos, "batch() linecount must be an integer");
      if (count <= 0) return error(pos, "batch() linecount must be positive");
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      std::vector<Value> batches;
      std::vector<Value> cur;
      for (const auto& item : *items) {
        cur.push_back(item);
        if (static_cast<int64_t>(cur.size()) == count) {
          batches.push_back(Value::list(std::move(cur)));
          cur.clear();
        }
      }
      if (!cur.empty()) {
        if (b.get(1) && !b.get(1)->is_none())
          while (static_cast<int64_t>(cur.size()) < count) cur.push_back(*b.get(1));
        batches.push_back(Value::list(std::move(cur)));
      }
      out = new_iterator(std::move(batches), "generator");
      return Status::ok();
    }
    case FilterId::capitalize:
    case FilterId::lower:
    case FilterId::upper:
    case FilterId::title: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      std::string s;
      SP_RETURN_IF_ERROR(str_of(v, s));
      FilterId f = static_cast<FilterId>(id);
      if (f == FilterId::capitalize) {
        out = Value::string(py::capitalize(s));
      } else if (f == FilterId::lower) {
        out = Value::string(py::lower(s));
      } else if (f == FilterId::upper) {
        out = Value::string(py::upper(s));
      } else {
        // Jinja2's title: split on runs of [-\s({[<]; each piece: first char upper, rest lower.
        auto is_sep = [](char32_t c) {
          return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py::is_space(c);
        };
        std::string r;
        size_t i = 0;
        while (i < s.size()) {
          size_t start = i, first_end;
          size_t probe = i;
          bool sep = is_sep(py::decode(s, probe));
          first_end = probe;
          i = probe;
          while (i < s.size()) {
            size_t q = i;
            if (is_sep(py::decode(s, q)) != sep) break;
            i = q;
          }
          r += py::upper(std::string_view(s).substr(start, first_end - start));
          r += py::lower(std::string_view(s).substr(first_end, i - first_end));
        }
        out = Value::string(std::move(r));
      }
      return Status::ok();
    }
    case FilterId::center: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"width"}, pos, b));
      int64_t width = 80;
      if (b.get(0) && !as_index(*b.get(0), width)) return error(pos, "center() width must be an integer");
      SP_RETURN_IF_ERROR(check_size(static_cast<uint64_t>(std::max<int64_t>(width, 0)), pos));
      std::string s;
      SP_RETURN_IF_ERROR(str_of(v, s));
      out = Value::string(py_center(s, width, " "));
      return Status::ok();
    }
    case FilterId::default_: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"default_value", "boolean"}, pos, b));
      bool boolean = b.get(1) && truthy(*b.get(1));
      if (v.is_undefined() || (boolean && !truthy(v)))
        out = b.get(0) ? *b.get(0) : Value::string("");
      else
        out = v;
      return Status::ok();
    }
    case FilterId::dictsort: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"case_sensitive", "by", "reverse"}, pos, b));
      if (!v.is_dict())
        return error(pos, std::string("'") + type_name(v) + "' object has no attribute 'items'");
      bool case_sensitive = b.get(0) && truthy(*b.get(0));
      size_t which = 0;
      if (b.get(1)) {
        if (b.get(1)->is_string() && b.get(1)->as_string() == "value")
          which = 1;
        else if (!(b.get(1)->is_string() && b.get(1)->as_string() == "key"))
          return error(pos, "You can only sort by either \"key\" or \"value\"");
      }
      bool reverse = b.get(2) && truthy(*b.get(2));
      std::vector<std::pair<Value, Value>> entries = v.entries();
      std::vector<Value> keys;
      for (const auto& e : entries)
        keys.push_back(case_sensitive ? (which ? e.second : e.first)
                                      : ignore_case(which ? e.second : e.first));
      std::vector<size_t> order(entries.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      Status st;
      std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
        bool lt = false;
        if (st.is_ok()) {
          Status s = reverse ? less(keys[y], keys[x], pos, lt) : less(keys[x], keys[y], pos, lt);
          if (!s.is_ok()) st = s;
        }
        return lt;
      });
      SP_RETURN_IF_ERROR(st);
      std::vector<Value> items;
      for (size_t i : order) items.push_back(Value::tuple({entries[i].first, entries[i].second}));
      out = Value::list(std::move(items));
      return Status::ok();
    }
    case FilterId::escape:
    case FilterId::forceescape: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      std::string s;
      SP_RETURN_IF_ERROR(str_of(v, s));
      out = Value::string(html_escape(s));
      return Status::ok();
    }
    case FilterId::first: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      if (v.kind() == ValueKind::iterator) {
        auto& it = *v.iterator_data();
        out = it.pos < it.items.size() ? it.items[it.pos++]
                                       : Value::undefined_with("No first item, sequence was empty.");
        return Status::ok();
      }
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      out = items->empty() ? Value::undefined_with("No first item, sequence was empty.") : items->front();
      return Status::ok();
    }
    case FilterId::last: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      if (v.kind() == ValueKind::iterator)
        return error(pos, std::string("'") + type_name(v) + "' object is not reversible");
      if (!(v.is_list() || v.is_string() || v.is_dict() || v.is_undefined()))
        return error(pos, std::string("'") + type_name(v) + "' object is not reversible");
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      out = items->empty() ? Value::undefined_with("No last item, sequence was empty.") : items->back();
      return Status::ok();
    }
    case FilterId::float_: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"default"}, pos, b));
      Value dflt = b.get(0) ? *b.get(0) : Value::floating(0.0);
      if (v.is_undefined()) return undefined_error(pos, v);  // float(Undefined) raises
      int64_t i;
      double d;
      if (v.is_float())
        out = v;
      else if (as_index(v, i))
        out = Value::floating(static_cast<double>(i));
      else if (v.is_string() && parse_py_float(v.as_string(), d))
        out = Value::floating(d);
      else
        out = dflt;
      return Status::ok();
    }
    case FilterId::format: {
      if (!a.args.empty() && !a.kwargs.empty())
        return error(pos, "can't handle positional and keyword arguments at the same time");
      std::string fmt, r;
      SP_RETURN_IF_ERROR(str_of(v, fmt));
      Value rhs;
      if (!a.kwargs.empty()) {
        std::vector<std::pair<Value, Value>> entries;
        for (auto& [k, val] : a.kwargs) entries.emplace_back(Value::string(k), val);
        rhs = Value::dict(std::move(entries));
      } else {
        rhs = Value::tuple(a.args);
      }
      SP_RETURN_IF_ERROR(percent_format(*this, fmt, rhs, pos, r));
      Status st;
      out = make_string(std::move(r), pos, st);
      return st;
    }
    case FilterId::indent: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"width", "first", "blank"}, pos, b));
      std::string indention = "    ";
      if (b.get(0)) {
        int64_t w;
        if (b.get(0)->is_string())
          indention = b.get(0)->as_string();
        else if (as_index(*b.get(0), w))
          indention = std::string(static_cast<size_t>(std::max<int64_t>(w, 0)), ' ');
        else
          return error(pos, "indent() width must be an int or a string");
      }
      bool first = b.get(1) && truthy(*b.get(1));
      bool blank = b.get(2) && truthy(*b.get(2));
      // do_indent appends "\n" to its argument without converting it: only strings work.
      if (v.is_undefined()) return undefined_error(pos, v);
      if (v.is_list() && v.seq_kind() == SeqKind::list)
        return error(pos, "'list' object has no attribute 'splitlines'");
      if (!v.is_string())
        return error(pos,
                     std::string("unsupported operand type(s) for +=: '") + type_name(v) + "' and 'str'");
      std::string s = v.as_string();
      s += "\n";
      auto lines = py::splitlines(s, false);
      std::string r;
      if (blank) {
        for (size_t i = 0; i < lines.size(); ++i) {
          if (i) r += "\n" + indention;
          r += lines[i];
        }
      } else {
        r = lines.empty() ? "" : lines[0];
        if (lines.size() > 1) {
          r += "\n";
          for (size_t i = 1; i < lines.size(); ++i) {
            if (i > 1) r += "\n";
            if (!lines[i].empty()) r += indention;
            r += lines[i];
          }
        }
      }
      if (first) r = indention + r;
      Status st;
      out = make_string(std::move(r), pos, st);
      return st;
    }
    case FilterId::int_: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"default", "base"}, pos, b));
      Value dflt = b.get(0) ? *b.get(0) : Value::integer(0);
      int64_t base = 10;
      if (b.get(1) && !as_index(*b.get(1), base)) return error(pos, "int() base must be an integer");
      if (v.is_undefined()) return undefined_error(pos, v);  // int(Undefined) raises
      int64_t i;
      double d;
      if (as_index(v, i)) {
        out = Value::integer(i);
      } else if (v.is_float()) {
        double f = v.as_float();
        if (std::isfinite(f) && std::fabs(f) < 9.2e18)
          out = Value::integer(static_cast<int64_t>(std::trunc(f)));
        else
          out = dflt;
      } else if (v.is_string() && (base == 0 || (base >= 2 && base <= 36)) &&
                 parse_py_int(v.as_string(), static_cast<int>(base), i)) {
        out = Value::integer(i);
      } else if (v.is_string() && parse_py_float(v.as_string(), d) && std::isfinite(d) &&
                 std::fabs(d) < 9.2e18) {
        out = Value::integer(static_cast<int64_t>(std::trunc(d)));
      } else {
        out = dflt;
      }
      return Status::ok();
    }
    case FilterId::items: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      std::vector<Value> items;
      if (v.is_dict()) {
        for (const auto& [k, val] : v.entries()) items.push_back(Value::tuple({k, val}));
      } else if (!v.is_undefined()) {
        return error(pos, "Can only get item pairs from a mapping.");
      }
      out = new_iterator(std::move(items), "generator");
      return Status::ok();
    }
    case FilterId::join: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"d", "attribute"}, pos, b));
      std::string sep;
      if (b.get(0)) SP_RETURN_IF_ERROR(str_of(*b.get(0), sep));
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      AttrGetter g = make_getter(b.get(1));
      std::string r;
      for (size_t i = 0; i < items->size(); ++i) {
        if (i) r += sep;
        Value item;
        SP_RETURN_IF_ERROR(get_path(*this, g, (*items)[i], pos, item));
        SP_RETURN_IF_ERROR(str_of(item, r));
        SP_RETURN_IF_ERROR(check_size(r.size(), pos));
      }
      out = Value::string(std::move(r));
      return Status::ok();
    }
    case FilterId::length: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      switch (v.kind()) {
        case ValueKind::string:
          out = Value::integer(static_cast<int64_t>(py::count_code_points(v.as_string())));
          break;
        case ValueKind::list:
          out = Value::integer(static_cast<int64_t>(v.items().size()));
          break;
        case ValueKind::dict:
          out = Value::integer(static_cast<int64_t>(v.entries().size()));
          break;
        case ValueKind::undefined:
          out = Value::integer(0);
          break;
        default:
          return error(pos, std::string("object of type '") + type_name(v) + "' has no len()");
      }
      return Status::ok();
    }
    case FilterId::list: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      out = Value::list(*items);
      return Status::ok();
    }
    case FilterId::map: {
      std::vector<Value> result;
      if (!truthy(v)) {
        out = new_iterator({}, "generator");
        return Status::ok();
      }
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      if (a.args.empty()) {
        const Value* attribute = nullptr;
        std::optional<Value> dflt;
        for (auto& [k, val] : a.kwargs) {
          if (k == "attribute")
            attribute = &val;
          else if (k == "default")
            dflt = val;
          else
            return error(pos, "Unexpected keyword argument '" + k + "'");
        }
        if (!attribute) return error(pos, "map requires a filter argument");
        AttrGetter g = make_getter(attribute);
        if (dflt && !dflt->is_none()) g.default_value = dflt;
        for (const auto& item : *items) {
          Value r;
          SP_RETURN_IF_ERROR(get_path(*this, g, item, pos, r));
          result.push_back(std::move(r));
        }
      } else {
        if (!a.args[0].is_string()) return error(pos, "map() filter name must be a string");
        std::string fname = a.args[0].as_string();
        int16_t fid = filter_id(fname);
        for (const auto& item : *items) {
          CallArgs sub;
          sub.args.assign(a.args.begin() + 1, a.args.end());
          sub.kwargs = a.kwargs;
          Value r;
          SP_RETURN_IF_ERROR(apply_filter(fid, fname, item, sub, pos, r));
          result.push_back(std::move(r));
        }
      }
      out = new_iterator(std::move(result), "generator");
      return Status::ok();
    }
    case FilterId::max:
    case FilterId::min: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"case_sensitive", "attribute"}, pos, b));
      bool case_sensitive = b.get(0) && truthy(*b.get(0));
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      if (items->empty()) {
        out = Value::undefined_with("No aggregated item, sequence was empty.");
        return Status::ok();
      }
      AttrGetter g = make_getter(b.get(1));
      size_t best = 0;
      Value best_key;
      for (size_t i = 0; i < items->size(); ++i) {
        Value key;
        SP_RETURN_IF_ERROR(get_path(*this, g, (*items)[i], pos, key));
        if (!case_sensitive) key = ignore_case(key);
        if (i == 0) {
          best_key = key;
          continue;
        }
        bool better = false;
        if (static_cast<FilterId>(id) == FilterId::max)
          SP_RETURN_IF_ERROR(less(best_key, key, pos, better));
        else
          SP_RETURN_IF_ERROR(less(key, best_key, pos, better));
        if (better) {
          best = i;
          best_key = key;
        }
      }
      out = (*items)[best];
      return Status::ok();
    }
    case FilterId::reject:
    case FilterId::select:
    case FilterId::rejectattr:
    case FilterId::selectattr: {
      const FilterId f = static_cast<FilterId>(id);
      const bool lookup_attr = f == FilterId::rejectattr || f == FilterId::selectattr;
      const bool keep_if = f == FilterId::select || f == FilterId::selectattr;
      std::vector<Value> result;
      if (!truthy(v)) {
        out = new_iterator({}, "generator");
        return Status::ok();
      }
      size_t off = 0;
      AttrGetter g;
      if (lookup_attr) {
        if (a.args.empty()) return error(pos, "Missing parameter for attribute name");
        g = make_getter(&a.args[0]);
        off = 1;
      }
      std::string test_name;
      int16_t tid = -1;
      if (a.args.size() > off) {
        if (!a.args[off].is_string()) return error(pos, "test name must be a string");
        test_name = a.args[off].as_string();
        tid = test_id(test_name);
      }
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      for (const auto& item : *items) {
        Value x;
        SP_RETURN_IF_ERROR(get_path(*this, g, item, pos, x));
        bool r;
        if (a.args.size() > off) {
          CallArgs sub;
          sub.args.assign(a.args.begin() + static_cast<std::ptrdiff_t>(off) + 1, a.args.end());
          sub.kwargs = a.kwargs;
          SP_RETURN_IF_ERROR(apply_test(tid, test_name, x, sub, pos, r));
        } else {
          r = truthy(x);
        }
        if (r == keep_if) result.push_back(item);
      }
      out = new_iterator(std::move(result), "generator");
      return Status::ok();
    }
    case FilterId::replace: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"old", "new", "count"}, pos, b));
      if (!b.get(0) || !b.get(1)) return error(pos, "replace() missing required arguments 'old' and 'new'");
      std::string s, old_s, new_s;
      SP_RETURN_IF_ERROR(str_of(v, s));
      SP_RETURN_IF_ERROR(str_of(*b.get(0), old_s));
      SP_RETURN_IF_ERROR(str_of(*b.get(1), new_s));
      int64_t count = -1;
      if (b.get(2) && !b.get(2)->is_none() && !as_index(*b.get(2), count))
        return error(pos, "replace() count must be an integer");
      Status st;
      out = make_string(py::replace(s, old_s, new_s, count), pos, st);
      return st;
    }
    case FilterId::reverse: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      if (v.is_string()) {
        std::string r;
        const std::string& s = v.as_string();
        size_t e = s.size();
        while (e > 0) {
          size_t start = e - 1;
          while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
          r.append(s, start, e - start);
          e = start;
        }
        out = Value::string(std::move(r));
        return Status::ok();
      }
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      std::vector<Value> r(items->rbegin(), items->rend());
      if (v.kind() == ValueKind::iterator) {
        out = Value::list(std::move(r));  // reversed() fails on generators: Jinja2 falls back to a list
      } else {
        out =
            new_iterator(std::move(r), v.is_dict() ? "dict_reversekeyiterator"
                                       : v.is_list() && v.seq_kind() == SeqKind::list ? "list_reverseiterator"
                                                                                      : "reversed");
      }
      return Status::ok();
    }
    case FilterId::round: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"precision", "method"}, pos, b));
      int64_t precision = 0;
      if (b.get(0) && !as_index(*b.get(0), precision))
        return error(pos, "round() precision must be an integer");
      std::string method = "common";
      if (b.get(1)) {
        if (!b.get(1)->is_string()) return error(pos, "method must be common, ceil or floor");
        method = b.get(1)->as_string();
      }
      if (method != "common" && method != "ceil" && method != "floor")
        return error(pos, "method must be common, ceil or floor");
      if (v.is_undefined()) return undefined_error(pos, v);
      int64_t i;
      if (method == "common" && as_index(v, i)) {
        if (precision >= 0) {
          out = Value::integer(i);
        } else {
          // round(int, negative): ties to even at 10**-precision.
          if (precision < -18) {
            out = Value::integer(0);
          } else {
            int64_t p = 1;
            for (int64_t k = 0; k < -precision; ++k) p *= 10;
            int64_t q = i / p, r = i % p;
            if (r < 0) {
              r += p;
              q -= 1;
            }
            if (2 * r > p || (2 * r == p && (q & 1))) q += 1;
            out = Value::integer(q * p);
          }
        }
        return Status::ok();
      }
      double x;
      if (as_index(v, i))
        x = static_cast<double>(i);
      else if (v.is_float())
        x = v.as_float();
      else
        return error(pos, std::string("type ") + type_name(v) + " doesn't define __round__ method");
      if (method == "common") {
        out = Value::floating(py::round_half_even(x, precision));
      } else {
        double p = std::pow(10.0, static_cast<double>(precision));
        out = Value::floating((method == "ceil" ? std::ceil(x * p) : std::floor(x * p)) / p);
      }
      return Status::ok();
    }
    case FilterId::safe:
    case FilterId::string: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      SP_ASSIGN_OR_RETURN(out, to_str_value(v, pos));
      return Status::ok();
    }
    case FilterId::sort: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"reverse", "case_sensitive", "attribute"}, pos, b));
      bool reverse = b.get(0) && truthy(*b.get(0));
      bool case_sensitive = b.get(1) && truthy(*b.get(1));
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      std::vector<std::vector<Value>> keys(items->size());
      std::vector<AttrGetter> getters;
      if (b.get(2) && b.get(2)->is_string()) {
        for (auto& part : py::split_sep(b.get(2)->as_string(), ",", -1)) {
          Value p = Value::string(part);
          getters.push_back(make_getter(&p));
        }
      } else {
        getters.push_back(make_getter(b.get(2)));
      }
      for (size_t i = 0; i < items->size(); ++i) {
        for (const auto& g : getters) {
          Value k;
          SP_RETURN_IF_ERROR(get_path(*this, g, (*items)[i], pos, k));
          keys[i].push_back(case_sensitive ? k : ignore_case(k));
        }
      }
      std::vector<size_t> order(items->size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      Status st;
      std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
        bool lt = false;
        if (st.is_ok()) {
          const auto& kx = keys[reverse ? y : x];
          const auto& ky = keys[reverse ? x : y];
          Status s = keys[x].size() == 1 ? less(kx[0], ky[0], pos, lt)
                                         : less(Value::list(kx), Value::list(ky), pos, lt);
          if (!s.is_ok()) st = s;
        }
        return lt;
      });
      SP_RETURN_IF_ERROR(st);
      std::vector<Value> r;
      r.reserve(order.size());
      for (size_t i : order) r.push_back((*items)[i]);
      out = Value::list(std::move(r));
      return Status::ok();
    }
    case FilterId::sum: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"attribute", "start"}, pos, b));
      Value total = b.get(1) ? *b.get(1) : Value::integer(0);
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      AttrGetter g = make_getter(b.get(0));
      for (const auto& item : *items) {
        Value x;
        SP_RETURN_IF_ERROR(get_path(*this, g, item, pos, x));
        if (x.is_string() && (total.is_int() || total.is_float() || total.is_bool()))
          return error(
              pos, std::string("unsupported operand type(s) for +: '") + type_name(total) + "' and 'str'");
        Value next;
        SP_RETURN_IF_ERROR(binary_op(BinOp::add, total, x, pos, next));
        total = std::move(next);
      }
      out = std::move(total);
      return Status::ok();
    }
    case FilterId::tojson: {
      // transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"ensure_ascii", "indent", "separators", "sort_keys"}, pos, b));
      JsonOptions opts;
      opts.ensure_ascii = b.get(0) && truthy(*b.get(0));
      if (b.get(1) && !b.get(1)->is_none()) {
        opts.pretty = true;
        int64_t w;
        if (b.get(1)->is_string())
          opts.indent = b.get(1)->as_string();
        else if (as_index(*b.get(1), w))
          opts.indent = std::string(static_cast<size_t>(std::max<int64_t>(w, 0)), ' ');
        else
          return error(pos, "tojson indent must be an int or a string");
        opts.item_sep = ",";
      }
      if (b.get(2) && !b.get(2)->is_none()) {
        const Value& sep = *b.get(2);
        if (!sep.is_list() || sep.items().size() != 2 || !sep.items()[0].is_string() ||
            !sep.items()[1].is_string())
          return error(pos, "tojson separators must be a pair of strings");
        opts.item_sep = sep.items()[0].as_string();
        opts.key_sep = sep.items()[1].as_string();
      }
      opts.sort_keys = b.get(3) && truthy(*b.get(3));
      std::string r;
      SP_RETURN_IF_ERROR(append_json(r, v, opts, pos, 0));
      out = Value::string(std::move(r));
      return Status::ok();
    }
    case FilterId::trim: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"chars"}, pos, b));
      std::string s;
      SP_RETURN_IF_ERROR(str_of(v, s));
      if (b.get(0) && !b.get(0)->is_none()) {
        if (!b.get(0)->is_string()) return error(pos, "strip arg must be None or str");
        out = Value::string(std::string(py::strip_chars(s, b.get(0)->as_string(), true, true)));
      } else {
        out = Value::string(std::string(py::strip_ws(s, true, true)));
      }
      return Status::ok();
    }
    case FilterId::unique: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"case_sensitive", "attribute"}, pos, b));
      bool case_sensitive = b.get(0) && truthy(*b.get(0));
      AttrGetter g = make_getter(b.get(1));
      std::shared_ptr<const std::vector<Value>> items;
      SP_RETURN_IF_ERROR(iterate(v, pos, items));
      std::vector<Value> seen, result;
      for (const auto& item : *items) {
        Value key;
        SP_RETURN_IF_ERROR(get_path(*this, g, item, pos, key));
        if (!case_sensitive) key = ignore_case(key);
        if (!is_hashable(key)) return error(pos, std::string("unhashable type: '") + type_name(key) + "'");
        bool dup = false;
        for (const auto& s : seen) dup = dup || py_equal(s, key);
        if (!dup) {
          seen.push_back(key);
          result.push_back(item);
        }
      }
      out = new_iterator(std::move(result), "generator");
      return Status::ok();
    }
    case FilterId::wordcount: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      std::string s;
      SP_RETURN_IF_ERROR(str_of(v, s));
      int64_t words = 0;
      bool in_word = false;
      for (size_t i = 0; i < s.size();) {
        size_t start = i;
        char32_t c = py::decode(s, i);
        bool w = c == '_' || py::is_alnum(std::string_view(s).substr(start, i - start));
        if (w && !in_word) ++words;
        in_word = w;
      }
      out = Value::integer(words);
      return Status::ok();
    }
  }
  return unsupported_error(pos, "the filter '" + name + "'");
}

// --- tests ------------------------------------------------------------------------------------------

Status Interp::apply_test(int16_t id, const std::string& name, const Value& v, CallArgs& a, uint32_t pos,
                          bool& out) {
  if (id < 0) return unsupported_error(pos, "the test '" + name + "' is not implemented");
  Bound b;
  const TestId t = static_cast<TestId>(id);
  switch (t) {
    case TestId::odd:
    case TestId::even:
    case TestId::divisibleby: {
      Value divisor = Value::integer(2);
      if (t == TestId::divisibleby) {
        SP_RETURN_IF_ERROR(bind(*this, name, a, {"num"}, pos, b));
        if (!b.get(0)) return error(pos, "test_divisibleby() missing 1 required positional argument: 'num'");
        divisor = *b.get(0);
      } else {
        SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      }
      Value r;
      SP_RETURN_IF_ERROR(binary_op(BinOp::mod, v, divisor, pos, r));
      bool is_one = py_equal(r, Value::integer(1));
      bool is_zero = py_equal(r, Value::integer(0));
      out = t == TestId::odd ? is_one : is_zero;
      return Status::ok();
    }
    case TestId::defined:
      out = !v.is_undefined();
      break;
    case TestId::undefined:
      out = v.is_undefined();
      break;
    case TestId::none:
      out = v.is_none();
      break;
    case TestId::boolean:
      out = v.is_bool();
      break;
    case TestId::false_:
      out = v.is_bool() && !v.as_bool();
      break;
    case TestId::true_:
      out = v.is_bool() && v.as_bool();
      break;
    case TestId::integer:
      out = v.is_int();
      break;
    case TestId::float_:
      out = v.is_float();
      break;
    case TestId::lower:
    case TestId::upper: {
      std::string s;
      SP_RETURN_IF_ERROR(append_str(s, v, pos));
      out = t == TestId::lower ? py::is_lower(s) : py::is_upper(s);
      break;
    }
    case TestId::string:
      out = v.is_string();
      break;
    case TestId::mapping:
      out = v.is_dict();
      break;
    case TestId::number:
      out = v.is_number();
      break;
    case TestId::sequence:
      out = v.is_string() || v.is_dict() || v.is_undefined() ||
            (v.is_list() && (v.seq_kind() == SeqKind::list || v.seq_kind() == SeqKind::tuple));
      break;
    case TestId::iterable:
      out = v.is_string() || v.is_list() || v.is_dict() || v.is_undefined() ||
            v.kind() == ValueKind::iterator || v.kind() == ValueKind::loop;
      break;
    case TestId::callable:
      out = v.kind() == ValueKind::callable || v.is_undefined();
      break;
    case TestId::sameas: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"other"}, pos, b));
      if (!b.get(0)) return error(pos, "test_sameas() missing 1 required positional argument: 'other'");
      const Value& o = *b.get(0);
      if (v.kind() != o.kind()) {
        out = false;
      } else {
        switch (v.kind()) {
          case ValueKind::none:
            out = true;
            break;
          case ValueKind::boolean:
            out = v.as_bool() == o.as_bool();
            break;
          case ValueKind::integer:
            out = v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
            break;
          case ValueKind::string:
            out = v.string_ptr() == o.string_ptr();
            break;
          case ValueKind::list:
            out = v.list_data() == o.list_data();
            break;
          case ValueKind::dict:
            out = v.dict_data() == o.dict_data();
            break;
          case ValueKind::namespace_object:
          case ValueKind::loop:
          case ValueKind::iterator:
          case ValueKind::callable:
            out = py_equal(v, o);
            break;
          default:
            out = false;
        }
      }
      return Status::ok();
    }
    case TestId::escaped:
      out = false;
      break;
    case TestId::in: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"seq"}, pos, b));
      if (!b.get(0)) return error(pos, "test_in() missing 1 required positional argument: 'seq'");
      return compare(CmpOp::in, v, *b.get(0), pos, out);
    }
    case TestId::eq:
    case TestId::ne:
    case TestId::gt:
    case TestId::ge:
    case TestId::lt:
    case TestId::le: {
      if (a.args.size() != 1 || !a.kwargs.empty())
        return error(pos, "expected 1 argument for test '" + name + "'");
      CmpOp op = t == TestId::eq   ? CmpOp::eq
                 : t == TestId::ne ? CmpOp::ne
                 : t == TestId::gt ? CmpOp::gt
                 : t == TestId::ge ? CmpOp::gteq
                 : t == TestId::lt ? CmpOp::lt
                                   : CmpOp::lteq;
      return compare(op, v, a.args[0], pos, out);
    }
    case TestId::filter:
    case TestId::test: {
      if (!v.is_string()) {
        out = false;
        return Status::ok();
      }
      out = (t == TestId::filter ? filter_id(v.as_string()) : test_id(v.as_string())) >= 0;
      return Status::ok();
    }
  }
  if (!a.args.empty() || !a.kwargs.empty()) return error(pos, "test '" + name + "' takes no arguments");
  return Status::ok();
}

}  // namespace synpref::chat::detail
