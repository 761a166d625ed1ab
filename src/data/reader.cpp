// Record readers: JSONL and JSON-array files, format detection and validation. Each format's
// conversion lives in formats/<format>.cpp.
#include "synpref/data/reader.h"

#include <simdjson.h>

#include <cstring>

#include "data/formats/formats.h"
#include "synpref/common/text.h"

namespace synpref::data {

using simdjson::dom::element;
using simdjson::dom::object;

std::string_view format_name(Format format) {
  switch (format) {
    case Format::auto_detect:
      return "auto";
    case Format::canonical:
      return "canonical";
    case Format::chat:
      return "chat";
    case Format::prompt:
      return "prompt";
    case Format::hh:
      return "hh";
    case Format::rmb:
      return "rmb";
  }
  return "auto";
}

Result<Format> parse_format(std::string_view name) {
  for (Format f :
       {Format::auto_detect, Format::canonical, Format::chat, Format::prompt, Format::hh, Format::rmb}) {
    if (format_name(f) == name) return f;
  }
  return invalid_argument("unknown format '" + std::string(name) +
                          "': expected auto, canonical, chat, prompt, hh or rmb");
}

namespace {

using formats::Bad;
using formats::find;
using formats::get_id;
using formats::get_number;

// Detects the format of one record from its keys.
Format detect(object obj) {
  element e, c;
  if (find(obj, "kind", &e) && find(obj, "context", &e)) return Format::canonical;
  if (find(obj, "conversation_input", &e)) return Format::rmb;
  if (find(obj, "prompt", &e) && find(obj, "chosen", &c)) return Format::prompt;
  if (find(obj, "chosen", &c) && find(obj, "rejected", &e)) {
    if (c.is_array()) return Format::chat;
    if (c.is_string()) {
      std::string_view s = c.get_string().value_unsafe();
      if (s.rfind("\n\nHuman:", 0) == 0 || s.rfind("Human:", 0) == 0) return Format::hh;
      return Format::auto_detect;
    }
  }
  return Format::auto_detect;
}

// Checks shared by every format, after conversion.
bool validate(Record& record, Format format, EmptyPolicy policy, Bad& bad, bool* kept_empty) {
  if (record.context.empty()) {
    bad = {"no_context", "no shared context: the conversation before the responses is empty"};
    return false;
  }
  if (record.kind == RecordKind::pair && record.responses.size() != 2) {
    bad = {"count", "a pair needs exactly 2 responses"};
    return false;
  }
  if (record.responses.empty()) {
    bad = {"count", "a response set needs at least 1 response"};
    return false;
  }
  bool keep_empty = policy == EmptyPolicy::keep || (policy == EmptyPolicy::auto_detect &&
                                                    (format == Format::hh || format == Format::canonical));
  for (size_t idx = 0; idx < record.responses.size(); ++idx) {
    if (!text::trim(record.responses[idx].content).empty()) continue;
    if (keep_empty) {
      if (kept_empty) *kept_empty = true;
      continue;
    }
    std::string which = record.kind == RecordKind::pair ? (idx == 0 ? "chosen" : "rejected")
                                                        : "responses[" + std::to_string(idx) + "]";
    bad = {"empty_response", which + " response is empty (or only whitespace)"};
    return false;
  }
  if (record.kind == RecordKind::pair &&
      text::trim(record.responses[0].content) == text::trim(record.responses[1].content)) {
    bad = {"identical_responses", "chosen and rejected responses are identical"};
    return false;
  }
  return true;
}

bool convert(element root, const ReadOptions& options, Record& record, Bad& bad, bool* kept_empty) {
  record.clear();
  if (!root.is_object()) {
    bad = {"type", "record must be a JSON object, found " + json::type_name(root.type())};
    return false;
  }
  object obj = root.get_object().value_unsafe();
  Format format = options.format == Format::auto_detect ? detect(obj) : options.format;
  bool ok = false;
  switch (format) {
    case Format::canonical:
      ok = formats::convert_canonical(obj, record, bad);
      break;
    case Format::chat:
      ok = formats::convert_chat(obj, record, bad);
      break;
    case Format::prompt:
      ok = formats::convert_prompt(obj, record, bad);
      break;
    case Format::hh:
      ok = formats::convert_hh(obj, record, bad);
      break;
    case Format::rmb:
      ok = formats::convert_rmb(obj, record, bad);
      break;
    case Format::auto_detect:
      bad = {"unknown_format",
             "unrecognized record: expected canonical (kind, context), chat/hh (chosen, rejected), "
             "prompt (prompt, chosen, rejected) or RMB (conversation_input) keys; use --format to force one"};
      return false;
  }
  if (!ok) return false;
  if (format != Format::canonical) {
    // Common metadata of source formats.
    if (record.id.empty() && !get_id(obj, "id", record.id, bad)) return false;
    element e;
    if (find(obj, "source", &e) && e.is_string()) record.source = std::string(e.get_string().value_unsafe());
    if (!get_number(obj, "margin", record.margin, bad)) return false;
  }
  if (!validate(record, format, options.empty_responses, bad, kept_empty)) return false;
  if (record.source.empty()) record.source = options.source;
  if (record.id.empty()) record.id = default_id(record);
  return true;
}

std::string json_error_reason(simdjson::error_code code, std::string_view text) {
  if (code == simdjson::UTF8_ERROR) {
    size_t at = text::first_invalid_utf8(text);
    return "invalid UTF-8 at byte " + std::to_string(at == std::string_view::npos ? 0 : at) +
           " of the record";
  }
  return std::string("invalid JSON: ") + simdjson::error_message(code);
}

// ---- readers ---------------------------------------------------------------------------------

class ReaderBase : public RecordReader {
 protected:
  ReaderBase(std::string name, ReadOptions options) : name_(std::move(name)), options_(std::move(options)) {}

  // Parses text (followed by >= simdjson::SIMDJSON_PADDING readable bytes) as one record.
  Outcome handle(std::string_view text, uint64_t line_no, Record& record, Reject& reject) {
    last_line_ = line_no;
    auto doc = parser_.parse(text.data(), text.size(), false);
    Bad bad;
    bool kept_empty = false;
    if (doc.error()) {
      bad = {doc.error() == simdjson::UTF8_ERROR ? "utf8" : "json", json_error_reason(doc.error(), text)};
    } else if (convert(doc.value_unsafe(), options_, record, bad, &kept_empty)) {
      if (kept_empty) ++empty_kept_;
      return Outcome::record;
    }
    reject.file = name_;
    reject.line = line_no;
    reject.code = std::move(bad.code);
    reject.reason = std::move(bad.reason);
    reject.raw.assign(text.data(), std::min<size_t>(text.size(), 64 << 10));
    return Outcome::reject;
  }

  std::string name_;
  ReadOptions options_;
  simdjson::dom::parser parser_;
};

static_assert(io::LineReader::kPadding >= simdjson::SIMDJSON_PADDING, "line padding must cover simdjson's");

class JsonlReader final : public ReaderBase {
 public:
  JsonlReader(std::unique_ptr<io::ByteSource> source, ReadOptions options)
      : ReaderBase(source->name(), std::move(options)), lines_(std::move(source), options_.max_line_bytes) {}

  Result<Outcome> next(Record& record, Reject& reject) override {
    for (;;) {
      SP_ASSIGN_OR_RETURN(io::LineReader::Line line, lines_.next());
      if (line.kind == io::LineReader::Kind::eof) return Outcome::end;
      if (line.kind == io::LineReader::Kind::too_long) {
        reject = {name_, line.line_no, "too_long",
                  "line is " + std::to_string(line.length) + " bytes, over the limit of " +
                      std::to_string(options_.max_line_bytes) + " (--max-line-bytes)",
                  ""};
        return Outcome::reject;
      }
      if (text::trim(line.text).empty()) continue;  // blank lines are not records
      return handle(line.text, line.line_no, record, reject);
    }
  }
  uint64_t raw_position() const override { return lines_.source().raw_position(); }
  uint64_t raw_size() const override { return lines_.source().raw_size(); }

 private:
  io::LineReader lines_;
};

// A file holding one JSON array of records. Elements are found by a bracket scanner (strings and
// escapes aware) so one malformed element is rejected alone, with its line number.
class ArrayReader final : public ReaderBase {
 public:
  ArrayReader(std::string name, std::string data, ReadOptions options)
      : ReaderBase(std::move(name), std::move(options)), data_(std::move(data)) {
    raw_size_ = data_.size();
    data_.append(simdjson::SIMDJSON_PADDING, '\0');
    end_ = raw_size_;
    pos_ = data_.find('[');  // the caller checked it is the first non-space byte
    SP_CHECK(pos_ != std::string::npos);
    ++pos_;
  }

  Result<Outcome> next(Record& record, Reject& reject) override {
    if (done_) return Outcome::end;
    skip_space_and(',');
    if (pos_ >= end_) return data_error(name_ + ": unterminated JSON array (missing ']')");
    if (data_[pos_] == ']') {
      ++pos_;
      skip_space();
      if (pos_ < end_)
        return data_error(name_ + ":" + std::to_string(line_at(pos_)) +
                          ": unexpected text after the JSON array");
      done_ = true;
      return Outcome::end;
    }
    size_t begin = pos_;
    SP_ASSIGN_OR_RETURN(size_t stop, scan_value(begin));
    pos_ = stop;
    uint64_t line = line_at(begin);
    std::string_view text(data_.data() + begin, stop - begin);
    // simdjson needs padding after the text: copy the element when the next bytes are in use.
    element_.assign(text.data(), text.size());
    element_.append(simdjson::SIMDJSON_PADDING, '\0');
    return handle(std::string_view(element_.data(), text.size()), line, record, reject);
  }
  uint64_t raw_position() const override { return pos_; }
  uint64_t raw_size() const override { return raw_size_; }

 private:
  void skip_space() {
    while (pos_ < end_ &&
           (data_[pos_] == ' ' || data_[pos_] == '\n' || data_[pos_] == '\r' || data_[pos_] == '\t'))
      ++pos_;
  }
  void skip_space_and(char sep) {
    skip_space();
    if (pos_ < end_ && data_[pos_] == sep && started_) ++pos_;
    started_ = true;
    skip_space();
  }
  uint64_t line_at(size_t offset) {
    // Lines counted incrementally: offsets only move forward.
    for (; line_scan_ < offset; ++line_scan_) line_ += data_[line_scan_] == '\n';
    return line_;
  }
  // Returns the end offset of the JSON value starting at `begin` (an element of the array).
  Result<size_t> scan_value(size_t begin) {
    size_t i = begin;
    int depth = 0;
    bool in_string = false;
    for (; i < end_; ++i) {
      char c = data_[i];
      if (in_string) {
        if (c == '\\')
          ++i;
        else if (c == '"')
          in_string = false;
        continue;
      }
      if (c == '"')
        in_string = true;
      else if (c == '{' || c == '[')
        ++depth;
      else if (c == '}' || c == ']') {
        if (depth == 0) return i;  // the array's own ']' ends a scalar element
        if (--depth == 0) return i + 1;
      } else if (c == ',' && depth == 0)
        return i;
    }
    return data_error(name_ + ":" + std::to_string(line_at(begin)) +
                      ": JSON array element never ends (unbalanced brackets or an unterminated string)");
  }

  std::string data_;
  std::string element_;
  size_t pos_ = 0, end_ = 0, raw_size_ = 0, line_scan_ = 0;
  uint64_t line_ = 1;
  bool done_ = false, started_ = false;
};

// Replays bytes already read for detection, then continues with the source.
class PrefixedSource final : public io::ByteSource {
 public:
  PrefixedSource(std::string prefix, std::unique_ptr<io::ByteSource> inner)
      : prefix_(std::move(prefix)), inner_(std::move(inner)) {}
  Result<size_t> read(char* dst, size_t cap) override {
    if (pos_ < prefix_.size()) {
      size_t n = std::min(cap, prefix_.size() - pos_);
      std::memcpy(dst, prefix_.data() + pos_, n);
      pos_ += n;
      return n;
    }
    return inner_->read(dst, cap);
  }
  uint64_t raw_position() const override { return inner_->raw_position(); }
  uint64_t raw_size() const override { return inner_->raw_size(); }
  const std::string& name() const override { return inner_->name(); }

 private:
  std::string prefix_;
  size_t pos_ = 0;
  std::unique_ptr<io::ByteSource> inner_;
};

constexpr std::string_view kUtf8Bom = "\xef\xbb\xbf";

}  // namespace

bool parse_record_json(std::string_view json_text, const ReadOptions& options, Record& record,
                       std::string& code, std::string& reason, bool* kept_empty) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json_text);
  auto doc = parser.parse(padded);
  Bad bad;
  if (doc.error()) {
    bad = {doc.error() == simdjson::UTF8_ERROR ? "utf8" : "json", json_error_reason(doc.error(), json_text)};
  } else if (convert(doc.value_unsafe(), options, record, bad, kept_empty)) {
    return true;
  }
  code = std::move(bad.code);
  reason = std::move(bad.reason);
  return false;
}

Result<std::unique_ptr<RecordReader>> RecordReader::from_source(std::unique_ptr<io::ByteSource> source,
                                                                const ReadOptions& options) {
  // Look at the first non-space byte: '[' means one JSON array, anything else JSONL. A UTF-8
  // byte-order mark (Windows exports) is not part of the JSON: it is dropped first.
  std::string head;
  char buf[4096];
  bool eof = false;
  while (head.size() < kUtf8Bom.size() && !eof) {
    SP_ASSIGN_OR_RETURN(size_t n, source->read(buf, sizeof buf));
    eof = n == 0;
    head.append(buf, n);
  }
  if (std::string_view(head).substr(0, kUtf8Bom.size()) == kUtf8Bom) head.erase(0, kUtf8Bom.size());
  size_t scanned = 0;
  char first = 0;
  for (;;) {
    for (; scanned < head.size() && first == 0; ++scanned) {
      char c = head[scanned];
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') first = c;
    }
    if (first != 0 || eof) break;
    SP_ASSIGN_OR_RETURN(size_t n, source->read(buf, sizeof buf));
    eof = n == 0;
    head.append(buf, n);
  }
  std::string name = source->name();
  if (first == '[') {
    std::string data = std::move(head);
    for (;;) {
      SP_ASSIGN_OR_RETURN(size_t n, source->read(buf, sizeof buf));
      if (n == 0) break;
      data.append(buf, n);
      if (data.size() > options.max_array_file_bytes) {
        return data_error(name + ": JSON array file is larger than " +
                          std::to_string(options.max_array_file_bytes) +
                          " bytes; convert it to JSONL (one record per line) to stream it");
      }
    }
    return std::unique_ptr<RecordReader>(new ArrayReader(name, std::move(data), options));
  }
  auto prefixed = std::make_unique<PrefixedSource>(std::move(head), std::move(source));
  return std::unique_ptr<RecordReader>(new JsonlReader(std::move(prefixed), options));
}

Result<std::unique_ptr<RecordReader>> RecordReader::open(const std::string& path,
                                                         const ReadOptions& options) {
  SP_ASSIGN_OR_RETURN(auto source, io::open_source(path));
  return from_source(std::move(source), options);
}

}  // namespace synpref::data
