// src/chat/jinja/filters.cpp: Jinja2's builtin filters ({{ x | name(args) }}), each following
// jinja2.filters as transformers' sandboxed environment runs it.
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

namespace {

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

}  // namespace

int16_t filter_id(std::string_view name) {
  return lookup_id(kFilters, std::size(kFilters), name);
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
        else if (as_index(*b.get(0), w)) {
          SP_RETURN_IF_ERROR(check_size(static_cast<uint64_t>(std::max<int64_t>(w, 0)), pos));
          indention = std::string(static_cast<size_t>(std::max<int64_t>(w, 0)), ' ');
        } else
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
      SP_RETURN_IF_ERROR(check_size(s.size() + indention.size() * lines.size(), pos));
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

}  // namespace synpref::chat::detail
