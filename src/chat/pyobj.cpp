// Python str(), repr() and json.dumps() of template values.
#include <algorithm>
#include <cmath>

#include "chat/interp.h"
#include "chat/pystr.h"
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

}  // namespace synpref::chat::detail
