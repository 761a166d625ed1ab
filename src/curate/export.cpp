// export_set: one pass over the pool, merge-joined with the db rows of the set, its attributes and
// its labels (all ordered by row), so memory stays bounded whatever the pool size.
#include <algorithm>
#include <set>

#include "project_impl.h"
#include "synpref/common/io.h"
#include "synpref/data/writer.h"

namespace synpref::curate {
namespace {

constexpr std::pair<ExportSet, std::string_view> kSetNames[] = {{ExportSet::gold, "gold"},
                                                                {ExportSet::silver, "silver"},
                                                                {ExportSet::kept, "kept"},
                                                                {ExportSet::discarded, "discarded"},
                                                                {ExportSet::flipped, "flipped"}};

// A query ordered by row (column 0), advanced in step with the pool.
class RowCursor {
 public:
  explicit RowCursor(sql::Stmt stmt) : stmt_(std::move(stmt)) {}
  Status start() { return advance(); }
  // Moves to the first row >= `row`; true when the cursor now sits exactly on `row`.
  Result<bool> seek(int64_t row) {
    while (has_row_ && stmt_.col_int(0) < row) SP_RETURN_IF_ERROR(advance());
    return has_row_ && stmt_.col_int(0) == row;
  }
  Status advance() {
    SP_ASSIGN_OR_RETURN(has_row_, stmt_.step());
    return Status::ok();
  }
  bool has_row() const { return has_row_; }
  const sql::Stmt& stmt() const { return stmt_; }

 private:
  sql::Stmt stmt_;
  bool has_row_ = false;
};

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ",") + name;
  return out;
}

// Summarizes the labels of one row (cursor on it) into a Provenance; leaves the cursor past them.
Result<data::Provenance> provenance_from_labels(RowCursor& labels, int64_t row) {
  std::set<std::string> sources, humans, judges;
  double confidence_sum = 0;
  int n_confidence = 0;
  data::Provenance prov;
  while (labels.has_row() && labels.stmt().col_int(0) == row) {
    const sql::Stmt& s = labels.stmt();
    std::string source = s.col_text(1);
    (source == "human" ? humans : judges).insert(s.col_text(2));
    sources.insert(source);
    if (!s.col_null(3)) {
      confidence_sum += s.col_double(3);
      ++n_confidence;
    }
    prov.time = std::max(prov.time, s.col_text(4));
    SP_RETURN_IF_ERROR(labels.advance());
  }
  // The strongest evidence names the source: a human verdict, else an LLM judge, else a model.
  for (const char* source : {"human", "llm_judge", "model", "original"})
    if (sources.count(source)) {
      prov.source = source;
      break;
    }
  if (prov.source.empty() && !sources.empty()) prov.source = *sources.begin();
  prov.annotator = join(humans);
  prov.judge = join(judges);
  if (n_confidence > 0) prov.confidence = confidence_sum / n_confidence;
  return prov;
}

Result<std::string> resolve_stage(const Project& project, const ExportOptions& options) {
  SP_ASSIGN_OR_RETURN(auto stages, project.stages());
  if (options.stage.empty()) {
    if (stages.empty())
      return invalid_argument("set " + std::string(export_set_name(options.set)) +
                              " needs stage decisions, and no stage has recorded any yet");
    return stages.back();
  }
  if (std::find(stages.begin(), stages.end(), options.stage) == stages.end())
    return not_found("stage '" + options.stage + "' has recorded no decisions in " + project.dir());
  return options.stage;
}

}  // namespace

Result<ExportSet> parse_export_set(std::string_view name) {
  for (const auto& [set, set_name] : kSetNames)
    if (set_name == name) return set;
  return invalid_argument("set must be gold, silver, kept, discarded or flipped, got '" + std::string(name) +
                          "'");
}

std::string_view export_set_name(ExportSet set) {
  for (const auto& [value, name] : kSetNames)
    if (value == set) return name;
  SP_CHECK(false);
  return {};
}

Result<ExportSummary> export_set(const Project& project, const std::string& output,
                                 const ExportOptions& options) {
  const Project::Impl& p = project.impl();
  ExportSummary summary;
  bool by_membership = options.set == ExportSet::gold || options.set == ExportSet::silver;
  if (!by_membership) {
    SP_ASSIGN_OR_RETURN(summary.stage, resolve_stage(project, options));
  }
  std::vector<std::string> project_files = project.shard_paths();
  project_files.push_back(project.db_path());
  project_files.push_back(join_path(project.dir(), "rejects.jsonl"));
  SP_RETURN_IF_ERROR(io::check_not_an_input(output, project_files));

  // The set's rows, its attributes and the labels its provenance summarizes, each ordered by row.
  sql::Db& db = *p.db;
  SP_ASSIGN_OR_RETURN(auto members_stmt,
                      db.prepare(by_membership ? "SELECT row FROM membership WHERE set_name = ? ORDER BY row"
                                               : "SELECT row FROM decisions WHERE stage = ? AND keep = ? "
                                                 "ORDER BY row"));
  if (by_membership)
    members_stmt.bind(1, export_set_name(options.set));
  else
    members_stmt.bind(1, summary.stage).bind(2, options.set == ExportSet::kept ? 1 : 0);
  SP_ASSIGN_OR_RETURN(auto attrs_stmt, db.prepare("SELECT row, task_category, objectivity, controversiality, "
                                                  "desired_attributes, annotation_guideline FROM attributes "
                                                  "ORDER BY row"));
  SP_ASSIGN_OR_RETURN(
      auto labels_stmt,
      db.prepare(by_membership ? "SELECT row, source, annotator, confidence, time FROM labels "
                                 "WHERE kind = ? ORDER BY row"
                               : "SELECT row, source, annotator, confidence, time FROM labels "
                                 "WHERE kind <> 'attribute' ORDER BY row"));
  if (by_membership) labels_stmt.bind(1, export_set_name(options.set));
  RowCursor members(std::move(members_stmt)), attrs(std::move(attrs_stmt)), labels(std::move(labels_stmt));
  SP_RETURN_IF_ERROR(members.start());
  SP_RETURN_IF_ERROR(attrs.start());
  SP_RETURN_IF_ERROR(labels.start());

  SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(output));
  data::Record out;
  SP_RETURN_IF_ERROR(project.for_each_pair([&](int64_t row, const data::Record& record) -> Status {
    SP_ASSIGN_OR_RETURN(bool selected, members.seek(row));
    if (!selected) return Status::ok();
    out = record;
    SP_ASSIGN_OR_RETURN(bool has_attrs, attrs.seek(row));
    if (has_attrs) {
      const sql::Stmt& s = attrs.stmt();
      out.attributes = {s.col_text(1), s.col_text(2), s.col_text(3), s.col_text(4), s.col_text(5)};
    }
    SP_ASSIGN_OR_RETURN(bool has_labels, labels.seek(row));
    if (has_labels) {
      SP_ASSIGN_OR_RETURN(out.provenance, provenance_from_labels(labels, row));
    }
    if (options.set == ExportSet::flipped) {
      std::swap(out.responses[0], out.responses[1]);
      if (out.margin) out.margin = -*out.margin;
      out.id += "-flipped";
    }
    SP_RETURN_IF_ERROR(data::append_record(writer->buffer(), out, options.format));
    writer->maybe_flush();
    ++summary.written;
    return Status::ok();
  }));
  SP_RETURN_IF_ERROR(writer->close());
  return summary;
}

}  // namespace synpref::curate
