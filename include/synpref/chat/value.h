// synpref/chat/value.h: the values a chat template computes with.
//
// A Value is a small, cheaply copyable variant that mirrors the Python objects Jinja2 templates see
// when transformers renders a chat template: None, bool, int, float, str, list, tuple, dict (insertion
// ordered, as Python's), plus the template-only kinds (undefined, callable, namespace, loop,
// iterator). Strings are UTF-8 and indexed by code point where Python would be.
//
// Containers are immutable once built (the renderer runs in the equivalent of Jinja2's
// ImmutableSandboxedEnvironment); copies share storage. Only a namespace() object is mutable, and only
// through `{% set ns.attr = ... %}`.
//
// Context values are built with the factories below or parsed from JSON text: Value::parse_json maps
// objects to dicts (in the order of the text), arrays to lists, integers to int, other numbers to
// float, as Python's json.loads does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::chat {

class Value;

namespace detail {
struct UndefinedInfo;
struct ListData;
struct DictData;
struct CallableData;
struct NamespaceData;
struct LoopData;
struct IteratorData;
}  // namespace detail

enum class ValueKind : uint8_t {
  undefined,  // a missing variable/attribute: prints empty, is falsy; most other uses are errors
  none,
  boolean,
  integer,   // int64 (Python ints are unbounded: overflow is a render error, not wraparound)
  floating,  // double
  string,    // UTF-8
  list,      // list, tuple or a dict view (dict_items/keys/values)
  dict,
  callable,  // macro, builtin function or bound method
  namespace_object,
  loop,      // the `loop` variable inside a for loop
  iterator,  // a one-shot generator (results of select/map/reverse...), as in Jinja2
};

// Sequence flavours sharing ListData: they differ in repr, equality and subscripting.
enum class SeqKind : uint8_t { list, tuple, dict_items, dict_keys, dict_values };

class Value {
 public:
  Value() : v_(Undef{}) {}  // undefined

  static Value undefined() { return Value(); }
  // An undefined value whose use raises `message` (e.g. "'foo' is undefined").
  static Value undefined_with(std::string message);
  static Value none() { return Value(None{}); }
  static Value boolean(bool b) { return Value(b); }
  static Value integer(int64_t i) { return Value(i); }
  static Value floating(double d) { return Value(d); }
  static Value string(std::string s);
  static Value string(std::shared_ptr<const std::string> s) { return Value(StrPtr{std::move(s)}); }
  static Value list(std::vector<Value> items, SeqKind kind = SeqKind::list);
  static Value tuple(std::vector<Value> items) { return list(std::move(items), SeqKind::tuple); }
  // Later duplicates of an equal key replace the earlier value but keep its position (Python dict).
  static Value dict(std::vector<std::pair<Value, Value>> entries);

  // JSON text -> Value, as Python's json.loads: objects keep the order of the text (a repeated key
  // keeps its first position and its last value), integers beyond int64 become floats. Errors:
  // malformed JSON or invalid UTF-8, with the byte offset.
  static Result<Value> parse_json(std::string_view json_text);

  ValueKind kind() const { return static_cast<ValueKind>(v_.index()); }
  bool is_undefined() const { return kind() == ValueKind::undefined; }
  bool is_none() const { return kind() == ValueKind::none; }
  bool is_bool() const { return kind() == ValueKind::boolean; }
  bool is_int() const { return kind() == ValueKind::integer; }
  bool is_float() const { return kind() == ValueKind::floating; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind() == ValueKind::string; }
  bool is_list() const { return kind() == ValueKind::list; }
  bool is_dict() const { return kind() == ValueKind::dict; }

  // Accessors: precondition is the matching kind (checked, a mismatch is a bug).
  bool as_bool() const;
  int64_t as_int() const;
  double as_float() const;
  const std::string& as_string() const;
  const std::shared_ptr<const std::string>& string_ptr() const;
  const std::vector<Value>& items() const;  // list/tuple/view items
  SeqKind seq_kind() const;
  const std::vector<std::pair<Value, Value>>& entries() const;  // dict entries in order
  // Dict lookup by string key; nullptr when absent. Precondition: is_dict().
  const Value* find(std::string_view key) const;

  // Internal payloads (used by the interpreter).
  const std::shared_ptr<const detail::UndefinedInfo>& undefined_info() const;
  const std::shared_ptr<const detail::ListData>& list_data() const;
  const std::shared_ptr<const detail::DictData>& dict_data() const;
  const std::shared_ptr<const detail::CallableData>& callable_data() const;
  const std::shared_ptr<detail::NamespaceData>& namespace_data() const;
  const std::shared_ptr<detail::LoopData>& loop_data() const;
  const std::shared_ptr<detail::IteratorData>& iterator_data() const;

  explicit Value(std::shared_ptr<const detail::ListData> p) : v_(std::move(p)) {}
  explicit Value(std::shared_ptr<const detail::DictData> p) : v_(std::move(p)) {}
  explicit Value(std::shared_ptr<const detail::CallableData> p) : v_(std::move(p)) {}
  explicit Value(std::shared_ptr<detail::NamespaceData> p) : v_(std::move(p)) {}
  explicit Value(std::shared_ptr<detail::LoopData> p) : v_(std::move(p)) {}
  explicit Value(std::shared_ptr<detail::IteratorData> p) : v_(std::move(p)) {}

 private:
  struct Undef {
    std::shared_ptr<const detail::UndefinedInfo> info;  // null: plain undefined
  };
  struct None {};
  struct StrPtr {
    std::shared_ptr<const std::string> s;
  };
  explicit Value(Undef u) : v_(std::move(u)) {}
  explicit Value(None n) : v_(n) {}
  explicit Value(bool b) : v_(b) {}
  explicit Value(int64_t i) : v_(i) {}
  explicit Value(double d) : v_(d) {}
  explicit Value(StrPtr s) : v_(std::move(s)) {}

  // Order matches ValueKind.
  std::variant<Undef, None, bool, int64_t, double, StrPtr, std::shared_ptr<const detail::ListData>,
               std::shared_ptr<const detail::DictData>, std::shared_ptr<const detail::CallableData>,
               std::shared_ptr<detail::NamespaceData>, std::shared_ptr<detail::LoopData>,
               std::shared_ptr<detail::IteratorData>>
      v_;
};

}  // namespace synpref::chat
