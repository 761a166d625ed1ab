// src/chat/jinja/value_internal.h: payloads behind synpref::chat::Value (interpreter-internal).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "synpref/chat/value.h"

namespace synpref::chat::detail {

struct Stmt;
struct Frame;

// Bytes of strings, lists and dicts created by the render running on this thread (cumulative, not
// live: a template that rebuilds a growing value pays for every copy, which also bounds the time
// such loops take). Value's factories charge it; the interpreter checks it at every step
// (RenderLimits::max_alloc_bytes). Null outside renders: compiling and building contexts are free.
struct AllocBudget {
  uint64_t used = 0;
};
extern thread_local AllocBudget* tls_alloc_budget;
inline void charge_alloc(uint64_t bytes) {
  if (AllocBudget* budget = tls_alloc_budget) budget->used += bytes;
}

struct UndefinedInfo {
  std::string message;  // what using the value reports, e.g. "'foo' is undefined"
};

struct ListData {
  std::vector<Value> items;
  SeqKind kind = SeqKind::list;
};

struct DictData {
  std::vector<std::pair<Value, Value>> entries;

  // Entry index for a string key, or -1.
  int64_t find_str(std::string_view key) const;
  // Entry index for any hashable key with Python equality (1 == 1.0 == True), or -1.
  int64_t find(const Value& key) const;
};

// Global functions of the environment.
enum class BuiltinFn : uint8_t {
  range,
  dict,
  namespace_,
  raise_exception,
  strftime_now,
  joiner,
  cycler,
  lipsum
};

// Methods of str, dict, list and loop objects reachable from templates.
enum class Method : uint8_t {
  // str
  str_strip,
  str_lstrip,
  str_rstrip,
  str_split,
  str_rsplit,
  str_splitlines,
  str_startswith,
  str_endswith,
  str_upper,
  str_lower,
  str_title,
  str_capitalize,
  str_swapcase,
  str_replace,
  str_find,
  str_rfind,
  str_index,
  str_rindex,
  str_count,
  str_join,
  str_format,
  str_isdigit,
  str_isdecimal,
  str_isnumeric,
  str_isalpha,
  str_isalnum,
  str_isspace,
  str_isupper,
  str_islower,
  str_removeprefix,
  str_removesuffix,
  str_partition,
  str_rpartition,
  str_ljust,
  str_rjust,
  str_center,
  str_zfill,
  // dict
  dict_get,
  dict_items,
  dict_keys,
  dict_values,
  dict_copy,
  // list / tuple
  list_index,
  list_count,
  list_copy,
  // loop
  loop_cycle,
  loop_changed,
  // mutating methods the immutable sandbox refuses (SecurityError in Jinja2)
  unsafe,
};

struct CallableData {
  enum class Kind : uint8_t { macro, builtin, method };
  Kind kind = Kind::builtin;
  std::string name;
  // macro
  const Stmt* macro = nullptr;
  std::shared_ptr<Frame> closure;  // the frame the macro was defined in
  // builtin
  BuiltinFn fn = BuiltinFn::range;
  // method
  Method method = Method::unsafe;
  Value receiver;
};

struct NamespaceData {
  std::vector<std::pair<std::string, Value>> attrs;
  Value* find(std::string_view name) {
    for (auto& [k, v] : attrs)
      if (k == name) return &v;
    return nullptr;
  }
};

struct LoopData {
  std::shared_ptr<const std::vector<Value>> items;
  int64_t index0 = 0;
  Value last_changed;
  bool changed_called = false;
};

// A one-shot iterator (Python generator or reversed()). Iteration consumes it.
struct IteratorData {
  std::vector<Value> items;
  size_t pos = 0;
  const char* type_name = "generator";
};

}  // namespace synpref::chat::detail
