// src/eval/load.h: what every benchmark loader shares: the Dataset builder (file hashes, unique
// ids) and the conversation reader. The per-benchmark loaders live in benchmarks/<name>.cpp.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/json.h"
#include "synpref/common/status.h"
#include "synpref/eval/benchmark.h"

namespace synpref::eval {

// The JSON getters and record locations of common/json.h, unqualified in every benchmark file.
using namespace synpref::json;

// Collects a Dataset's items and files; enforces unique ids.
class DatasetBuilder {
 public:
  explicit DatasetBuilder(std::string benchmark) { dataset_.benchmark = std::move(benchmark); }

  // Starts a data file: hashes it and makes it the file of the items added next.
  Status begin_file(const std::string& path);
  // Adds an item of the current file, read at `where`. Refuses an id seen before, naming both places.
  Status add(Item item, const RecordWhere& where);
  // Counts a record read but not turned into an item (the Dataset reports count and reason).
  void exclude(const std::string& reason);
  // The Dataset; refuses one without items, naming `path`.
  Result<Dataset> finish(const std::string& path);

 private:
  Dataset dataset_;
  std::unordered_map<std::string, std::string> first_seen_;
};

// The conversation in field `key`: a string (one user turn) or a list of {role, content}
// messages (roles user/human, assistant/gpt/bot/model, system). `what` names the record kind.
Result<std::vector<data::Turn>> read_context(simdjson::dom::object obj, std::string_view key,
                                             const RecordWhere& where, std::string_view what);

}  // namespace synpref::eval
