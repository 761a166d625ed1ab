// src/chat/jinja/builtins.h: what the builtin callables share: the ids of the filters (filters.cpp) and
// tests (tests.cpp) the interpreter implements (names as Jinja2's), Python-style argument binding
// (methods.cpp), and the Python number parsing and text formatting helpers (format.cpp).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja/value_internal.h"
#include "synpref/common/status.h"

namespace synpref::chat::detail {

enum class FilterId : int16_t {
  abs,
  attr,
  batch,
  capitalize,
  center,
  default_,
  dictsort,
  escape,
  first,
  float_,
  forceescape,
  format,
  indent,
  int_,
  items,
  join,
  last,
  length,
  list,
  lower,
  map,
  max,
  min,
  reject,
  rejectattr,
  replace,
  reverse,
  round,
  safe,
  select,
  selectattr,
  sort,
  string,
  sum,
  title,
  tojson,
  trim,
  unique,
  upper,
  wordcount,
};

enum class TestId : int16_t {
  odd,
  even,
  divisibleby,
  defined,
  undefined,
  none,
  boolean,
  false_,
  true_,
  integer,
  float_,
  lower,
  upper,
  string,
  mapping,
  number,
  sequence,
  iterable,
  callable,
  sameas,
  escaped,
  in,
  eq,
  ne,
  gt,
  ge,
  lt,
  le,
  filter,
  test,
};

// -1 when the name is not implemented.
int16_t filter_id(std::string_view name);
int16_t test_id(std::string_view name);

// A name -> id table (filters.cpp, tests.cpp).
struct NameId {
  const char* name;
  int16_t id;
};
inline int16_t lookup_id(const NameId* table, size_t n, std::string_view name) {
  for (size_t i = 0; i < n; ++i)
    if (name == table[i].name) return table[i].id;
  return -1;
}

class Interp;
struct CallArgs;

// --- methods.cpp: argument binding -----------------------------------------------------------------

// An int or bool as a Python index (false for other kinds).
bool as_index(const Value& v, int64_t& out);

// Python-style argument binding: positional then keyword, by parameter name.
struct Bound {
  std::vector<std::optional<Value>> values;
  const Value* get(size_t i) const { return values[i] ? &*values[i] : nullptr; }
};
Status bind(const Interp& in, const std::string& fn, CallArgs& a, std::initializer_list<const char*> names,
            uint32_t pos, Bound& out);
// An error naming `what` unless *v is a str.
Status require_str(const Interp& in, const Value* v, const char* what, uint32_t pos);

// --- format.cpp: Python number parsing, padding, %-formatting and str.format -------------------------

// Python's int(str, base) and float(str); false where Python raises ValueError.
bool parse_py_int(std::string_view s, int base, int64_t& out);
bool parse_py_float(std::string_view s, double& out);
// markupsafe.escape of a str.
std::string html_escape(std::string_view s);
// Pads s to `width` code points: align '<' (left) or '>' (right), with the code point `fill`.
std::string pad_cp(std::string s, int64_t width, char align, const std::string& fill = " ");
// str.center(width, fill).
std::string py_center(const std::string& s, int64_t width, const std::string& fill);
// fmt % rhs and fmt.format(*args, **kwargs), appended to out.
Status percent_format(const Interp& in, const std::string& fmt, const Value& rhs, uint32_t pos,
                      std::string& out);
Status str_format(const Interp& in, const std::string& fmt, CallArgs& a, uint32_t pos, std::string& out);

}  // namespace synpref::chat::detail
