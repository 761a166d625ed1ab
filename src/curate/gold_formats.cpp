// src/curate/gold_formats.cpp: gold verdicts from annotation-tool exports (Label Studio JSON,
// Argilla records), for import_gold_labels (steps.h).
//
// Both tools show annotators a pair and a question; what the answer means:
//  - "chosen", "rejected", "tie" (also "equal"), "cannot determine" (also "cannot_determine",
//    "unsure", "skip"), case and separators ignored; or the numbers 1, -1, 0 (our own format);
//  - "response 1"/"response 2" (also "1"/"2", "a"/"b", "response_a"/"response_b"): the response
//    shown first/second. The task's data (Label Studio) or the record's metadata/fields (Argilla)
//    says whether the shown order was swapped: `swapped: true` means the rejected response was
//    shown first. Without it, the first shown is the pair's chosen response.
// Argilla exports come as a JSON list or JSON lines of records, or as one API page
// ({"items": [records], "total": n}). With no `question` given, the first question whose answers
// read as verdicts is used.
// The pair id is read from, in order: Label Studio data.pair_id / data.id; Argilla
// metadata.pair_id, fields.pair_id, external_id, id. The annotator is Label Studio's
// completed_by (its email when exported expanded, else "label-studio:<user id>") or Argilla's
// user_id ("argilla:<uuid>").
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "gold_internal.h"
#include "synpref/common/io.h"
#include "synpref/common/text.h"

namespace synpref::curate {

namespace {

using nlohmann::json;

constexpr uint64_t kMaxExportBytes = uint64_t(4) << 30;

std::string normalized(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == ' ' || c == '_' || c == '-') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

enum class Answer { chosen, rejected, tie, cannot_determine, first, second, unknown };

Answer parse_answer(const json& v) {
  if (v.is_number_integer()) {
    const int64_t n = v.get<int64_t>();
    return n == 1 ? Answer::chosen : n == -1 ? Answer::rejected : n == 0 ? Answer::tie : Answer::unknown;
  }
  if (v.is_array() && v.size() == 1) return parse_answer(v[0]);
  if (!v.is_string()) return Answer::unknown;
  const std::string s = normalized(v.get<std::string>());
  if (s == "chosen") return Answer::chosen;
  if (s == "rejected") return Answer::rejected;
  if (s == "tie" || s == "equal") return Answer::tie;
  if (s == "cannotdetermine" || s == "unsure" || s == "skip") return Answer::cannot_determine;
  if (s == "response1" || s == "1" || s == "a" || s == "responsea") return Answer::first;
  if (s == "response2" || s == "2" || s == "b" || s == "responseb") return Answer::second;
  return Answer::unknown;
}

std::string string_of(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  return "";
}

bool swapped_of(const json& obj) {
  if (!obj.is_object()) return false;
  auto it = obj.find("swapped");
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

// One reader's verdicts: (pair id, annotator, answer, swapped, time, where).
struct Verdict {
  std::string pair_id, annotator, time, where;
  Answer answer = Answer::unknown;
  bool swapped = false;
  std::string raw;
};

struct Reader {
  std::vector<Verdict> verdicts;
  std::vector<std::pair<std::string, std::string>> rejects;  // (where, "code: reason")
  int64_t skipped = 0;
};

void read_label_studio_task(const json& task, size_t index, const std::string& question, Reader& out) {
  const std::string where = "task " + std::to_string(index);
  if (!task.is_object()) return out.rejects.push_back({where, "json: a task must be an object"});
  const json data = task.value("data", json::object());
  std::string pair_id = string_of(data, "pair_id");
  if (pair_id.empty()) pair_id = string_of(data, "id");
  if (pair_id.empty())
    return out.rejects.push_back({where, "field: `data.pair_id` (or `data.id`) must name the pair"});
  auto annotations = task.find("annotations");
  if (annotations == task.end() || !annotations->is_array())
    return out.rejects.push_back({where, "field: `annotations` must be a list"});
  for (size_t a = 0; a < annotations->size(); ++a) {
    const json& ann = (*annotations)[a];
    const std::string at = where + " annotation " + std::to_string(a);
    if (!ann.is_object()) {
      out.rejects.push_back({at, "json: an annotation must be an object"});
      continue;
    }
    if (ann.value("was_cancelled", false)) {
      ++out.skipped;
      continue;
    }
    Verdict v{pair_id, "", string_of(ann, "updated_at"), at, Answer::unknown, swapped_of(data), ""};
    if (v.time.empty()) v.time = string_of(ann, "created_at");
    const json& by = ann.contains("completed_by") ? ann["completed_by"] : json();
    if (by.is_object() && by.contains("email") && by["email"].is_string())
      v.annotator = by["email"].get<std::string>();
    else if (by.is_number_integer())
      v.annotator = "label-studio:" + std::to_string(by.get<int64_t>());
    if (v.annotator.empty()) {
      out.rejects.push_back({at, "field: `completed_by` must name the annotator"});
      continue;
    }
    const json results = ann.value("result", json::array());
    for (const json& r : results) {
      if (!r.is_object() || r.value("type", "") != "choices") continue;
      if (!question.empty() && r.value("from_name", "") != question) continue;
      const json value = r.value("value", json::object());
      v.answer = parse_answer(value.value("choices", json()));
      v.raw = value.dump();
      break;
    }
    if (v.raw.empty()) {
      out.rejects.push_back({at, "field: no `choices` result" +
                                     (question.empty() ? std::string() : " from `" + question + "`")});
      continue;
    }
    out.verdicts.push_back(std::move(v));
  }
}

void read_argilla_record(const json& record, const std::string& where, const std::string& question,
                         Reader& out) {
  if (!record.is_object()) return out.rejects.push_back({where, "json: a record must be an object"});
  const json metadata = record.value("metadata", json::object());
  const json fields = record.value("fields", json::object());
  std::string pair_id = string_of(metadata, "pair_id");
  if (pair_id.empty()) pair_id = string_of(fields, "pair_id");
  if (pair_id.empty()) pair_id = string_of(record, "external_id");
  if (pair_id.empty()) pair_id = string_of(record, "id");
  if (pair_id.empty())
    return out.rejects.push_back(
        {where, "field: `metadata.pair_id` (or `external_id`, `id`) must name the pair"});
  const bool swapped = swapped_of(metadata) || swapped_of(fields);
  auto responses = record.find("responses");
  if (responses == record.end() || responses->is_null()) {
    ++out.skipped;  // not annotated yet
    return;
  }
  auto add = [&](const std::string& user, const std::string& status, const json& value,
                 const std::string& at) {
    if (!status.empty() && status != "submitted") {
      ++out.skipped;  // discarded or draft: not a verdict
      return;
    }
    if (user.empty()) return out.rejects.push_back({at, "field: `user_id` must name the annotator"});
    Verdict v{pair_id, "argilla:" + user, string_of(record, "updated_at"), at, parse_answer(value),
              swapped, value.dump()};
    out.verdicts.push_back(std::move(v));
  };
  if (responses->is_array()) {  // server API: [{user_id, status, values: {question: {value}}}]
    for (size_t i = 0; i < responses->size(); ++i) {
      const json& r = (*responses)[i];
      const std::string at = where + " response " + std::to_string(i);
      if (!r.is_object()) {
        out.rejects.push_back({at, "json: a response must be an object"});
        continue;
      }
      const std::string status = string_of(r, "status");
      const json values = r.value("values", json::object());
      // The named question, or the first one whose answer reads as a verdict (then the first one).
      const json* value = nullptr;
      if (values.is_object()) {
        for (const auto& [name, entry] : values.items()) {
          if (!question.empty() && name != question) continue;
          if (!entry.is_object() || !entry.contains("value")) continue;
          if (!value) value = &entry["value"];
          if (!question.empty() || parse_answer(entry["value"]) != Answer::unknown) {
            value = &entry["value"];
            break;
          }
        }
      }
      if (!value) {
        if (status == "discarded" || status == "draft")
          ++out.skipped;
        else
          out.rejects.push_back({at, "field: no answer in `values`" +
                                         (question.empty() ? std::string() : " for `" + question + "`")});
        continue;
      }
      add(string_of(r, "user_id"), status, *value, at);
    }
  } else if (responses->is_object()) {  // SDK 2.x: {question: [{value, user_id}]}
    // The named question, or the first one with an answer that reads as a verdict (then the first).
    std::string chosen_question = question;
    if (chosen_question.empty()) {
      for (const auto& [name, list] : responses->items()) {
        if (!list.is_array()) continue;
        const bool verdicts = std::any_of(list.begin(), list.end(), [](const json& r) {
          return r.is_object() && r.contains("value") && parse_answer(r["value"]) != Answer::unknown;
        });
        if (chosen_question.empty() || verdicts) chosen_question = name;
        if (verdicts) break;
      }
    }
    bool any = false;
    for (const auto& [name, list] : responses->items()) {
      if (name != chosen_question) continue;
      if (!list.is_array()) continue;
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string at = where + " response " + name + "[" + std::to_string(i) + "]";
        if (!list[i].is_object() || !list[i].contains("value")) {
          out.rejects.push_back({at, "field: a response needs `value`"});
          continue;
        }
        any = true;
        add(string_of(list[i], "user_id"), string_of(list[i], "status"), list[i]["value"], at);
      }
      if (any) break;
    }
    if (!any) ++out.skipped;
  } else {
    out.rejects.push_back({where, "field: `responses` must be a list or an object"});
  }
}

Result<Reader> read_export(const std::string& path, const std::string& format, const std::string& question) {
  SP_ASSIGN_OR_RETURN(std::string text, io::read_file(path, kMaxExportBytes));
  if (!text::is_valid_utf8(text)) return data_error(path + ": not valid UTF-8");
  Reader out;
  const size_t first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  if (first == std::string::npos) return out;
  auto read_one = [&](const json& item, size_t index, const std::string& where) {
    if (format == "label-studio")
      read_label_studio_task(item, index, question, out);
    else
      read_argilla_record(item, where, question, out);
  };
  if (text[first] == '[') {
    json all = json::parse(text.begin() + static_cast<std::ptrdiff_t>(first), text.end(), nullptr, false);
    if (all.is_discarded() || !all.is_array())
      return data_error(path + ": not a JSON list (a " + format + " export)");
    for (size_t i = 0; i < all.size(); ++i) read_one(all[i], i, "record " + std::to_string(i));
    return out;
  }
  if (text[first] == '{') {
    // One JSON document: an API page ({"items": [...], "total": n}, Argilla's record listing).
    json page = json::parse(text.begin() + static_cast<std::ptrdiff_t>(first), text.end(), nullptr, false);
    if (!page.is_discarded() && page.is_object() && page.contains("items") && page["items"].is_array()) {
      const json& items = page["items"];
      for (size_t i = 0; i < items.size(); ++i) read_one(items[i], i, "items[" + std::to_string(i) + "]");
      return out;
    }
  }
  // JSON lines.
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    json item = json::parse(line, nullptr, false);
    if (item.is_discarded()) {
      out.rejects.push_back({"line " + std::to_string(line_no), "json: not a JSON object"});
      continue;
    }
    read_one(item, line_no - 1, "line " + std::to_string(line_no));
  }
  return out;
}

}  // namespace

Result<std::string> detect_gold_format(const std::string& path, const std::string& format) {
  if (format == "synpref" || format == "label-studio" || format == "argilla") return format;
  if (format != "auto")
    return invalid_argument("format must be auto, synpref, label-studio or argilla, not \"" + format + "\"");
  SP_ASSIGN_OR_RETURN(auto source, io::open_source(path));
  io::LineReader reader(std::move(source), uint64_t(1) << 20);
  for (int lines = 0; lines < 1000; ++lines) {
    SP_ASSIGN_OR_RETURN(auto line, reader.next());
    if (line.kind == io::LineReader::Kind::eof) break;
    std::string_view t = line.text;
    const size_t first = t.find_first_not_of(" \t\r\xEF\xBB\xBF");
    if (first == std::string_view::npos) continue;
    if (t[first] == '[') {
      // A JSON list: Label Studio tasks have "annotations", Argilla records "responses"/"fields".
      SP_ASSIGN_OR_RETURN(std::string head, io::read_file(path, uint64_t(1) << 30));
      return head.find("\"annotations\"") != std::string::npos ? std::string("label-studio")
                                                               : std::string("argilla");
    }
    const json j = json::parse(t, nullptr, false);
    if (j.is_discarded() && t[first] == '{') {
      // A JSON document over several lines: an API page ({"items": [...]}) of Argilla records.
      SP_ASSIGN_OR_RETURN(std::string whole, io::read_file(path, uint64_t(1) << 30));
      const json page = json::parse(whole, nullptr, false);
      if (page.is_object() && page.contains("items")) return std::string("argilla");
      return std::string("synpref");
    }
    if (!j.is_object() || j.contains("verdict")) return std::string("synpref");
    if (j.contains("items")) return std::string("argilla");
    if (j.contains("annotations")) return std::string("label-studio");
    if (j.contains("responses") || j.contains("fields")) return std::string("argilla");
    return std::string("synpref");
  }
  return std::string("synpref");
}

Result<GoldImportSummary> import_tool_export(Project& project, const std::string& path,
                                             const std::string& format, const GoldImportOptions& options) {
  GoldImportSummary summary;
  summary.format = format;
  summary.rejects_path =
      options.rejects_path.empty() ? project.dir() + "/rejects-gold.jsonl" : options.rejects_path;
  SP_ASSIGN_OR_RETURN(Reader reader, read_export(path, format, options.question));
  SP_ASSIGN_OR_RETURN(auto rejects, io::Writer::open(summary.rejects_path));
  summary.skipped = reader.skipped;
  for (const auto& [where, reason] : reader.rejects) {
    ++summary.lines;
    ++summary.rejected;
    rejects->append(reject_line(path, 0, where + ": " + reason, ""));
  }
  std::vector<Label> batch;
  std::set<std::string> pairs;
  for (const Verdict& v : reader.verdicts) {
    ++summary.lines;
    auto reject = [&](const std::string& reason) {
      ++summary.rejected;
      rejects->append(reject_line(
          path, 0,
          reason.substr(0, reason.find(": ")) + ": " + v.where + ": " + reason.substr(reason.find(": ") + 2),
          v.raw));
    };
    Label label;
    label.kind = "gold";
    label.source = "human";
    label.pair_id = v.pair_id;
    label.annotator = v.annotator;
    label.time = v.time;
    switch (v.answer) {
      case Answer::chosen:
        label.verdict = 1;
        break;
      case Answer::rejected:
        label.verdict = -1;
        break;
      case Answer::tie:
        label.verdict = 0;
        break;
      case Answer::first:
        label.verdict = v.swapped ? -1 : 1;
        break;
      case Answer::second:
        label.verdict = v.swapped ? 1 : -1;
        break;
      case Answer::cannot_determine:
        ++summary.cannot_determine;
        continue;
      case Answer::unknown:
        reject("value: the answer is not a verdict (chosen, rejected, tie, cannot determine, response 1/2)");
        continue;
    }
    if (!project.row_of(v.pair_id).is_ok()) {
      reject("unknown_id: no pair `" + v.pair_id + "` in the pool");
      continue;
    }
    pairs.insert(label.pair_id);
    batch.push_back(std::move(label));
    if (static_cast<int64_t>(batch.size()) >= options.batch_lines)
      SP_RETURN_IF_ERROR(record_gold_batch(project, batch, summary));
  }
  SP_RETURN_IF_ERROR(record_gold_batch(project, batch, summary));
  summary.pairs = static_cast<int64_t>(pairs.size());
  SP_RETURN_IF_ERROR(rejects->close());
  SP_RETURN_IF_ERROR(finish_gold_import(path, summary));
  return summary;
}

}  // namespace synpref::curate
