// synpref/data/reader.h: reading preference data in every supported format.
//
// Formats (auto-detected per record from its keys, or forced):
//   canonical  synpref's own JSONL (docs/formats/canonical-jsonl.md): {"id","kind","context",...}
//   chat       conversational "chosen"/"rejected" message lists sharing a prefix
//              (Skywork-Reward-Preference-80K, TRL conversational, OpenRLHF)
//   prompt     TRL "prompt"/"chosen"/"rejected", each a string or a message list
//   hh         Anthropic hh-rlhf transcripts "\n\nHuman: ...\n\nAssistant: ..."
//   rmb        RMB pairwise (conversation_input, chosen, reject) and best-of-N (bon_best, loser_list)
// Files are JSONL, or one JSON array (RMB, RM-Bench style .json files); plain, gzip or zstd.
// Every record is validated; a bad record becomes a Reject (file, line, code, reason), never a
// silent drop and never a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "synpref/common/io.h"
#include "synpref/common/status.h"
#include "synpref/data/record.h"

namespace synpref::data {

enum class Format { auto_detect, canonical, chat, prompt, hh, rmb };
std::string_view format_name(Format format);
Result<Format> parse_format(std::string_view name);  // "auto", "canonical", ...

// What to do with a response that is empty after trimming whitespace.
//   auto   reject, except in hh-rlhf transcripts, where an empty final "Assistant:" turn is an
//          explicit, labelled outcome (4 such pairs in harmless-base test); those are kept and
//          counted as empty_responses_kept; and in canonical files, which hold records
//          already validated (so canonical -> canonical round-trips byte for byte).
enum class EmptyPolicy { auto_detect, reject, keep };

struct ReadOptions {
  Format format = Format::auto_detect;
  uint64_t max_line_bytes = uint64_t{64} << 20;       // longer lines are rejected (too_long)
  uint64_t max_array_file_bytes = uint64_t{2} << 30;  // JSON-array files are loaded whole
  EmptyPolicy empty_responses = EmptyPolicy::auto_detect;
  std::string source;  // sets Record::source when the record has none
};

// A rejected record: where it was, a stable machine code and a human reason.
// Codes: json, utf8, too_long, type, missing_field, unknown_field, unknown_format, role,
//        no_context, not_assistant, multi_turn, empty_response, identical_responses, count.
struct Reject {
  std::string file;
  uint64_t line = 0;  // 1-based line of the record (for JSON arrays: the line where it starts)
  std::string code;
  std::string reason;
  std::string raw;  // the offending record's text, truncated (for the rejects file)
};

class RecordReader {
 public:
  enum class Outcome { record, reject, end };

  static Result<std::unique_ptr<RecordReader>> open(const std::string& path, const ReadOptions& options);
  static Result<std::unique_ptr<RecordReader>> from_source(std::unique_ptr<io::ByteSource> source,
                                                           const ReadOptions& options);
  virtual ~RecordReader() = default;

  // Reads the next record into `record` (Outcome::record) or describes a bad one in `reject`
  // (Outcome::reject). A non-ok Result is a file-level failure (I/O, corrupt compression,
  // a JSON array whose brackets never close) and ends the file.
  virtual Result<Outcome> next(Record& record, Reject& reject) = 0;
  // Compressed bytes consumed and total (0 if unknown), for progress bars.
  virtual uint64_t raw_position() const = 0;
  virtual uint64_t raw_size() const = 0;
  uint64_t empty_responses_kept() const { return empty_kept_; }
  // 1-based line where the record (or reject) last returned by next() starts.
  uint64_t last_line() const { return last_line_; }

 protected:
  uint64_t empty_kept_ = 0;
  uint64_t last_line_ = 0;
};

// Converts one parsed JSON text (a record) into `record`. Exposed for tests and the fuzzer.
// On failure fills code/reason and returns false.
bool parse_record_json(std::string_view json_text, const ReadOptions& options, Record& record,
                       std::string& code, std::string& reason, bool* kept_empty = nullptr);

}  // namespace synpref::data
