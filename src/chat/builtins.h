// src/chat/builtins.h: ids of the filters and tests the interpreter implements (names as Jinja2's).
#pragma once

#include <cstdint>
#include <string_view>

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

}  // namespace synpref::chat::detail
