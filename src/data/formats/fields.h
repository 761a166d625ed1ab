// src/data/formats/fields.h: what every input format's converter shares: the reject reason
// (Bad), field getters over common/json that turn its errors into reject codes, and message lists.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "synpref/common/status.h"
#include "synpref/data/record.h"

namespace synpref::data::formats {

using simdjson::dom::element;
using simdjson::dom::object;

// A conversion failure: a reject code + reason, turned into a Reject (with file and line) by the
// reader.
struct Bad {
  std::string code;
  std::string reason;
};

// A common/json field error as a reject: a missing field is "missing_field", any other "type".
Bad field_error(const Status& status);
// "field '<field>' must be <expected>, found <type>" as a "type" reject.
Bad wrong_type(std::string_view field, std::string_view expected, element value);

// Optional lookup: returns false when absent (a null value is present).
bool find(object obj, std::string_view key, element* out);
// A string field; absent or null -> "" unless required (then missing_field).
bool get_string(object obj, std::string_view key, std::string& out, Bad& bad, bool required);
// An id: a string or an integer in source data; absent or null leaves `out` unchanged.
bool get_id(object obj, std::string_view key, std::string& out, Bad& bad);
// A number; absent or null -> nullopt.
bool get_number(object obj, std::string_view key, std::optional<double>& out, Bad& bad);

// Message content: a string, or a list of {"type":"text","text":...} parts (concatenated).
bool get_content(element e, std::string_view field, std::string& out, Bad& bad);
// A list of {"role", "content"} messages.
bool parse_messages(element e, std::string_view field, std::vector<Turn>& out, Bad& bad);

}  // namespace synpref::data::formats
