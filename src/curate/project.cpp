// Project: opening, reading the pool, and the idempotent batch writes and getters.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <tuple>

#include "project_impl.h"
#include "schema.h"
#include "synpref/common/hash.h"
#include "synpref/common/io.h"
#include "synpref/data/reader.h"

namespace synpref::curate {

std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return text;
}

std::string shard_file_name(int64_t shard) {
  char name[40];
  std::snprintf(name, sizeof(name), "pool/shard-%05lld.jsonl", static_cast<long long>(shard));
  return name;
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

Result<std::unique_ptr<sql::Db>> open_project_db(const std::string& dir, bool create) {
  SP_ASSIGN_OR_RETURN(auto db, sql::Db::open(join_path(dir, kDbFile), create));
  SP_RETURN_IF_ERROR(migrate(*db));
  return db;
}

namespace {

// The canonical-format reader settings for shards (written by us, so already validated).
data::ReadOptions shard_read_options() {
  data::ReadOptions options;
  options.format = data::Format::canonical;
  options.empty_responses = data::EmptyPolicy::keep;
  options.max_line_bytes = uint64_t{1} << 31;
  return options;
}

Status parse_shard_line(std::string_view line, const std::string& where, data::Record& record) {
  std::string code, reason;
  if (!data::parse_record_json(line, shard_read_options(), record, code, reason))
    return data_error(where + ": not a canonical record (" + reason +
                      "); the pool shard was modified since init, re-create the project");
  return Status::ok();
}

Result<std::string> hash_file(const std::string& path, int64_t* bytes) {
  SP_ASSIGN_OR_RETURN(auto source, io::open_source(path));
  Hasher hasher;
  std::vector<char> buf(1 << 20);
  *bytes = 0;
  for (;;) {
    SP_ASSIGN_OR_RETURN(size_t n, source->read(buf.data(), buf.size()));
    if (n == 0) break;
    hasher.add_bytes({buf.data(), n});
    *bytes += static_cast<int64_t>(n);
  }
  return hasher.digest().hex();
}

// The batch's positions sorted by the labels table's key: inserting in key order appends to the
// B-tree instead of touching a random page per row (3x faster for a million labels).
std::vector<size_t> key_order(const std::vector<Label>& labels, const std::vector<int64_t>& rows) {
  std::vector<size_t> order(labels.size());
  for (size_t idx = 0; idx < order.size(); ++idx) order[idx] = idx;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Label& x = labels[a];
    const Label& y = labels[b];
    return std::tie(rows[a], x.kind, x.annotator, x.sample_index, x.prompt_hash) <
           std::tie(rows[b], y.kind, y.annotator, y.sample_index, y.prompt_hash);
  });
  return order;
}

Status check_set_name(std::string_view set) {
  if (set != "gold" && set != "silver")
    return invalid_argument("set must be \"gold\" or \"silver\", got \"" + std::string(set) + "\"");
  return Status::ok();
}

}  // namespace

// ---- Impl

Status Project::Impl::load_shards() {
  shards.clear();
  SP_ASSIGN_OR_RETURN(auto read,
                      db->prepare("SELECT file, records, bytes, xxh3, first_row FROM shards ORDER BY shard"));
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool row, read.step());
    if (!row) break;
    shards.push_back({read.col_text(0), read.col_int(1), read.col_int(2), read.col_int(4), read.col_text(3)});
  }
  SP_ASSIGN_OR_RETURN(auto count, db->prepare("SELECT count(*) FROM pairs"));
  SP_ASSIGN_OR_RETURN(bool row, count.step());
  SP_CHECK(row);
  n_pairs = count.col_int(0);
  count.reset();
  int64_t manifest_pairs = 0;
  for (const auto& shard : shards) manifest_pairs += shard.records;
  if (manifest_pairs != n_pairs)
    return data_error(db->path() + ": the shard manifest lists " + std::to_string(manifest_pairs) +
                      " pairs but the pairs table has " + std::to_string(n_pairs));
  return Status::ok();
}

Status Project::Impl::verify_shards(bool hash) const {
  for (const auto& shard : shards) {
    std::string path = join_path(dir, shard.file);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
      return data_error(path + ": pool shard missing (" + std::strerror(errno) +
                        "); the project is incomplete");
    if (static_cast<int64_t>(st.st_size) != shard.bytes)
      return data_error(path + ": pool shard has " + std::to_string(st.st_size) +
                        " bytes, the manifest says " + std::to_string(shard.bytes) +
                        " (truncated or modified since init)");
    if (!hash) continue;
    int64_t bytes = 0;
    SP_ASSIGN_OR_RETURN(std::string digest, hash_file(path, &bytes));
    if (digest != shard.xxh3)
      return data_error(path + ": pool shard content changed since init (XXH3 " + digest + ", manifest " +
                        shard.xxh3 + ")");
  }
  return Status::ok();
}

Result<int64_t> Project::Impl::row_of(std::string_view id) const {
  row_by_id.bind(1, id);
  SP_ASSIGN_OR_RETURN(bool found, row_by_id.step());
  if (!found) return not_found("pair id '" + std::string(id) + "' is not in the project " + dir);
  int64_t row = row_by_id.col_int(0);
  row_by_id.reset();
  return row;
}

Result<std::vector<int64_t>> Project::Impl::rows_of(const std::vector<std::string_view>& ids,
                                                    std::string_view field) const {
  std::vector<int64_t> rows(ids.size());
  for (size_t idx = 0; idx < ids.size(); ++idx) {
    if (idx > 0 && ids[idx] == ids[idx - 1]) {
      rows[idx] = rows[idx - 1];
      continue;
    }
    auto row = row_of(ids[idx]);
    if (!row) return row.status().with_context(std::string(field) + "[" + std::to_string(idx) + "].pair_id");
    rows[idx] = *row;
  }
  return rows;
}

Result<data::Record> Project::Impl::read_record(int64_t row) const {
  sql::Stmt& loc = loc_by_row;
  loc.bind(1, row);
  SP_ASSIGN_OR_RETURN(bool found, loc.step());
  if (!found) return not_found("row " + std::to_string(row) + " is not in the project " + dir);
  int64_t shard = loc.col_int(0), offset = loc.col_int(1), length = loc.col_int(2);
  loc.reset();
  SP_CHECK(shard >= 0 && shard < static_cast<int64_t>(shards.size()));
  std::string path = join_path(dir, shards[shard].file);
  std::ifstream in(path, std::ios::binary);
  if (!in) return data_error(path + ": cannot open the pool shard (" + std::strerror(errno) + ")");
  std::string line(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(line.data(), length);
  if (in.gcount() != length)
    return data_error(path + ": pool shard is shorter than the manifest says (truncated since init)");
  line.append(64, ' ');  // padding for the in-place JSON parser
  data::Record record;
  SP_RETURN_IF_ERROR(parse_shard_line(std::string_view(line).substr(0, static_cast<size_t>(length)),
                                      path + " at byte " + std::to_string(offset), record));
  return record;
}

// ---- Project: lifetime and reading

Project::Project(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Project::~Project() = default;

Result<std::unique_ptr<Project>> Project::open(const std::string& dir, const OpenOptions& options) {
  std::string db_path = join_path(dir, kDbFile);
  struct stat st {};
  if (::stat(db_path.c_str(), &st) != 0)
    return not_found(dir + ": not a synpref curation project (no " + kDbFile +
                     "); create one with `synpref curate init`");
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  SP_ASSIGN_OR_RETURN(impl->db, open_project_db(dir, false));
  std::unique_ptr<Project> project(new Project(std::move(impl)));
  SP_ASSIGN_OR_RETURN(bool done, project->step_done(kInitStep));
  if (!done)
    return invalid_argument(dir +
                            ": the project's init did not finish; rerun the same `synpref curate init`");
  Impl& p = *project->impl_;
  SP_ASSIGN_OR_RETURN(p.row_by_id, p.db->prepare("SELECT row FROM pairs WHERE id = ?"));
  SP_ASSIGN_OR_RETURN(p.loc_by_row, p.db->prepare("SELECT shard, offset, length FROM pairs WHERE row = ?"));
  SP_RETURN_IF_ERROR(p.load_shards());
  SP_RETURN_IF_ERROR(p.verify_shards(options.verify_shards));
  return project;
}

const std::string& Project::dir() const {
  return impl_->dir;
}
int64_t Project::n_pairs() const {
  return impl_->n_pairs;
}
std::string Project::db_path() const {
  return impl_->db->path();
}

std::vector<std::string> Project::shard_paths() const {
  std::vector<std::string> paths;
  for (const auto& shard : impl_->shards) paths.push_back(join_path(impl_->dir, shard.file));
  return paths;
}

Status Project::for_each_pair(const std::function<Status(int64_t row, const data::Record&)>& fn) const {
  return for_each_pair_in(0, impl_->n_pairs, fn);
}

Status Project::for_each_pair_in(int64_t first_row, int64_t end_row,
                                 const std::function<Status(int64_t row, const data::Record&)>& fn) const {
  data::Record record;
  for (const auto& shard : impl_->shards) {
    if (shard.first_row + shard.records <= first_row || shard.first_row >= end_row) continue;
    std::string path = join_path(impl_->dir, shard.file);
    SP_ASSIGN_OR_RETURN(auto source, io::open_source(path));
    io::LineReader lines(std::move(source), shard_read_options().max_line_bytes);
    Hasher hasher;
    int64_t row = shard.first_row, bytes = 0;
    for (;;) {
      SP_ASSIGN_OR_RETURN(auto line, lines.next());
      if (line.kind == io::LineReader::Kind::eof) break;
      if (line.kind != io::LineReader::Kind::line || row >= shard.first_row + shard.records)
        return data_error(path + ":" + std::to_string(line.line_no) + ": more lines than the manifest's " +
                          std::to_string(shard.records) + " records (modified since init)");
      hasher.add_bytes(line.text);
      hasher.add_bytes("\n");
      bytes += static_cast<int64_t>(line.length) + 1;
      if (row >= first_row && row < end_row) {
        SP_RETURN_IF_ERROR(parse_shard_line(line.text, path + ":" + std::to_string(line.line_no), record));
        SP_RETURN_IF_ERROR(fn(row, record));
      }
      ++row;
    }
    if (row != shard.first_row + shard.records || bytes != shard.bytes || hasher.digest().hex() != shard.xxh3)
      return data_error(path +
                        ": pool shard does not match its manifest entry (truncated or modified since init)");
  }
  return Status::ok();
}

Result<std::vector<PairRef>> Project::pair_refs(int64_t first_row, int64_t end_row) const {
  SP_ASSIGN_OR_RETURN(
      auto stmt, impl_->db->prepare("SELECT row, id FROM pairs WHERE row >= ? AND row < ? ORDER BY row"));
  stmt.bind(1, first_row).bind(2, end_row);
  std::vector<PairRef> refs;
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool found, stmt.step());
    if (!found) return refs;
    refs.push_back({stmt.col_int(0), stmt.col_text(1)});
  }
}

Result<data::Record> Project::pair(const std::string& id) const {
  SP_ASSIGN_OR_RETURN(int64_t row, impl_->row_of(id));
  return impl_->read_record(row);
}

Result<data::Record> Project::pair_at(int64_t row) const {
  return impl_->read_record(row);
}
Result<int64_t> Project::row_of(const std::string& id) const {
  return impl_->row_of(id);
}

Result<std::string> Project::id_at(int64_t row) const {
  SP_ASSIGN_OR_RETURN(auto read, impl_->db->prepare("SELECT id FROM pairs WHERE row = ?"));
  read.bind(1, row);
  SP_ASSIGN_OR_RETURN(bool found, read.step());
  if (!found) return not_found("row " + std::to_string(row) + " is not in the project " + impl_->dir);
  std::string id = read.col_text(0);
  read.reset();
  return id;
}

// ---- Writes

Status Project::add_labels(const std::vector<Label>& labels) {
  std::vector<std::string_view> ids;
  ids.reserve(labels.size());
  for (size_t idx = 0; idx < labels.size(); ++idx) {
    const Label& label = labels[idx];
    std::string field = "labels[" + std::to_string(idx) + "]";
    if (label.verdict < -1 || label.verdict > 1)
      return invalid_argument(field + ".verdict must be -1, 0 or 1, got " + std::to_string(label.verdict));
    if (label.kind.empty()) return invalid_argument(field + ".kind is required");
    if (label.source.empty()) return invalid_argument(field + ".source is required");
    if (label.sample_index < 0) return invalid_argument(field + ".sample_index must be >= 0");
    ids.push_back(label.pair_id);
  }
  // Ids resolve inside the transaction: one read lock for the batch, not one per lookup.
  sql::Db& db = *impl_->db;
  sql::Transaction txn(db);
  SP_RETURN_IF_ERROR(txn.begin());
  SP_ASSIGN_OR_RETURN(auto rows, impl_->rows_of(ids, "labels"));
  SP_ASSIGN_OR_RETURN(auto insert, db.prepare("INSERT OR IGNORE INTO labels (row, kind, source, annotator, "
                                              "sample_index, prompt_hash, verdict, confidence, time) "
                                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  std::string now = now_iso();
  for (size_t idx : key_order(labels, rows)) {
    const Label& label = labels[idx];
    insert.bind(1, rows[idx]).bind(2, label.kind).bind(3, label.source).bind(4, label.annotator);
    insert.bind(5, label.sample_index).bind(6, label.prompt_hash).bind(7, label.verdict);
    insert.bind(8, label.confidence).bind(9, label.time.empty() ? std::string_view(now) : label.time);
    SP_RETURN_IF_ERROR(insert.run());
  }
  return txn.commit();
}

Status Project::set_attributes(const std::vector<std::pair<std::string, data::Attributes>>& attributes) {
  std::vector<std::string_view> ids;
  for (const auto& [id, attrs] : attributes) ids.push_back(id);
  // Ids resolve inside the transaction: one read lock for the batch, not one per lookup.
  sql::Db& db = *impl_->db;
  sql::Transaction txn(db);
  SP_RETURN_IF_ERROR(txn.begin());
  SP_ASSIGN_OR_RETURN(auto rows, impl_->rows_of(ids, "attributes"));
  SP_ASSIGN_OR_RETURN(
      auto upsert,
      db.prepare("INSERT OR REPLACE INTO attributes (row, task_category, objectivity, "
                 "controversiality, desired_attributes, annotation_guideline) VALUES (?, ?, ?, ?, ?, ?)"));
  SP_ASSIGN_OR_RETURN(auto category, db.prepare("UPDATE pairs SET category = ? WHERE row = ?"));
  for (size_t idx = 0; idx < attributes.size(); ++idx) {
    const data::Attributes& a = attributes[idx].second;
    upsert.bind(1, rows[idx]).bind(2, a.task_category).bind(3, a.objectivity).bind(4, a.controversiality);
    upsert.bind(5, a.desired_attributes).bind(6, a.annotation_guideline);
    SP_RETURN_IF_ERROR(upsert.run());
    SP_RETURN_IF_ERROR(category.bind(1, a.task_category).bind(2, rows[idx]).run());
  }
  return txn.commit();
}

Status Project::set_membership(const std::vector<std::string>& ids, std::string_view set, bool member) {
  SP_RETURN_IF_ERROR(check_set_name(set));
  std::vector<std::string_view> views(ids.begin(), ids.end());
  // Ids resolve inside the transaction: one read lock for the batch, not one per lookup.
  sql::Db& db = *impl_->db;
  sql::Transaction txn(db);
  SP_RETURN_IF_ERROR(txn.begin());
  SP_ASSIGN_OR_RETURN(auto rows, impl_->rows_of(views, "membership"));
  SP_ASSIGN_OR_RETURN(auto write,
                      db.prepare(member ? "INSERT OR IGNORE INTO membership (set_name, row) VALUES (?, ?)"
                                        : "DELETE FROM membership WHERE set_name = ? AND row = ?"));
  for (int64_t row : rows) SP_RETURN_IF_ERROR(write.bind(1, set).bind(2, row).run());
  return txn.commit();
}

Status Project::set_scores(
    std::string_view rm, const std::vector<std::pair<std::string, std::array<double, 2>>>& chosen_rejected) {
  if (rm.empty()) return invalid_argument("rm (the reward model's name@version) is required");
  std::vector<std::string_view> ids;
  for (size_t idx = 0; idx < chosen_rejected.size(); ++idx) {
    const auto& [id, score] = chosen_rejected[idx];
    if (!std::isfinite(score[0]) || !std::isfinite(score[1]))
      return invalid_argument("scores[" + std::to_string(idx) + "] for pair '" + id + "' is not finite");
    ids.push_back(id);
  }
  // Ids resolve inside the transaction: one read lock for the batch, not one per lookup.
  sql::Db& db = *impl_->db;
  sql::Transaction txn(db);
  SP_RETURN_IF_ERROR(txn.begin());
  SP_ASSIGN_OR_RETURN(auto rows, impl_->rows_of(ids, "scores"));
  SP_ASSIGN_OR_RETURN(
      auto upsert,
      db.prepare("INSERT OR REPLACE INTO rm_scores (rm, row, chosen, rejected) VALUES (?, ?, ?, ?)"));
  for (size_t idx = 0; idx < rows.size(); ++idx) {
    const auto& score = chosen_rejected[idx].second;
    SP_RETURN_IF_ERROR(upsert.bind(1, rm).bind(2, rows[idx]).bind(3, score[0]).bind(4, score[1]).run());
  }
  return txn.commit();
}

Status Project::set_decisions(std::string_view stage, const std::vector<Decision>& decisions) {
  if (stage.empty()) return invalid_argument("stage is required");
  std::vector<std::string_view> ids;
  for (const auto& decision : decisions) ids.push_back(decision.pair_id);
  // Ids resolve inside the transaction: one read lock for the batch, not one per lookup.
  sql::Db& db = *impl_->db;
  sql::Transaction txn(db);
  SP_RETURN_IF_ERROR(txn.begin());
  SP_ASSIGN_OR_RETURN(auto rows, impl_->rows_of(ids, "decisions"));
  SP_ASSIGN_OR_RETURN(auto add_stage, db.prepare("INSERT OR IGNORE INTO stages (stage) VALUES (?)"));
  SP_RETURN_IF_ERROR(add_stage.bind(1, stage).run());
  SP_ASSIGN_OR_RETURN(
      auto upsert,
      db.prepare("INSERT OR REPLACE INTO decisions (stage, row, keep, reason) VALUES (?, ?, ?, ?)"));
  for (size_t idx = 0; idx < rows.size(); ++idx) {
    const Decision& d = decisions[idx];
    SP_RETURN_IF_ERROR(
        upsert.bind(1, stage).bind(2, rows[idx]).bind(3, d.keep ? 1 : 0).bind(4, d.reason).run());
  }
  return txn.commit();
}

// ---- Getters

namespace {

Label read_label(const sql::Stmt& s) {
  Label label;
  label.pair_id = s.col_text(0);
  label.kind = s.col_text(1);
  label.source = s.col_text(2);
  label.annotator = s.col_text(3);
  label.sample_index = static_cast<int>(s.col_int(4));
  label.prompt_hash = s.col_text(5);
  label.verdict = static_cast<int>(s.col_int(6));
  label.confidence = s.col_double(7);
  label.time = s.col_text(8);
  return label;
}

constexpr const char* kLabelColumns =
    "SELECT p.id, l.kind, l.source, l.annotator, l.sample_index, l.prompt_hash, l.verdict, l.confidence, "
    "l.time, l.row FROM labels l JOIN pairs p ON p.row = l.row ";
constexpr const char* kLabelOrder = " ORDER BY l.row, l.kind, l.annotator, l.sample_index, l.prompt_hash";

template <typename T, typename Read>
Result<std::vector<T>> collect(sql::Stmt& stmt, Read read) {
  std::vector<T> out;
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) break;
    out.push_back(read(stmt));
  }
  return out;
}

// Calls fn(row, read(stmt)) per result row; `row_col` is the column holding the pair's row.
template <typename T, typename Read, typename Fn>
Status visit(sql::Stmt& stmt, Read read, int row_col, const Fn& fn) {
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) return Status::ok();
    Status status = fn(stmt.col_int(row_col), read(stmt));
    if (!status.is_ok()) {
      stmt.reset();
      return status;
    }
  }
}

data::Attributes read_attributes(const sql::Stmt& s, int first_col) {
  data::Attributes a;
  a.task_category = s.col_text(first_col);
  a.objectivity = s.col_text(first_col + 1);
  a.controversiality = s.col_text(first_col + 2);
  a.desired_attributes = s.col_text(first_col + 3);
  a.annotation_guideline = s.col_text(first_col + 4);
  return a;
}

}  // namespace

Status Project::for_each_label(std::string_view kind,
                               const std::function<Status(int64_t row, const Label&)>& fn) const {
  std::string query = std::string(kLabelColumns) + (kind.empty() ? "" : "WHERE l.kind = ?") + kLabelOrder;
  SP_ASSIGN_OR_RETURN(auto stmt, impl_->db->prepare(query));
  if (!kind.empty()) stmt.bind(1, kind);
  return visit<Label>(stmt, read_label, 9, fn);
}

Result<std::vector<Label>> Project::labels_for(std::string_view kind) const {
  std::vector<Label> out;
  SP_RETURN_IF_ERROR(for_each_label(kind, [&](int64_t, const Label& label) {
    out.push_back(label);
    return Status::ok();
  }));
  return out;
}

Result<std::vector<Label>> Project::labels_of(const std::string& pair_id) const {
  SP_ASSIGN_OR_RETURN(int64_t row, impl_->row_of(pair_id));
  SP_ASSIGN_OR_RETURN(auto stmt,
                      impl_->db->prepare(std::string(kLabelColumns) + "WHERE l.row = ?" + kLabelOrder));
  stmt.bind(1, row);
  return collect<Label>(stmt, read_label);
}

Result<std::vector<std::pair<std::string, data::Attributes>>> Project::attributes() const {
  SP_ASSIGN_OR_RETURN(auto stmt,
                      impl_->db->prepare("SELECT p.id, a.task_category, a.objectivity, a.controversiality, "
                                         "a.desired_attributes, a.annotation_guideline FROM attributes a "
                                         "JOIN pairs p ON p.row = a.row ORDER BY a.row"));
  return collect<std::pair<std::string, data::Attributes>>(
      stmt, [](const sql::Stmt& s) { return std::make_pair(s.col_text(0), read_attributes(s, 1)); });
}

Result<std::optional<data::Attributes>> Project::attributes_of(const std::string& pair_id) const {
  SP_ASSIGN_OR_RETURN(int64_t row, impl_->row_of(pair_id));
  SP_ASSIGN_OR_RETURN(auto stmt,
                      impl_->db->prepare("SELECT task_category, objectivity, controversiality, "
                                         "desired_attributes, annotation_guideline FROM attributes "
                                         "WHERE row = ?"));
  stmt.bind(1, row);
  SP_ASSIGN_OR_RETURN(bool found, stmt.step());
  if (!found) return std::optional<data::Attributes>();
  auto attrs = read_attributes(stmt, 0);
  stmt.reset();
  return std::optional<data::Attributes>(std::move(attrs));
}

Result<std::vector<std::string>> Project::members(std::string_view set) const {
  SP_RETURN_IF_ERROR(check_set_name(set));
  SP_ASSIGN_OR_RETURN(auto stmt,
                      impl_->db->prepare("SELECT p.id FROM membership m JOIN pairs p ON p.row = m.row "
                                         "WHERE m.set_name = ? ORDER BY m.row"));
  stmt.bind(1, set);
  return collect<std::string>(stmt, [](const sql::Stmt& s) { return s.col_text(0); });
}

Status Project::for_each_score(std::string_view rm,
                               const std::function<Status(int64_t row, const Score&)>& fn) const {
  SP_ASSIGN_OR_RETURN(auto stmt,
                      impl_->db->prepare("SELECT p.id, s.chosen, s.rejected, s.row FROM rm_scores s "
                                         "JOIN pairs p ON p.row = s.row WHERE s.rm = ? ORDER BY s.row"));
  stmt.bind(1, rm);
  return visit<Score>(
      stmt,
      [](const sql::Stmt& s) {
        return Score{s.col_text(0), s.col_double(1), s.col_double(2)};
      },
      3, fn);
}

Result<std::vector<Score>> Project::scores(std::string_view rm) const {
  std::vector<Score> out;
  SP_RETURN_IF_ERROR(for_each_score(rm, [&](int64_t, const Score& score) {
    out.push_back(score);
    return Status::ok();
  }));
  return out;
}

Result<std::vector<std::string>> Project::score_models() const {
  SP_ASSIGN_OR_RETURN(auto stmt, impl_->db->prepare("SELECT DISTINCT rm FROM rm_scores ORDER BY rm"));
  return collect<std::string>(stmt, [](const sql::Stmt& s) { return s.col_text(0); });
}

Status Project::for_each_decision(std::string_view stage,
                                  const std::function<Status(int64_t row, const Decision&)>& fn) const {
  SP_ASSIGN_OR_RETURN(auto stmt,
                      impl_->db->prepare("SELECT p.id, d.keep, d.reason, d.row FROM decisions d "
                                         "JOIN pairs p ON p.row = d.row WHERE d.stage = ? ORDER BY d.row"));
  stmt.bind(1, stage);
  return visit<Decision>(
      stmt,
      [](const sql::Stmt& s) {
        return Decision{s.col_text(0), s.col_int(1) != 0, s.col_text(2)};
      },
      3, fn);
}

Result<std::vector<Decision>> Project::decisions(std::string_view stage) const {
  std::vector<Decision> out;
  SP_RETURN_IF_ERROR(for_each_decision(stage, [&](int64_t, const Decision& decision) {
    out.push_back(decision);
    return Status::ok();
  }));
  return out;
}

Result<std::vector<std::string>> Project::stages() const {
  SP_ASSIGN_OR_RETURN(auto stmt, impl_->db->prepare("SELECT stage FROM stages ORDER BY seq"));
  return collect<std::string>(stmt, [](const sql::Stmt& s) { return s.col_text(0); });
}

// ---- Runs, rounds, usage, config, steps

Result<int64_t> Project::begin_run(std::string_view command, std::string_view config_json) {
  SP_ASSIGN_OR_RETURN(auto stmt, impl_->db->prepare("INSERT INTO runs (command, config, started, status) "
                                                    "VALUES (?, ?, ?, 'running') RETURNING run"));
  stmt.bind(1, command).bind(2, config_json).bind(3, now_iso());
  SP_ASSIGN_OR_RETURN(bool row, stmt.step());
  SP_CHECK(row);
  int64_t run = stmt.col_int(0);
  SP_RETURN_IF_ERROR(stmt.run());
  return run;
}

Status Project::end_run(int64_t run_id, std::string_view status) {
  SP_ASSIGN_OR_RETURN(auto stmt, impl_->db->prepare("UPDATE runs SET ended = ?, status = ? WHERE run = ?"));
  SP_RETURN_IF_ERROR(stmt.bind(1, now_iso()).bind(2, status).bind(3, run_id).run());
  if (impl_->db->changes() == 0) return not_found("run " + std::to_string(run_id) + " is not in the project");
  return Status::ok();
}

Result<std::vector<RunInfo>> Project::runs() const {
  SP_ASSIGN_OR_RETURN(
      auto stmt,
      impl_->db->prepare("SELECT run, command, config, started, ended, status FROM runs ORDER BY run"));
  return collect<RunInfo>(stmt, [](const sql::Stmt& s) {
    return RunInfo{s.col_int(0), s.col_text(1), s.col_text(2), s.col_text(3), s.col_text(4), s.col_text(5)};
  });
}

Result<int64_t> Project::begin_round(int64_t run_id, std::string_view stage) {
  SP_ASSIGN_OR_RETURN(auto stmt, impl_->db->prepare("INSERT INTO rounds (run, stage, started, status) "
                                                    "VALUES (?, ?, ?, 'running') RETURNING round"));
  stmt.bind(1, run_id).bind(2, stage).bind(3, now_iso());
  SP_ASSIGN_OR_RETURN(bool row, stmt.step());
  SP_CHECK(row);
  int64_t round = stmt.col_int(0);
  SP_RETURN_IF_ERROR(stmt.run());
  return round;
}

Status Project::end_round(int64_t round, std::string_view status, std::string_view summary_json) {
  SP_ASSIGN_OR_RETURN(
      auto stmt, impl_->db->prepare("UPDATE rounds SET ended = ?, status = ?, summary = ? WHERE round = ?"));
  SP_RETURN_IF_ERROR(stmt.bind(1, now_iso()).bind(2, status).bind(3, summary_json).bind(4, round).run());
  if (impl_->db->changes() == 0)
    return not_found("round " + std::to_string(round) + " is not in the project");
  return Status::ok();
}

Status Project::add_usage(int64_t run_id, const std::vector<JudgeUsage>& usage) {
  sql::Db& db = *impl_->db;
  sql::Transaction txn(db);
  SP_RETURN_IF_ERROR(txn.begin());
  SP_ASSIGN_OR_RETURN(auto insert,
                      db.prepare("INSERT INTO judge_usage (run, endpoint, requests, cached, retries, "
                                 "failures, prompt_tokens, completion_tokens, cost_usd, time) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  std::string now = now_iso();
  for (const auto& u : usage) {
    insert.bind(1, run_id).bind(2, u.endpoint).bind(3, u.requests).bind(4, u.cached).bind(5, u.retries);
    insert.bind(6, u.failures).bind(7, u.prompt_tokens).bind(8, u.completion_tokens).bind(9, u.cost_usd);
    SP_RETURN_IF_ERROR(insert.bind(10, now).run());
  }
  return txn.commit();
}

Status Project::set_config(std::string_view key, std::string_view value_json) {
  SP_ASSIGN_OR_RETURN(auto stmt,
                      impl_->db->prepare("INSERT OR REPLACE INTO config (key, value) VALUES (?, ?)"));
  return stmt.bind(1, key).bind(2, value_json).run();
}

Result<std::optional<std::string>> Project::config(std::string_view key) const {
  SP_ASSIGN_OR_RETURN(auto stmt, impl_->db->prepare("SELECT value FROM config WHERE key = ?"));
  stmt.bind(1, key);
  SP_ASSIGN_OR_RETURN(bool found, stmt.step());
  if (!found) return std::optional<std::string>();
  std::string value = stmt.col_text(0);
  stmt.reset();
  return std::optional<std::string>(std::move(value));
}

Result<bool> Project::step_done(std::string_view step) const {
  SP_ASSIGN_OR_RETURN(auto stmt, impl_->db->prepare("SELECT 1 FROM steps WHERE step = ?"));
  stmt.bind(1, step);
  SP_ASSIGN_OR_RETURN(bool found, stmt.step());
  stmt.reset();
  return found;
}

Status Project::mark_step_done(std::string_view step, int64_t run_id) {
  SP_ASSIGN_OR_RETURN(auto stmt,
                      impl_->db->prepare("INSERT OR IGNORE INTO steps (step, run, time) VALUES (?, ?, ?)"));
  return stmt.bind(1, step).bind(2, run_id).bind(3, now_iso()).run();
}

}  // namespace synpref::curate
