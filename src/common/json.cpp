#include "common/json.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "synpref/common/io.h"
#include "synpref/common/text.h"

namespace synpref::json {

namespace fs = std::filesystem;
using simdjson::dom::element_type;

std::string RecordWhere::str() const {
  if (path == nullptr && record_no == 0) return "";
  std::string p = path ? *path : std::string("<input>");
  if (is_line) return p + ":" + std::to_string(record_no);
  return p + ": record " + std::to_string(record_no);
}

std::string type_name(element_type type) {
  switch (type) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
      return "an integer";
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

Status located(const RecordWhere& where, const std::string& message) {
  std::string at = where.str();
  return data_error(at.empty() ? message : at + ": " + message);
}

Status wrong_type(const RecordWhere& where, std::string_view field, std::string_view expected,
                  simdjson::dom::element value) {
  return located(where, "field '" + std::string(field) + "' must be " + std::string(expected) + ", found " +
                            type_name(value.type()));
}

namespace {

Result<simdjson::dom::element> get_field(simdjson::dom::object obj, std::string_view key,
                                         const RecordWhere& where, std::string_view what) {
  simdjson::dom::element value;
  if (obj.at_key(key).get(value) != simdjson::SUCCESS) {
    std::string message = "missing field '" + std::string(key) + "'";
    if (!what.empty()) {
      message += " (" + std::string(what) + "); is this file in the benchmark's released format?";
    }
    return Status(StatusCode::not_found, located(where, message).message());
  }
  return value;
}

Status check_utf8(std::string_view s, std::string_view key, const RecordWhere& where) {
  // simdjson validates UTF-8 of the whole document; this guards strings reaching the report.
  if (!text::is_valid_utf8(s)) return located(where, "field '" + std::string(key) + "' is not valid UTF-8");
  return Status::ok();
}

}  // namespace

Status for_each_record(const std::string& path, const RecordFn& fn) {
  SP_ASSIGN_OR_RETURN(std::string bytes, io::read_file(path));
  // A UTF-8 byte-order mark (some Windows exports) is not part of the JSON.
  size_t start = (bytes.size() >= 3 && bytes.compare(0, 3, "\xef\xbb\xbf") == 0) ? 3 : 0;
  size_t first = start;
  while (first < bytes.size() &&
         (bytes[first] == ' ' || bytes[first] == '\n' || bytes[first] == '\r' || bytes[first] == '\t')) {
    ++first;
  }
  if (first == bytes.size()) return data_error(path + ": file is empty; expected JSON records");
  simdjson::dom::parser parser;
  RecordWhere where;
  where.path = &path;
  if (bytes[first] == '[') {
    simdjson::padded_string padded(std::string_view(bytes).substr(first));
    simdjson::dom::element doc;
    auto err = parser.parse(padded).get(doc);
    if (err) {
      return data_error(path + ": not valid JSON (" + simdjson::error_message(err) +
                        "); expected a JSON array of records or JSON lines");
    }
    simdjson::dom::array array = doc.get_array().value_unsafe();
    uint64_t index = 0;
    for (simdjson::dom::element element : array) {
      where.record_no = ++index;
      where.is_line = false;
      if (element.type() != element_type::OBJECT) {
        return located(where, "expected a JSON object, found " + type_name(element.type()));
      }
      SP_RETURN_IF_ERROR(fn(element.get_object().value_unsafe(), where));
    }
    return Status::ok();
  }
  size_t pos = start;
  uint64_t line_no = 0;
  while (pos < bytes.size()) {
    size_t end = bytes.find('\n', pos);
    if (end == std::string::npos) end = bytes.size();
    std::string_view line = text::trim(std::string_view(bytes).substr(pos, end - pos));
    ++line_no;
    pos = end + 1;
    if (line.empty()) continue;
    where.record_no = line_no;
    where.is_line = true;
    simdjson::dom::element doc;
    auto err = parser.parse(line.data(), line.size(), true).get(doc);
    if (err) return located(where, std::string("not valid JSON (") + simdjson::error_message(err) + ")");
    if (doc.type() != element_type::OBJECT) {
      return located(where, "expected a JSON object per line, found " + type_name(doc.type()));
    }
    SP_RETURN_IF_ERROR(fn(doc.get_object().value_unsafe(), where));
  }
  return Status::ok();
}

Result<std::vector<std::string>> list_data_files(const std::string& path) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return not_found(path + ": no such file or folder");
  if (fs::is_regular_file(status)) return std::vector<std::string>{path};
  if (!fs::is_directory(status)) return invalid_argument(path + ": not a file or folder");
  auto is_data = [](const std::string& name) {
    std::string n = name;
    for (const char* z : {".gz", ".zst"}) {
      size_t len = std::string_view(z).size();
      if (n.size() > len && n.compare(n.size() - len, len, z) == 0) n.resize(n.size() - len);
    }
    auto ends = [&](std::string_view suffix) {
      return n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    return ends(".json") || ends(".jsonl");
  };
  std::vector<std::string> files;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file() && is_data(it->path().filename().string()))
      files.push_back(it->path().string());
  }
  if (ec) return io_error(path + ": cannot walk folder (" + ec.message() + ")");
  if (files.empty()) return not_found(path + ": folder holds no .json or .jsonl files");
  std::sort(files.begin(), files.end());
  return files;
}

Result<std::string_view> get_string(simdjson::dom::object obj, std::string_view key, const RecordWhere& where,
                                    std::string_view what) {
  SP_ASSIGN_OR_RETURN(simdjson::dom::element value, get_field(obj, key, where, what));
  if (value.type() != element_type::STRING) {
    return wrong_type(where, key, "a string", value);
  }
  std::string_view s = value.get_string().value_unsafe();
  SP_RETURN_IF_ERROR(check_utf8(s, key, where));
  return s;
}

Result<std::optional<std::string_view>> get_optional_string(simdjson::dom::object obj, std::string_view key,
                                                            const RecordWhere& where, std::string_view what) {
  simdjson::dom::element value;
  if (obj.at_key(key).get(value) != simdjson::SUCCESS || value.type() == element_type::NULL_VALUE) {
    return std::optional<std::string_view>();
  }
  if (value.type() != element_type::STRING) {
    return wrong_type(where, key, "a string", value);
  }
  return std::optional<std::string_view>(value.get_string().value_unsafe());
}

Result<std::string> get_id(simdjson::dom::object obj, std::string_view key, const RecordWhere& where,
                           std::string_view what) {
  SP_ASSIGN_OR_RETURN(simdjson::dom::element value, get_field(obj, key, where, what));
  switch (value.type()) {
    case element_type::STRING: {
      std::string_view s = value.get_string().value_unsafe();
      SP_RETURN_IF_ERROR(check_utf8(s, key, where));
      if (s.empty()) return located(where, "field '" + std::string(key) + "' (the item id) is empty");
      return std::string(s);
    }
    case element_type::INT64:
      return std::to_string(value.get_int64().value_unsafe());
    case element_type::UINT64:
      return std::to_string(value.get_uint64().value_unsafe());
    default:
      return located(where, "field '" + std::string(key) +
                                "' (the item id) must be a string or integer, found " +
                                type_name(value.type()));
  }
}

Result<int64_t> get_int(simdjson::dom::object obj, std::string_view key, const RecordWhere& where,
                        std::string_view what) {
  SP_ASSIGN_OR_RETURN(simdjson::dom::element value, get_field(obj, key, where, what));
  if (value.type() == element_type::INT64) return value.get_int64().value_unsafe();
  if (value.type() == element_type::UINT64) {
    uint64_t u = value.get_uint64().value_unsafe();
    if (u <= uint64_t(INT64_MAX)) return int64_t(u);
  }
  // pandas exports integer columns with nulls as floats (3.0): accept exact integers.
  if (value.type() == element_type::DOUBLE) {
    double d = value.get_double().value_unsafe();
    if (d == double(int64_t(d))) return int64_t(d);
  }
  return wrong_type(where, key, "an integer", value);
}

Result<simdjson::dom::array> get_array(simdjson::dom::object obj, std::string_view key,
                                       const RecordWhere& where, std::string_view what) {
  SP_ASSIGN_OR_RETURN(simdjson::dom::element value, get_field(obj, key, where, what));
  if (value.type() != element_type::ARRAY) {
    return wrong_type(where, key, "an array", value);
  }
  return value.get_array().value_unsafe();
}

Result<simdjson::dom::object> get_object(simdjson::dom::object obj, std::string_view key,
                                         const RecordWhere& where, std::string_view what) {
  SP_ASSIGN_OR_RETURN(simdjson::dom::element value, get_field(obj, key, where, what));
  if (value.type() != element_type::OBJECT) {
    return wrong_type(where, key, "an object", value);
  }
  return value.get_object().value_unsafe();
}

Result<std::vector<std::string>> get_string_array(simdjson::dom::object obj, std::string_view key,
                                                  const RecordWhere& where, std::string_view what) {
  SP_ASSIGN_OR_RETURN(simdjson::dom::array array, get_array(obj, key, where, what));
  std::vector<std::string> out;
  size_t index = 0;
  for (simdjson::dom::element element : array) {
    if (element.type() != element_type::STRING) {
      return located(where, "field '" + std::string(key) + "'[" + std::to_string(index) +
                                "] must be a string, found " + type_name(element.type()));
    }
    std::string_view s = element.get_string().value_unsafe();
    SP_RETURN_IF_ERROR(check_utf8(s, key, where));
    out.emplace_back(s);
    ++index;
  }
  return out;
}

Result<std::optional<std::string>> get_optional_id(simdjson::dom::object obj, std::string_view key,
                                                   const RecordWhere& where) {
  auto value = find_field(obj, key);
  if (!value || value->is_null()) return std::optional<std::string>();
  if (value->is_string()) return std::optional<std::string>(std::string(value->get_string().value_unsafe()));
  if (value->is_int64()) return std::optional<std::string>(std::to_string(value->get_int64().value_unsafe()));
  if (value->is_uint64())
    return std::optional<std::string>(std::to_string(value->get_uint64().value_unsafe()));
  return wrong_type(where, key, "a string or an integer", *value);
}

Result<std::optional<double>> get_optional_number(simdjson::dom::object obj, std::string_view key,
                                                  const RecordWhere& where) {
  auto value = find_field(obj, key);
  if (!value || value->is_null()) return std::optional<double>();
  if (!value->is_number()) return wrong_type(where, key, "a number", *value);
  return std::optional<double>(value->get_double().value_unsafe());
}

Result<std::optional<bool>> get_optional_bool(simdjson::dom::object obj, std::string_view key,
                                              const RecordWhere& where) {
  auto value = find_field(obj, key);
  if (!value || value->is_null()) return std::optional<bool>();
  if (!value->is_bool()) return wrong_type(where, key, "true or false", *value);
  return std::optional<bool>(value->get_bool().value_unsafe());
}

std::optional<simdjson::dom::element> find_field(simdjson::dom::object obj, std::string_view key) {
  simdjson::dom::element value;
  if (obj.at_key(key).get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

bool has_field(simdjson::dom::object obj, std::string_view key) {
  simdjson::dom::element value;
  return obj.at_key(key).get(value) == simdjson::SUCCESS;
}

}  // namespace synpref::json
