// Project::init: importing the pool into immutable shards + pair rows, resumable after a kill.
//
// Resume design: the import is a deterministic pass over the pool files. A shard is written to
// "<shard>.tmp", renamed, and only then committed to the db together with its pair rows and its
// manifest entry, in one transaction. A rerun reads the pool again from the start: a record whose
// content hash is already in the db with the same input ordinal was imported by the killed run and
// is skipped; everything after the last committed shard is written again, byte for byte the same.
// Rejects and duplicates are recounted from scratch on every pass, and rejects.jsonl is rewritten
// whole (atomically), so a rerun neither loses nor repeats anything. The "init" step marker,
// committed last, makes a further rerun a no-op.
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "project_impl.h"
#include "synpref/common/hash.h"
#include "synpref/common/io.h"
#include "synpref/common/progress.h"
#include "synpref/data/writer.h"

namespace synpref::curate {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kInitConfigKey = "init";
constexpr const char* kRejectsFile = "rejects.jsonl";

struct HashKey {
  size_t operator()(const Hash128& h) const {
    return static_cast<size_t>(h.lo ^ (h.hi * 0x9e3779b97f4a7c15ULL));
  }
};

// 16 bytes, high word first (the same order as Hash128::hex()).
std::string hash_blob(const Hash128& h) {
  std::string blob(16, '\0');
  for (int byte = 0; byte < 8; ++byte) {
    blob[byte] = static_cast<char>(h.hi >> (56 - 8 * byte));
    blob[8 + byte] = static_cast<char>(h.lo >> (56 - 8 * byte));
  }
  return blob;
}

// What identifies "the same init": every pool file (absolute path, size, modification time) and
// every setting that changes what gets imported.
Result<std::string> pool_fingerprint(const std::vector<std::string>& pool_files, const InitOptions& options) {
  json files = json::array();
  for (size_t idx = 0; idx < pool_files.size(); ++idx) {
    const std::string& file = pool_files[idx];
    if (file == "-")
      return invalid_argument("pool[" + std::to_string(idx) +
                              "]: stdin cannot be a pool file (init "
                              "must be able to read it again to resume)");
    SP_RETURN_IF_ERROR(require_regular_file(file));
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return not_found(file + ": cannot read the pool file");
    int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    files.push_back({{"path", fs::weakly_canonical(fs::absolute(file)).string()},
                     {"bytes", static_cast<int64_t>(st.st_size)},
                     {"mtime_ns", mtime_ns}});
  }
  const data::ReadOptions& read = options.read;
  json fingerprint = {{"pool", files},
                      {"shard_records", options.shard_records},
                      {"format", std::string(data::format_name(read.format))},
                      {"max_line_bytes", read.max_line_bytes},
                      {"empty_responses", static_cast<int>(read.empty_responses)},
                      {"source", read.source}};
  return fingerprint.dump();
}

// Creates DIR, or accepts it when it is empty or already holds a project db (checked next).
Status prepare_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return io_error(dir + ": cannot create the project folder: " + ec.message());
    return Status::ok();
  }
  if (!fs::is_directory(dir, ec)) return invalid_argument(dir + ": exists and is not a folder");
  if (fs::exists(join_path(dir, kDbFile), ec)) return Status::ok();
  if (!fs::is_empty(dir, ec))
    return invalid_argument(dir +
                            ": the folder is not empty and is not a synpref curation project; choose a new "
                            "or empty folder");
  return Status::ok();
}

json summary_json(const InitSummary& s) {
  return {{"input_records", s.input_records},
          {"pairs", s.pairs},
          {"duplicates", s.duplicates},
          {"rejects", s.rejects},
          {"shards", s.shards},
          {"rejects_by_code", s.rejects_by_code}};
}

struct PendingPair {
  std::string id, hash;
  int64_t offset = 0, length = 0, ordinal = 0;
  std::string category, source;
  data::Attributes attributes;
};

// One pass over the pool; see the top of this file.
class PoolImporter {
 public:
  PoolImporter(sql::Db& db, std::string dir, const InitOptions& options)
      : db_(db), dir_(std::move(dir)), options_(options) {}

  Status start() {
    SP_ASSIGN_OR_RETURN(find_hash_, db_.prepare("SELECT ordinal FROM pairs WHERE hash = ?"));
    SP_ASSIGN_OR_RETURN(find_id_, db_.prepare("SELECT row FROM pairs WHERE id = ?"));
    SP_ASSIGN_OR_RETURN(auto counts,
                        db_.prepare("SELECT (SELECT count(*) FROM shards), (SELECT count(*) FROM pairs)"));
    SP_ASSIGN_OR_RETURN(bool row, counts.step());
    SP_CHECK(row);
    next_shard_ = counts.col_int(0);
    next_row_ = counts.col_int(1);
    counts.reset();
    std::error_code ec;
    fs::create_directories(join_path(dir_, "pool"), ec);
    if (ec) return io_error(join_path(dir_, "pool") + ": cannot create: " + ec.message());
    return begin_shard_transaction();
  }

  // Decides one valid record: already imported (resume), duplicate, duplicate id, or new.
  Status add(data::Record& record, uint64_t line, const std::string& file, data::RejectLog& rejects) {
    if (record.kind != data::RecordKind::pair) {
      rejects.add({file, line, "kind",
                   "a response set (" + std::to_string(record.responses.size()) +
                       " candidates): a curation pool holds preference pairs",
                   ""});
      return Status::ok();
    }
    int64_t ordinal = input_records_++;
    Hash128 hash = data::content_hash(record);
    std::string blob = hash_blob(hash);
    find_hash_.bind_blob(1, blob.data(), blob.size());
    SP_ASSIGN_OR_RETURN(bool in_db, find_hash_.step());
    if (in_db) {
      bool imported_before = find_hash_.col_int(0) == ordinal;
      find_hash_.reset();
      if (!imported_before) ++duplicates_;
      return Status::ok();
    }
    if (shard_hashes_.count(hash)) {
      ++duplicates_;
      return Status::ok();
    }
    if (record.id.empty()) record.id = data::default_id(record);
    find_id_.bind(1, record.id);
    SP_ASSIGN_OR_RETURN(bool id_in_db, find_id_.step());
    if (id_in_db) find_id_.reset();
    if (id_in_db || shard_ids_.count(record.id)) {
      rejects.add({file, line, "duplicate_id",
                   "id '" + record.id + "' is already used by an earlier pair with different content", ""});
      return Status::ok();
    }
    return append(record, hash, std::move(blob), ordinal);
  }

  Status finish() {
    if (!pending_.empty()) SP_RETURN_IF_ERROR(flush_shard());
    SP_RETURN_IF_ERROR(txn_->commit());  // the lookups' transaction since the last shard
    txn_.reset();
    return Status::ok();
  }

  int64_t input_records() const { return input_records_; }
  int64_t duplicates() const { return duplicates_; }
  int64_t pairs() const { return next_row_; }
  int64_t shards() const { return next_shard_; }

 private:
  Status append(const data::Record& record, const Hash128& hash, std::string blob, int64_t ordinal) {
    if (!writer_) {
      SP_ASSIGN_OR_RETURN(writer_, io::Writer::open(join_path(dir_, shard_file_name(next_shard_))));
      hasher_ = std::make_unique<Hasher>();
      shard_bytes_ = 0;
    }
    line_.clear();
    data::append_canonical(line_, record);
    hasher_->add_bytes(line_);
    writer_->append(line_);
    PendingPair pair{record.id,     std::move(blob),
                     shard_bytes_,  static_cast<int64_t>(line_.size()) - 1,
                     ordinal,       record.attributes.task_category,
                     record.source, record.attributes};
    shard_bytes_ += static_cast<int64_t>(line_.size());
    pending_.push_back(std::move(pair));
    shard_hashes_.insert(hash);
    shard_ids_.insert(record.id);
    if (static_cast<int64_t>(pending_.size()) >= options_.shard_records) return flush_shard();
    return Status::ok();
  }

  // Publishes the shard file, then commits its rows and manifest entry in one transaction.
  Status flush_shard() {
    SP_RETURN_IF_ERROR(writer_->close());
    std::string file = shard_file_name(next_shard_);
    SP_ASSIGN_OR_RETURN(
        auto insert_pair,
        db_.prepare("INSERT INTO pairs (row, id, hash, shard, offset, length, category, source, "
                    "ordinal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    SP_ASSIGN_OR_RETURN(
        auto insert_attrs,
        db_.prepare("INSERT INTO attributes (row, task_category, objectivity, controversiality, "
                    "desired_attributes, annotation_guideline) VALUES (?, ?, ?, ?, ?, ?)"));
    int64_t first_row = next_row_;
    for (const PendingPair& p : pending_) {
      insert_pair.bind(1, next_row_)
          .bind(2, p.id)
          .bind_blob(3, p.hash.data(), p.hash.size())
          .bind(4, next_shard_);
      insert_pair.bind(5, p.offset)
          .bind(6, p.length)
          .bind(7, p.category)
          .bind(8, p.source)
          .bind(9, p.ordinal);
      SP_RETURN_IF_ERROR(insert_pair.run());
      if (!p.attributes.empty()) {
        const data::Attributes& a = p.attributes;
        insert_attrs.bind(1, next_row_).bind(2, a.task_category).bind(3, a.objectivity);
        insert_attrs.bind(4, a.controversiality)
            .bind(5, a.desired_attributes)
            .bind(6, a.annotation_guideline);
        SP_RETURN_IF_ERROR(insert_attrs.run());
      }
      ++next_row_;
    }
    SP_ASSIGN_OR_RETURN(auto insert_shard,
                        db_.prepare("INSERT INTO shards (shard, file, records, bytes, xxh3, "
                                    "first_row) VALUES (?, ?, ?, ?, ?, ?)"));
    insert_shard.bind(1, next_shard_).bind(2, file).bind(3, static_cast<int64_t>(pending_.size()));
    insert_shard.bind(4, shard_bytes_).bind(5, hasher_->digest().hex()).bind(6, first_row);
    SP_RETURN_IF_ERROR(insert_shard.run());
    SP_RETURN_IF_ERROR(txn_->commit());
    ++next_shard_;
    writer_.reset();
    pending_.clear();
    shard_hashes_.clear();
    shard_ids_.clear();
    return begin_shard_transaction();
  }

  // One write transaction per shard covers its dedup lookups (one lock for the shard, not two
  // per record) and then its rows and manifest entry, committed after the file is in place.
  Status begin_shard_transaction() {
    txn_ = std::make_unique<sql::Transaction>(db_);
    return txn_->begin();
  }

  sql::Db& db_;
  std::string dir_;
  const InitOptions& options_;
  sql::Stmt find_hash_, find_id_;
  std::unique_ptr<sql::Transaction> txn_;  // declared after the statements: rolled back first
  int64_t next_shard_ = 0, next_row_ = 0, input_records_ = 0, duplicates_ = 0;
  std::unique_ptr<io::Writer> writer_;
  std::unique_ptr<Hasher> hasher_;
  int64_t shard_bytes_ = 0;
  std::vector<PendingPair> pending_;
  std::unordered_set<Hash128, HashKey> shard_hashes_;  // the open shard's (earlier ones are in the db)
  std::unordered_set<std::string> shard_ids_;
  std::string line_;
};

Status import_pool(PoolImporter& importer, const std::vector<std::string>& pool_files,
                   const InitOptions& options, data::RejectLog& rejects) {
  uint64_t total_bytes = 0, done_bytes = 0;
  for (const auto& file : pool_files) {
    std::error_code ec;
    total_bytes += fs::file_size(file, ec);
  }
  Progress progress("importing pool", total_bytes, options.progress);
  data::Record record;
  data::Reject reject;
  for (const auto& file : pool_files) {
    SP_ASSIGN_OR_RETURN(auto reader, data::RecordReader::open(file, options.read));
    for (;;) {
      SP_ASSIGN_OR_RETURN(auto outcome, reader->next(record, reject));
      if (outcome == data::RecordReader::Outcome::end) break;
      if (outcome == data::RecordReader::Outcome::reject)
        rejects.add(reject);
      else
        SP_RETURN_IF_ERROR(importer.add(record, reader->last_line(), file, rejects));
      progress.update(done_bytes + reader->raw_position(), static_cast<uint64_t>(importer.input_records()));
    }
    done_bytes += reader->raw_size();
  }
  progress.finish(done_bytes, static_cast<uint64_t>(importer.input_records()));
  return importer.finish();
}

// Records this init's identity in a fresh db, or checks it against the one recorded.
// Returns true when an earlier (interrupted or finished) init of the same pool was found.
Result<bool> claim_project(sql::Db& db, const std::string& dir, const std::string& fingerprint) {
  sql::Transaction txn(db);
  SP_RETURN_IF_ERROR(txn.begin());
  SP_ASSIGN_OR_RETURN(auto read, db.prepare("SELECT value FROM config WHERE key = ?"));
  read.bind(1, kInitConfigKey);
  SP_ASSIGN_OR_RETURN(bool found, read.step());
  if (found) {
    bool same = read.col_text_view(0) == fingerprint;
    read.reset();
    if (!same)
      return invalid_argument(dir +
                              ": already a curation project of a different pool (other files or init "
                              "settings); choose a new folder");
    return true;
  }
  SP_ASSIGN_OR_RETURN(auto write, db.prepare("INSERT INTO config (key, value) VALUES (?, ?)"));
  SP_RETURN_IF_ERROR(write.bind(1, kInitConfigKey).bind(2, fingerprint).run());
  SP_RETURN_IF_ERROR(txn.commit());
  return false;
}

Status write_config_copy(const std::string& dir, const std::string& fingerprint) {
  json copy = json::parse(fingerprint);
  copy["note"] = "A copy of the init settings for reading; project.db holds the authoritative config.";
  return io::write_text(join_path(dir, "config.json"), copy.dump(2) + "\n");
}

Status validate(const std::vector<std::string>& pool_files, const InitOptions& options) {
  if (pool_files.empty()) return invalid_argument("pool: at least one pool file is required");
  if (options.shard_records <= 0)
    return invalid_argument("shard_records must be > 0, got " + std::to_string(options.shard_records));
  return Status::ok();
}

}  // namespace

InitSummary parse_init_summary(const std::string& text) {
  InitSummary s;
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return s;
  s.input_records = j.value("input_records", int64_t{0});
  s.pairs = j.value("pairs", int64_t{0});
  s.duplicates = j.value("duplicates", int64_t{0});
  s.rejects = j.value("rejects", int64_t{0});
  s.shards = j.value("shards", int64_t{0});
  if (j.contains("rejects_by_code") && j["rejects_by_code"].is_object())
    for (auto& [code, n] : j["rejects_by_code"].items()) s.rejects_by_code[code] = n.get<int64_t>();
  return s;
}

Result<std::unique_ptr<Project>> Project::init(const std::string& dir,
                                               const std::vector<std::string>& pool_files,
                                               const InitOptions& options, InitSummary* summary_out) {
  SP_RETURN_IF_ERROR(validate(pool_files, options));
  SP_ASSIGN_OR_RETURN(std::string fingerprint, pool_fingerprint(pool_files, options));
  SP_RETURN_IF_ERROR(prepare_dir(dir));
  InitSummary summary;
  {
    SP_ASSIGN_OR_RETURN(auto db, open_project_db(dir, true));
    SP_ASSIGN_OR_RETURN(summary.resumed, claim_project(*db, dir, fingerprint));
    SP_ASSIGN_OR_RETURN(auto marker, db->prepare("SELECT 1 FROM steps WHERE step = ?"));
    marker.bind(1, kInitStep);
    SP_ASSIGN_OR_RETURN(bool done, marker.step());
    marker.reset();
    if (done) {
      SP_ASSIGN_OR_RETURN(auto read, db->prepare("SELECT value FROM config WHERE key = ?"));
      read.bind(1, kInitSummaryKey);
      SP_ASSIGN_OR_RETURN(bool found, read.step());
      if (found) summary = parse_init_summary(read.col_text(0));
      read.reset();
      summary.already_done = true;
    } else {
      SP_RETURN_IF_ERROR(write_config_copy(dir, fingerprint));
      SP_ASSIGN_OR_RETURN(auto rejects, data::RejectLog::open(join_path(dir, kRejectsFile)));
      PoolImporter importer(*db, dir, options);
      SP_RETURN_IF_ERROR(importer.start());
      SP_RETURN_IF_ERROR(import_pool(importer, pool_files, options, *rejects));
      SP_RETURN_IF_ERROR(rejects->close());
      summary.input_records = importer.input_records();
      summary.duplicates = importer.duplicates();
      summary.pairs = importer.pairs();
      summary.shards = importer.shards();
      summary.rejects = static_cast<int64_t>(rejects->total());
      for (const auto& [code, n] : rejects->by_code())
        summary.rejects_by_code[code] = static_cast<int64_t>(n);
      if (summary.pairs == 0)
        return data_error("no usable pair in the pool: " + std::to_string(summary.rejects) +
                          " records rejected, listed in " + join_path(dir, kRejectsFile));
      sql::Transaction txn(*db);
      SP_RETURN_IF_ERROR(txn.begin());
      SP_ASSIGN_OR_RETURN(auto save, db->prepare("INSERT OR REPLACE INTO config (key, value) VALUES (?, ?)"));
      SP_RETURN_IF_ERROR(save.bind(1, kInitSummaryKey).bind(2, summary_json(summary).dump()).run());
      SP_ASSIGN_OR_RETURN(auto mark,
                          db->prepare("INSERT OR IGNORE INTO steps (step, run, time) VALUES (?, 0, ?)"));
      SP_RETURN_IF_ERROR(mark.bind(1, kInitStep).bind(2, now_iso()).run());
      SP_RETURN_IF_ERROR(txn.commit());
    }
  }
  if (summary_out) *summary_out = summary;
  return open(dir);
}

}  // namespace synpref::curate
