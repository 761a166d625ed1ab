#include "data/formats/fields.h"

namespace synpref::data::formats {

namespace {
// The reader keeps file and line beside each reject, so field errors carry no location.
const json::RecordWhere kUnlocated{};
}  // namespace

Bad field_error(const Status& status) {
  return {status.code() == StatusCode::not_found ? "missing_field" : "type", status.message()};
}

Bad wrong_type(std::string_view field, std::string_view expected, element value) {
  return field_error(json::wrong_type(kUnlocated, field, expected, value));
}

bool find(object obj, std::string_view key, element* out) {
  auto value = json::find_field(obj, key);
  if (!value) return false;
  *out = *value;
  return true;
}

bool get_string(object obj, std::string_view key, std::string& out, Bad& bad, bool required) {
  auto value = json::get_optional_string(obj, key, kUnlocated, "");
  if (!value.is_ok()) {
    bad = field_error(value.status());
    return false;
  }
  if (!value->has_value()) {
    if (required) {
      bad = {"missing_field", "missing required field '" + std::string(key) + "'"};
      return false;
    }
    out.clear();
    return true;
  }
  out.assign(value->value().data(), value->value().size());
  return true;
}

bool get_id(object obj, std::string_view key, std::string& out, Bad& bad) {
  auto value = json::get_optional_id(obj, key, kUnlocated);
  if (!value.is_ok()) {
    bad = field_error(value.status());
    return false;
  }
  if (value->has_value()) out = std::move(value->value());
  return true;
}

bool get_number(object obj, std::string_view key, std::optional<double>& out, Bad& bad) {
  auto value = json::get_optional_number(obj, key, kUnlocated);
  if (!value.is_ok()) {
    bad = field_error(value.status());
    return false;
  }
  out = *value;
  return true;
}

bool get_content(element e, std::string_view field, std::string& out, Bad& bad) {
  if (e.is_string()) {
    std::string_view sv = e.get_string().value_unsafe();
    out.assign(sv.data(), sv.size());
    return true;
  }
  if (e.is_array()) {
    out.clear();
    size_t part_idx = 0;
    simdjson::dom::array parts = e.get_array().value_unsafe();
    for (element part : parts) {
      std::string where = std::string(field) + "[" + std::to_string(part_idx++) + "]";
      if (!part.is_object()) {
        bad = wrong_type(where, "a content part object", part);
        return false;
      }
      object p = part.get_object().value_unsafe();
      std::string type, text;
      if (!get_string(p, "type", type, bad, true)) return false;
      if (type != "text") {
        bad = {"type", where + ": content part type '" + type + "' is not supported (text only)"};
        return false;
      }
      if (!get_string(p, "text", text, bad, true)) return false;
      out += text;
    }
    return true;
  }
  if (e.is_null()) {
    bad = {"type", "field '" + std::string(field) + "' is null (tool calls without text are not supported)"};
    return false;
  }
  bad = wrong_type(field, "a string or a list of text parts", e);
  return false;
}

bool parse_messages(element e, std::string_view field, std::vector<Turn>& out, Bad& bad) {
  if (!e.is_array()) {
    bad = wrong_type(field, "a list of messages", e);
    return false;
  }
  out.clear();
  size_t idx = 0;
  simdjson::dom::array messages = e.get_array().value_unsafe();
  for (element m : messages) {
    std::string where = std::string(field) + "[" + std::to_string(idx++) + "]";
    if (!m.is_object()) {
      bad = wrong_type(where, "a message object", m);
      return false;
    }
    object obj = m.get_object().value_unsafe();
    std::string role;
    if (!get_string(obj, "role", role, bad, true)) {
      bad.reason = where + ": " + bad.reason;
      return false;
    }
    auto parsed = parse_role(role);
    if (!parsed) {
      bad = {"role", where + ".role: unknown role '" + role + "' (expected system, user, assistant or tool)"};
      return false;
    }
    element content;
    Turn turn;
    turn.role = *parsed;
    if (!find(obj, "content", &content)) {
      bad = {"missing_field", where + ": missing required field 'content'"};
      return false;
    }
    if (!get_content(content, where + ".content", turn.content, bad)) return false;
    out.push_back(std::move(turn));
  }
  return true;
}

}  // namespace synpref::data::formats
