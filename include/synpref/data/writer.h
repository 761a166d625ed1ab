// synpref/data/writer.h: canonical JSONL output and the rejects file.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "synpref/common/io.h"
#include "synpref/common/status.h"
#include "synpref/data/reader.h"
#include "synpref/data/record.h"

namespace synpref::data {

// Appends one canonical JSONL line (with '\n') for `record`. Deterministic: fixed key order,
// optional fields omitted when empty, shortest round-trip numbers; so reading canonical and
// writing it again is byte-identical. Precondition: strings are valid UTF-8 (the reader ensures it).
void append_canonical(std::string& out, const Record& record);

// What `convert` writes:
//   canonical  synpref's canonical JSONL (append_canonical).
//   trl        TRL's conversational preference format with an explicit prompt (huggingface/trl
//              docs, "Dataset formats"): {"prompt": [messages], "chosen": [{"role": "assistant",
//              "content": ...}], "rejected": [...]}, plus "margin" when known (RewardTrainer's
//              optional margin column).
//   openrlhf   the same shape, which OpenRLHF's RewardDataset reads with --apply_chat_template
//              --prompt_key prompt --chosen_key chosen --rejected_key rejected (it concatenates
//              prompt + chosen messages) and whose "margin" it uses for its margin loss.
// synpref's own reader reads both back (as the "prompt" format) to the same pairs.
enum class OutputFormat { canonical, trl, openrlhf };
std::string_view output_format_name(OutputFormat format);
Result<OutputFormat> parse_output_format(std::string_view name);  // "canonical", "trl", "openrlhf"
// Appends one JSONL line for a pair as {"prompt", "chosen", "rejected"[, "margin"]} (trl, openrlhf).
// Precondition: record.kind == pair.
void append_prompt_messages(std::string& out, const Record& record);
// Appends `record` in `format`; a response set in a pairs-only format is invalid_argument.
Status append_record(std::string& out, const Record& record, OutputFormat format);

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
