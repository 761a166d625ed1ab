#include <cmath>

#include <nlohmann/json.hpp>

#include "chat/jinja/interp.h"
#include "chat/jinja/value_internal.h"
#include "synpref/chat/value.h"
#include "synpref/common/check.h"
#include "synpref/common/text.h"

namespace synpref::chat {

using detail::DictData;
using detail::ListData;

Value Value::undefined_with(std::string message) {
  auto info = std::make_shared<detail::UndefinedInfo>();
  info->message = std::move(message);
  return Value(Undef{std::move(info)});
}

namespace detail {
thread_local AllocBudget* tls_alloc_budget = nullptr;
}

Value Value::string(std::string s) {
  detail::charge_alloc(sizeof(std::string) + s.size());
  return Value(StrPtr{std::make_shared<const std::string>(std::move(s))});
}

Value Value::list(std::vector<Value> items, SeqKind kind) {
  detail::charge_alloc(sizeof(ListData) + items.size() * sizeof(Value));
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->kind = kind;
  return Value(std::shared_ptr<const ListData>(std::move(data)));
}

Value Value::dict(std::vector<std::pair<Value, Value>> entries) {
  detail::charge_alloc(sizeof(DictData) + entries.size() * sizeof(std::pair<Value, Value>));
  auto data = std::make_shared<DictData>();
  data->entries.reserve(entries.size());
  for (auto& [k, v] : entries) {
    int64_t at = k.is_string() ? data->find_str(k.as_string()) : data->find(k);
    if (at >= 0)
      data->entries[static_cast<size_t>(at)].second = std::move(v);
    else
      data->entries.emplace_back(std::move(k), std::move(v));
  }
  return Value(std::shared_ptr<const DictData>(std::move(data)));
}

bool Value::as_bool() const {
  SP_CHECK(kind() == ValueKind::boolean);
  return std::get<bool>(v_);
}
int64_t Value::as_int() const {
  SP_CHECK(kind() == ValueKind::integer);
  return std::get<int64_t>(v_);
}
double Value::as_float() const {
  SP_CHECK(kind() == ValueKind::floating);
  return std::get<double>(v_);
}
const std::string& Value::as_string() const {
  SP_CHECK(kind() == ValueKind::string);
  return *std::get<StrPtr>(v_).s;
}
const std::shared_ptr<const std::string>& Value::string_ptr() const {
  SP_CHECK(kind() == ValueKind::string);
  return std::get<StrPtr>(v_).s;
}
const std::vector<Value>& Value::items() const {
  return list_data()->items;
}
SeqKind Value::seq_kind() const {
  return list_data()->kind;
}
const std::vector<std::pair<Value, Value>>& Value::entries() const {
  return dict_data()->entries;
}
const Value* Value::find(std::string_view key) const {
  int64_t at = dict_data()->find_str(key);
  return at < 0 ? nullptr : &dict_data()->entries[static_cast<size_t>(at)].second;
}

const std::shared_ptr<const detail::UndefinedInfo>& Value::undefined_info() const {
  SP_CHECK(kind() == ValueKind::undefined);
  return std::get<Undef>(v_).info;
}
const std::shared_ptr<const ListData>& Value::list_data() const {
  SP_CHECK(kind() == ValueKind::list);
  return std::get<std::shared_ptr<const ListData>>(v_);
}
const std::shared_ptr<const DictData>& Value::dict_data() const {
  SP_CHECK(kind() == ValueKind::dict);
  return std::get<std::shared_ptr<const DictData>>(v_);
}
const std::shared_ptr<const detail::CallableData>& Value::callable_data() const {
  SP_CHECK(kind() == ValueKind::callable);
  return std::get<std::shared_ptr<const detail::CallableData>>(v_);
}
const std::shared_ptr<detail::NamespaceData>& Value::namespace_data() const {
  SP_CHECK(kind() == ValueKind::namespace_object);
  return std::get<std::shared_ptr<detail::NamespaceData>>(v_);
}
const std::shared_ptr<detail::LoopData>& Value::loop_data() const {
  SP_CHECK(kind() == ValueKind::loop);
  return std::get<std::shared_ptr<detail::LoopData>>(v_);
}
const std::shared_ptr<detail::IteratorData>& Value::iterator_data() const {
  SP_CHECK(kind() == ValueKind::iterator);
  return std::get<std::shared_ptr<detail::IteratorData>>(v_);
}

namespace {

// Containers nested deeper than this are refused (the conversion recurses).
constexpr int kMaxJsonDepth = 512;

Status convert_json(const nlohmann::ordered_json& j, int depth, Value& out) {
  if (depth > kMaxJsonDepth)
    return data_error("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  switch (j.type()) {
    case nlohmann::detail::value_t::boolean:
      out = Value::boolean(j.get<bool>());
      return Status::ok();
    case nlohmann::detail::value_t::number_integer:
      out = Value::integer(j.get<int64_t>());
      return Status::ok();
    case nlohmann::detail::value_t::number_unsigned: {
      auto u = j.get<uint64_t>();
      out = u <= static_cast<uint64_t>(INT64_MAX) ? Value::integer(static_cast<int64_t>(u))
                                                  : Value::floating(static_cast<double>(u));
      return Status::ok();
    }
    case nlohmann::detail::value_t::number_float:
      out = Value::floating(j.get<double>());
      return Status::ok();
    case nlohmann::detail::value_t::string:
      out = Value::string(j.get_ref<const std::string&>());  // the parser validated UTF-8
      return Status::ok();
    case nlohmann::detail::value_t::array: {
      std::vector<Value> items(j.size());
      for (size_t i = 0; i < j.size(); ++i) SP_RETURN_IF_ERROR(convert_json(j[i], depth + 1, items[i]));
      out = Value::list(std::move(items));
      return Status::ok();
    }
    case nlohmann::detail::value_t::object: {
      std::vector<std::pair<Value, Value>> entries;
      entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        Value item;
        SP_RETURN_IF_ERROR(convert_json(it.value(), depth + 1, item));
        entries.emplace_back(Value::string(it.key()), std::move(item));
      }
      out = Value::dict(std::move(entries));
      return Status::ok();
    }
    default:
      out = Value::none();  // null (binary and discarded values do not come from JSON text)
      return Status::ok();
  }
}

}  // namespace

Result<Value> Value::parse_json(std::string_view json_text) {
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    return data_error(std::string("invalid JSON: ") + e.what());
  }
  Value out;
  SP_RETURN_IF_ERROR(convert_json(j, 0, out));
  return out;
}

namespace detail {

int64_t DictData::find_str(std::string_view key) const {
  for (size_t i = 0; i < entries.size(); ++i) {
    const Value& k = entries[i].first;
    if (k.is_string() && k.as_string() == key) return static_cast<int64_t>(i);
  }
  return -1;
}

int64_t DictData::find(const Value& key) const {
  if (key.is_string()) return find_str(key.as_string());
  for (size_t i = 0; i < entries.size(); ++i)
    if (py_equal(entries[i].first, key)) return static_cast<int64_t>(i);
  return -1;
}

const char* type_name(const Value& v) {
  switch (v.kind()) {
    case ValueKind::undefined:
      return "Undefined";
    case ValueKind::none:
      return "NoneType";
    case ValueKind::boolean:
      return "bool";
    case ValueKind::integer:
      return "int";
    case ValueKind::floating:
      return "float";
    case ValueKind::string:
      return "str";
    case ValueKind::list:
      switch (v.seq_kind()) {
        case SeqKind::list:
          return "list";
        case SeqKind::tuple:
          return "tuple";
        case SeqKind::dict_items:
          return "dict_items";
        case SeqKind::dict_keys:
          return "dict_keys";
        case SeqKind::dict_values:
          return "dict_values";
      }
      return "list";
    case ValueKind::dict:
      return "dict";
    case ValueKind::callable:
      switch (v.callable_data()->kind) {
        case CallableData::Kind::macro:
          return "Macro";
        case CallableData::Kind::builtin:
          return "function";
        case CallableData::Kind::method:
          return "builtin_function_or_method";
      }
      return "function";
    case ValueKind::namespace_object:
      return "Namespace";
    case ValueKind::loop:
      return "LoopContext";
    case ValueKind::iterator:
      return v.iterator_data()->type_name;
  }
  return "object";
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case ValueKind::undefined:
    case ValueKind::none:
      return false;
    case ValueKind::boolean:
      return v.as_bool();
    case ValueKind::integer:
      return v.as_int() != 0;
    case ValueKind::floating:
      return v.as_float() != 0.0;
    case ValueKind::string:
      return !v.as_string().empty();
    case ValueKind::list:
      return !v.items().empty();
    case ValueKind::dict:
      return !v.entries().empty();
    default:
      return true;  // callables, namespaces, loops, generators
  }
}

namespace {

bool numeric(const Value& v, double& d, int64_t& i, bool& is_int) {
  switch (v.kind()) {
    case ValueKind::boolean:
      i = v.as_bool();
      is_int = true;
      return true;
    case ValueKind::integer:
      i = v.as_int();
      is_int = true;
      return true;
    case ValueKind::floating:
      d = v.as_float();
      is_int = false;
      return true;
    default:
      return false;
  }
}

// Exact int == float comparison (Python compares the mathematical values).
bool int_equals_float(int64_t i, double d) {
  if (!std::isfinite(d) || d != std::trunc(d)) return false;
  if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) return false;
  return static_cast<int64_t>(d) == i;
}

}  // namespace

bool py_equal(const Value& a, const Value& b) {
  double da = 0, db = 0;
  int64_t ia = 0, ib = 0;
  bool a_int = false, b_int = false;
  if (numeric(a, da, ia, a_int) && numeric(b, db, ib, b_int)) {
    if (a_int && b_int) return ia == ib;
    if (a_int) return int_equals_float(ia, db);
    if (b_int) return int_equals_float(ib, da);
    return da == db;
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::undefined:
    case ValueKind::none:
      return true;
    case ValueKind::string:
      return a.as_string() == b.as_string();
    case ValueKind::list: {
      SeqKind ka = a.seq_kind(), kb = b.seq_kind();
      bool a_seq = ka == SeqKind::list || ka == SeqKind::tuple;
      if (a_seq && ka != kb) return false;
      if (!a_seq && ka != kb) return false;
      const auto& x = a.items();
      const auto& y = b.items();
      if (x.size() != y.size()) return false;
      if (ka == SeqKind::dict_keys || ka == SeqKind::dict_items) {
        // set semantics
        for (const auto& item : x) {
          bool found = false;
          for (const auto& other : y) found = found || py_equal(item, other);
          if (!found) return false;
        }
        return true;
      }
      if (ka == SeqKind::dict_values) return a.list_data() == b.list_data();
      for (size_t i = 0; i < x.size(); ++i)
        if (!py_equal(x[i], y[i])) return false;
      return true;
    }
    case ValueKind::dict: {
      const auto& x = a.entries();
      const auto& y = b.entries();
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x) {
        int64_t at = b.dict_data()->find(k);
        if (at < 0 || !py_equal(v, y[static_cast<size_t>(at)].second)) return false;
      }
      return true;
    }
    case ValueKind::callable: {
      const auto& ca = *a.callable_data();
      const auto& cb = *b.callable_data();
      if (&ca == &cb) return true;
      if (ca.kind != cb.kind) return false;
      if (ca.kind == CallableData::Kind::method)
        return ca.method == cb.method && py_equal(ca.receiver, cb.receiver);
      if (ca.kind == CallableData::Kind::builtin) return ca.fn == cb.fn;
      return ca.macro == cb.macro && ca.closure == cb.closure;
    }
    case ValueKind::namespace_object:
      return a.namespace_data() == b.namespace_data();
    case ValueKind::loop:
      return a.loop_data() == b.loop_data();
    case ValueKind::iterator:
      return a.iterator_data() == b.iterator_data();
    default:
      return false;
  }
}

bool is_hashable(const Value& v) {
  switch (v.kind()) {
    case ValueKind::dict:
    case ValueKind::namespace_object:
      return false;
    case ValueKind::list: {
      SeqKind k = v.seq_kind();
      if (k != SeqKind::tuple) return false;
      for (const auto& item : v.items())
        if (!is_hashable(item)) return false;
      return true;
    }
    default:
      return true;
  }
}

}  // namespace detail
}  // namespace synpref::chat
