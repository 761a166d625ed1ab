// synpref/data/writer.h: canonical JSONL output and the rejects file.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "synpref/common/io.h"
#include "synpref/data/reader.h"
#include "synpref/data/record.h"

namespace synpref::data {

// Appends one canonical JSONL line (with '\n') for `record`. Deterministic: fixed key order,
// optional fields omitted when empty, shortest round-trip numbers; so reading canonical and
// writing it again is byte-identical. Precondition: strings are valid UTF-8 (the reader ensures it).
void append_canonical(std::string& out, const Record& record);

// Rejects file: one JSON line per bad record
//   {"file": ..., "line": N, "code": "...", "reason": "...", "raw": "<record text, truncated>"}
// and counts by code.
class RejectLog {
 public:
  // path "" = count only (no file).
  static Result<std::unique_ptr<RejectLog>> open(const std::string& path);
  void add(const Reject& reject);
  Status close();
  uint64_t total() const { return total_; }
  const std::map<std::string, uint64_t>& by_code() const { return by_code_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<io::Writer> writer_;
  uint64_t total_ = 0;
  std::map<std::string, uint64_t> by_code_;
};

}  // namespace synpref::data
