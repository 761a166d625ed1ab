// src/eval/json_input.h: records from JSON-array or JSON-lines files, with located errors.
//
// Benchmarks ship either a JSON array of objects (RM-Bench, RMB, LLMBar, `datasets` .to_json
// with lines=False) or JSON lines (JudgeBench, most exports). Both are read through one
// callback; every error names the file and the record (array) or line (JSON lines).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::eval {

// Where a record came from, for error messages.
struct RecordWhere {
  const std::string* path = nullptr;
  uint64_t record_no = 0;   // 1-based
  bool is_line = false;     // JSON lines: record_no is a line number
  std::string str() const;  // "path:12" (line) or "path: record 12" (array element)
};

using RecordFn = std::function<Status(simdjson::dom::object record, const RecordWhere& where)>;

// Calls `fn` for each object in `path` (plain, .gz or .zst). Blank lines are skipped. A
// non-object element or unparsable line is an error naming its location.
Status for_each_record(const std::string& path, const RecordFn& fn);

// Files under `path` (itself when a file) whose names end in .json or .jsonl, optionally
// followed by .gz or .zst, in sorted path order. Refuses a folder without such files.
Result<std::vector<std::string>> list_data_files(const std::string& path);

// Field accessors. `what` names the record kind for the message, e.g. "RewardBench v1 record".
Result<std::string_view> get_string(simdjson::dom::object obj, std::string_view key, const RecordWhere& where,
                                    std::string_view what);
Result<std::optional<std::string_view>> get_optional_string(simdjson::dom::object obj, std::string_view key,
                                                            const RecordWhere& where, std::string_view what);
// A JSON string or integer, as text (integers in decimal).
Result<std::string> get_id(simdjson::dom::object obj, std::string_view key, const RecordWhere& where,
                           std::string_view what);
Result<int64_t> get_int(simdjson::dom::object obj, std::string_view key, const RecordWhere& where,
                        std::string_view what);
Result<simdjson::dom::array> get_array(simdjson::dom::object obj, std::string_view key,
                                       const RecordWhere& where, std::string_view what);
Result<simdjson::dom::object> get_object(simdjson::dom::object obj, std::string_view key,
                                         const RecordWhere& where, std::string_view what);
// An array of strings.
Result<std::vector<std::string>> get_string_array(simdjson::dom::object obj, std::string_view key,
                                                  const RecordWhere& where, std::string_view what);
bool has_field(simdjson::dom::object obj, std::string_view key);

}  // namespace synpref::eval
