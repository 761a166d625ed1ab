// src/common/json.h: JSON records from files and field getters with located errors. Internal:
// its signatures use simdjson types, so it stays out of include/ (no public header exposes a
// third-party type).
//
// One getter set for every reader of JSON input (benchmark loaders, preference-data formats,
// tokenizer.json). Every error is a Status whose message names the field and, when a RecordWhere
// is given, the file and record: "<file>:12: field 'chosen' must be a string, found an integer".
// A missing required field is StatusCode::not_found; a field of the wrong type data_error.
//
// Benchmarks ship either a JSON array of objects (RM-Bench, RMB, LLMBar, `datasets` .to_json
// with lines=False) or JSON lines (JudgeBench, most exports). Both are read through one callback
// (for_each_record).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::json {

// Where a record came from, for error messages. A default RecordWhere (no path, record 0) locates
// nothing: messages are the bare field error (callers that keep file and line elsewhere, such as
// the preference-data reader's rejects).
struct RecordWhere {
  const std::string* path = nullptr;
  uint64_t record_no = 0;   // 1-based
  bool is_line = false;     // JSON lines: record_no is a line number
  std::string str() const;  // "path:12" (line), "path: record 12" (array element), or ""
};

using RecordFn = std::function<Status(simdjson::dom::object record, const RecordWhere& where)>;

// Calls `fn` for each object in `path` (plain, .gz or .zst). Blank lines are skipped. A
// non-object element or unparsable line is an error naming its location.
Status for_each_record(const std::string& path, const RecordFn& fn);

// Files under `path` (itself when a file) whose names end in .json or .jsonl, optionally
// followed by .gz or .zst, in sorted path order. Refuses a folder without such files.
Result<std::vector<std::string>> list_data_files(const std::string& path);

// "an array", "an object", "an integer", "a number", "a string", "a boolean", "null".
std::string type_name(simdjson::dom::element_type type);
// data_error "<where>: <message>" (just the message when `where` locates nothing).
Status located(const RecordWhere& where, const std::string& message);
// data_error "field '<field>' must be <expected>, found <type of value>", located.
Status wrong_type(const RecordWhere& where, std::string_view field, std::string_view expected,
                  simdjson::dom::element value);

// Field accessors. `what` names the record kind for the missing-field message, e.g. "RewardBench
// v1 record" (empty: no hint). Required getters fail with not_found when the field is absent;
// "optional" getters treat an absent or null field as "no value".
Result<std::string_view> get_string(simdjson::dom::object obj, std::string_view key, const RecordWhere& where,
                                    std::string_view what);
Result<std::optional<std::string_view>> get_optional_string(simdjson::dom::object obj, std::string_view key,
                                                            const RecordWhere& where, std::string_view what);
// A JSON string or integer, as text (integers in decimal). get_id refuses an empty string.
Result<std::string> get_id(simdjson::dom::object obj, std::string_view key, const RecordWhere& where,
                           std::string_view what);
Result<std::optional<std::string>> get_optional_id(simdjson::dom::object obj, std::string_view key,
                                                   const RecordWhere& where);
Result<int64_t> get_int(simdjson::dom::object obj, std::string_view key, const RecordWhere& where,
                        std::string_view what);
Result<std::optional<double>> get_optional_number(simdjson::dom::object obj, std::string_view key,
                                                  const RecordWhere& where);
Result<std::optional<bool>> get_optional_bool(simdjson::dom::object obj, std::string_view key,
                                              const RecordWhere& where);
Result<simdjson::dom::array> get_array(simdjson::dom::object obj, std::string_view key,
                                       const RecordWhere& where, std::string_view what);
Result<simdjson::dom::object> get_object(simdjson::dom::object obj, std::string_view key,
                                         const RecordWhere& where, std::string_view what);
// An array of strings.
Result<std::vector<std::string>> get_string_array(simdjson::dom::object obj, std::string_view key,
                                                  const RecordWhere& where, std::string_view what);
// The field's value when present (null included), for fields of several accepted shapes.
std::optional<simdjson::dom::element> find_field(simdjson::dom::object obj, std::string_view key);
bool has_field(simdjson::dom::object obj, std::string_view key);

}  // namespace synpref::json
