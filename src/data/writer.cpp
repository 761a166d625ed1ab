#include "synpref/data/writer.h"

#include "synpref/common/text.h"

namespace synpref::data {

namespace {

void append_key(std::string& out, std::string_view key) {
  out.push_back('"');
  out.append(key);
  out.append("\":");
}

void append_response(std::string& out, const Response& r) {
  out.append("{\"content\":");
  text::append_json_string(out, r.content);
  if (r.label) {
    out.append(",\"label\":");
    text::append_json_number(out, *r.label);
  }
  if (r.rank) {
    out.append(",\"rank\":");
    text::append_json_number(out, static_cast<int64_t>(*r.rank));
  }
  if (!r.model.empty()) {
    out.append(",\"model\":");
    text::append_json_string(out, r.model);
  }
  out.push_back('}');
}

// Appends ,"key":"value" when value is non-empty; `first` tracks the object's first member.
void append_opt(std::string& out, bool& first, std::string_view key, const std::string& value) {
  if (value.empty()) return;
  if (!first) out.push_back(',');
  first = false;
  append_key(out, key);
  text::append_json_string(out, value);
}

void append_messages(std::string& out, const std::vector<Turn>& turns) {
  out.push_back('[');
  for (size_t i = 0; i < turns.size(); ++i) {
    if (i) out.push_back(',');
    out.append("{\"role\":\"");
    out.append(role_name(turns[i].role));
    out.append("\",\"content\":");
    text::append_json_string(out, turns[i].content);
    out.push_back('}');
  }
  out.push_back(']');
}

void append_assistant_turn(std::string& out, const Response& response) {
  out.append("[{\"role\":\"assistant\",\"content\":");
  text::append_json_string(out, response.content);
  out.append("}]");
}

}  // namespace

std::string_view output_format_name(OutputFormat format) {
  switch (format) {
    case OutputFormat::canonical:
      return "canonical";
    case OutputFormat::trl:
      return "trl";
    case OutputFormat::openrlhf:
      return "openrlhf";
  }
  return "canonical";
}

Result<OutputFormat> parse_output_format(std::string_view name) {
  for (OutputFormat f : {OutputFormat::canonical, OutputFormat::trl, OutputFormat::openrlhf}) {
    if (output_format_name(f) == name) return f;
  }
  return invalid_argument("unknown output format '" + std::string(name) +
                          "': expected canonical, trl or openrlhf");
}

void append_prompt_messages(std::string& out, const Record& record) {
  SP_CHECK(record.kind == RecordKind::pair);
  out.append("{\"prompt\":");
  append_messages(out, record.context);
  out.append(",\"chosen\":");
  append_assistant_turn(out, record.responses[0]);
  out.append(",\"rejected\":");
  append_assistant_turn(out, record.responses[1]);
  if (record.margin) {
    out.append(",\"margin\":");
    text::append_json_number(out, *record.margin);
  }
  out.append("}\n");
}

Status append_record(std::string& out, const Record& record, OutputFormat format) {
  if (format == OutputFormat::canonical) {
    append_canonical(out, record);
    return Status::ok();
  }
  if (record.kind != RecordKind::pair) {
    return invalid_argument("record '" + record.id + "' is a response set (" +
                            std::to_string(record.responses.size()) + " responses); " +
                            std::string(output_format_name(format)) +
                            " files hold preference pairs only: write it as canonical");
  }
  append_prompt_messages(out, record);
  return Status::ok();
}

void append_canonical(std::string& out, const Record& record) {
  out.append("{\"id\":");
  text::append_json_string(out, record.id);
  out.append(record.kind == RecordKind::pair ? ",\"kind\":\"pair\"" : ",\"kind\":\"response_set\"");
  if (!record.source.empty()) {
    out.append(",\"source\":");
    text::append_json_string(out, record.source);
  }
  if (!record.split.empty()) {
    out.append(",\"split\":");
    text::append_json_string(out, record.split);
  }
  out.append(",\"context\":");
  append_messages(out, record.context);
  if (record.kind == RecordKind::pair) {
    out.append(",\"chosen\":");
    append_response(out, record.responses[0]);
    out.append(",\"rejected\":");
    append_response(out, record.responses[1]);
  } else {
    out.append(",\"responses\":[");
    for (size_t i = 0; i < record.responses.size(); ++i) {
      if (i) out.push_back(',');
      append_response(out, record.responses[i]);
    }
    out.push_back(']');
  }
  if (record.margin) {
    out.append(",\"margin\":");
    text::append_json_number(out, *record.margin);
  }
  if (!record.attributes.empty()) {
    const Attributes& a = record.attributes;
    out.append(",\"attributes\":{");
    bool first = true;
    append_opt(out, first, "task_category", a.task_category);
    append_opt(out, first, "objectivity", a.objectivity);
    append_opt(out, first, "controversiality", a.controversiality);
    append_opt(out, first, "desired_attributes", a.desired_attributes);
    append_opt(out, first, "annotation_guideline", a.annotation_guideline);
    out.push_back('}');
  }
  if (!record.provenance.empty()) {
    const Provenance& p = record.provenance;
    out.append(",\"provenance\":{");
    bool first = true;
    append_opt(out, first, "source", p.source);
    append_opt(out, first, "annotator", p.annotator);
    append_opt(out, first, "judge", p.judge);
    if (!std::isnan(p.confidence)) {
      if (!first) out.push_back(',');
      first = false;
      out.append("\"confidence\":");
      text::append_json_number(out, p.confidence);
    }
    append_opt(out, first, "time", p.time);
    out.push_back('}');
  }
  out.append("}\n");
}

Result<std::unique_ptr<RejectLog>> RejectLog::open(const std::string& path) {
  auto log = std::make_unique<RejectLog>();
  log->path_ = path;
  if (!path.empty()) {
    SP_ASSIGN_OR_RETURN(log->writer_, io::Writer::open(path));
  }
  return log;
}

void RejectLog::add(const Reject& reject) {
  ++total_;
  ++by_code_[reject.code];
  if (!writer_) return;
  std::string& out = writer_->buffer();
  out.append("{\"file\":");
  text::append_json_string_lossy(out, reject.file);
  out.append(",\"line\":");
  text::append_json_number(out, static_cast<int64_t>(reject.line));
  out.append(",\"code\":");
  text::append_json_string(out, reject.code);
  out.append(",\"reason\":");
  text::append_json_string_lossy(out, reject.reason);
  out.append(",\"raw\":");
  text::append_json_string_lossy(out, reject.raw);
  out.append("}\n");
  writer_->maybe_flush();
}

Status RejectLog::close() {
  if (!writer_) return Status::ok();
  return writer_->close();
}

}  // namespace synpref::data
