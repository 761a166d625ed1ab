// Human gold labels from a JSONL file into a project (steps.h, import_gold_labels).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "gold_internal.h"
#include "synpref/common/io.h"
#include "synpref/common/text.h"
#include "synpref/curate/steps.h"

namespace synpref::curate {

namespace {

constexpr uint64_t kMaxLineBytes = 1 << 20;

// One line -> a label, or the reason it cannot be one ("code: message").
Result<Label> parse_gold_line(std::string_view text, const Project& project) {
  if (!text::is_valid_utf8(text)) return data_error("utf8: the line is not valid UTF-8");
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return data_error("json: not a JSON object");
  Label label;
  label.kind = "gold";
  label.source = "human";
  const auto id = j.find("id");
  if (id == j.end() || !id->is_string() || id->get<std::string>().empty())
    return data_error("field: `id` must be a non-empty string");
  label.pair_id = id->get<std::string>();
  const auto verdict = j.find("verdict");
  if (verdict == j.end() || !verdict->is_number_integer() || verdict->get<int64_t>() < -1 ||
      verdict->get<int64_t>() > 1)
    return data_error("field: `verdict` must be 1 (chosen better), -1 (rejected better) or 0 (tie)");
  label.verdict = static_cast<int>(verdict->get<int64_t>());
  const auto annotator = j.find("annotator");
  if (annotator == j.end() || !annotator->is_string() || annotator->get<std::string>().empty())
    return data_error("field: `annotator` must be a non-empty string (who verified the pair)");
  label.annotator = annotator->get<std::string>();
  if (const auto c = j.find("confidence"); c != j.end()) {
    if (!c->is_number() || c->get<double>() < 0 || c->get<double>() > 1)
      return data_error("field: `confidence` must be a number in [0, 1]");
    label.confidence = c->get<double>();
  }
  if (const auto t = j.find("time"); t != j.end()) {
    if (!t->is_string()) return data_error("field: `time` must be a string (ISO 8601)");
    label.time = t->get<std::string>();
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "id" && key != "verdict" && key != "annotator" && key != "confidence" && key != "time")
      return data_error("field: unknown field `" + key + "`");
  }
  if (!project.row_of(label.pair_id).is_ok())
    return data_error("unknown_id: no pair `" + label.pair_id + "` in the pool");
  return label;
}

}  // namespace

std::string reject_line(const std::string& file, uint64_t line, const std::string& reason,
                        std::string_view raw) {
  const size_t colon = reason.find(": ");
  nlohmann::json r = {{"file", file},
                      {"line", line},
                      {"code", colon == std::string::npos ? "invalid" : reason.substr(0, colon)},
                      {"reason", colon == std::string::npos ? reason : reason.substr(colon + 2)},
                      {"raw", std::string(raw.substr(0, 1000))}};
  return r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Status record_gold_batch(Project& project, std::vector<Label>& batch, GoldImportSummary& summary) {
  if (batch.empty()) return Status::ok();
  std::vector<std::string> ids;
  ids.reserve(batch.size());
  for (const auto& l : batch) ids.push_back(l.pair_id);
  // Labels first: a kill between the two leaves labels whose membership a rerun restores.
  SP_RETURN_IF_ERROR(project.add_labels(batch));
  SP_RETURN_IF_ERROR(project.set_membership(ids, "gold", true));
  summary.imported += static_cast<int64_t>(batch.size());
  batch.clear();
  return Status::ok();
}

Status finish_gold_import(const std::string& path, GoldImportSummary& summary) {
  if (summary.rejected == 0) {
    std::error_code ec;
    std::filesystem::remove(summary.rejects_path, ec);
    summary.rejects_path.clear();
  }
  if (summary.imported == 0) {
    return data_error(path + ": no usable gold label: " +
                      (summary.lines == 0
                           ? std::string("the file holds no verdict")
                           : "none of its " + std::to_string(summary.lines) + " entries was usable (" +
                                 std::to_string(summary.rejected) + " rejected" +
                                 (summary.rejects_path.empty() ? "" : ", listed in " + summary.rejects_path) +
                                 ", " + std::to_string(summary.cannot_determine) + " cannot-determine, " +
                                 std::to_string(summary.skipped) + " skipped)"));
  }
  return Status::ok();
}

Result<GoldImportSummary> import_gold_labels(Project& project, const std::string& path,
                                             const GoldImportOptions& options) {
  if (options.batch_lines < 1) return invalid_argument("batch_lines must be >= 1");
  SP_ASSIGN_OR_RETURN(std::string format, detect_gold_format(path, options.format));
  if (format != "synpref") return import_tool_export(project, path, format, options);
  GoldImportSummary summary;
  summary.format = format;
  summary.rejects_path =
      options.rejects_path.empty() ? project.dir() + "/rejects-gold.jsonl" : options.rejects_path;
  SP_ASSIGN_OR_RETURN(auto source, io::open_source(path));
  io::LineReader reader(std::move(source), kMaxLineBytes);
  SP_ASSIGN_OR_RETURN(auto rejects, io::Writer::open(summary.rejects_path));
  std::vector<Label> batch;
  std::set<std::string> pairs;
  auto flush = [&]() -> Status { return record_gold_batch(project, batch, summary); };
  for (;;) {
    SP_ASSIGN_OR_RETURN(auto line, reader.next());
    if (line.kind == io::LineReader::Kind::eof) break;
    if (line.kind == io::LineReader::Kind::too_long) {
      ++summary.lines;
      ++summary.rejected;
      rejects->append(reject_line(path, line.line_no, "too_long: line longer than 1 MiB", ""));
      continue;
    }
    std::string_view text = line.text;
    if (line.line_no == 1 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    if (text.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    ++summary.lines;
    auto label = parse_gold_line(text, project);
    if (!label.is_ok()) {
      ++summary.rejected;
      rejects->append(reject_line(path, line.line_no, label.status().message(), text));
      continue;
    }
    pairs.insert(label->pair_id);
    batch.push_back(std::move(*label));
    if (static_cast<int64_t>(batch.size()) >= options.batch_lines) SP_RETURN_IF_ERROR(flush());
  }
  SP_RETURN_IF_ERROR(flush());
  summary.pairs = static_cast<int64_t>(pairs.size());
  SP_RETURN_IF_ERROR(rejects->close());
  SP_RETURN_IF_ERROR(finish_gold_import(path, summary));
  return summary;
}

}  // namespace synpref::curate
