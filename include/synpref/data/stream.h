// synpref/data/stream.h: records from many input files, with rejects logged and counted.
//
// The building block of every `synpref data` command and of the curation pipeline: iterate
// records in input order with bounded memory; bad records go to the RejectLog (file, line, code,
// reason) unless `strict`, where the first one stops the stream with an error naming it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "synpref/common/progress.h"
#include "synpref/data/reader.h"
#include "synpref/data/writer.h"

namespace synpref::data {

struct StreamOptions {
  ReadOptions read;
  bool strict = false;
  std::string rejects_path;  // "" = count rejects without writing them
  bool progress = true;      // progress bar on a TTY (never in CI or pipes)
  std::string label = "reading";
};

struct StreamCounters {
  uint64_t files = 0;
  uint64_t records = 0;
  uint64_t rejects = 0;
  uint64_t bytes_read = 0;  // raw (compressed) input bytes
  uint64_t empty_responses_kept = 0;
  std::map<std::string, uint64_t> rejects_by_code;
};

class RecordStream {
 public:
  static Result<std::unique_ptr<RecordStream>> open(std::vector<std::string> inputs, StreamOptions options);
  // Fills `record` and returns true, or false after the last input. Errors: I/O, corrupt files,
  // and (strict) the first bad record.
  Result<bool> next(Record& record);
  // Where the last returned record came from.
  const std::string& current_file() const { return inputs_[file_idx_]; }
  // Closes the rejects file. Call once at the end.
  Status close();
  // After close(): fails (data_error) when the inputs held no usable record, because every one
  // was rejected or there were none, saying how many were rejected, by code, and where they are
  // listed. A command whose output would be empty for that reason must not report success.
  Status check_usable() const;
  const StreamCounters& counters() const { return counters_; }
  const std::string& rejects_path() const { return options_.rejects_path; }

 private:
  RecordStream() = default;
  std::vector<std::string> inputs_;
  StreamOptions options_;
  size_t file_idx_ = 0;
  std::unique_ptr<RecordReader> reader_;
  std::unique_ptr<RejectLog> rejects_;
  std::unique_ptr<Progress> progress_;
  uint64_t total_bytes_ = 0, done_bytes_ = 0;
  StreamCounters counters_;
  Reject reject_;
};

// Default rejects path for a command writing `output`: "<output>.rejects.jsonl", or
// "synpref.rejects.jsonl" when the output is stdout or absent.
std::string default_rejects_path(const std::string& output);

}  // namespace synpref::data
