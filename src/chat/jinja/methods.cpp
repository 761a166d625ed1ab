// src/chat/jinja/methods.cpp: calling builtins: Python-style argument binding, the methods of
// str/list/dict that templates call (CPython semantics) and the global functions (range, dict,
// namespace, raise_exception, strftime_now, ...).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "chat/jinja/builtins.h"
#include "chat/jinja/interp.h"
#include "chat/jinja/parser.h"
#include "chat/jinja/pystr.h"

namespace synpref::chat::detail {

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

}  // namespace synpref::chat::detail
