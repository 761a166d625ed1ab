// The judge response cache on SQLite (see cache.h for the guarantees and the table).
#include "cache.h"

#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <mutex>

namespace synpref::judge {

namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples(
  model TEXT NOT NULL,
  prompt_hash TEXT NOT NULL,
  sample_index INTEGER NOT NULL,
  content TEXT NOT NULL,
  logprob REAL,
  finish_reason TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  time TEXT NOT NULL,
  PRIMARY KEY(model, prompt_hash, sample_index)) WITHOUT ROWID;
)sql";

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A prepared statement, finalized on scope exit.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

void bind_text(sqlite3_stmt* stmt, int idx, const std::string& text) {
  sqlite3_bind_text(stmt, idx, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

}  // namespace

struct Cache::Impl {
  std::string path;
  sqlite3* db = nullptr;
  std::mutex mutex;

  ~Impl() {
    if (db != nullptr) sqlite3_close(db);
  }
  Status error(const std::string& what) const {
    return io_error(path + ": judge cache: " + what + ": " + sqlite3_errmsg(db));
  }
  Status exec(const char* sql, const std::string& what) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK) return Status::ok();
    std::string text = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    return io_error(path + ": judge cache: " + what + ": " + text);
  }
  Status prepare(const char* sql, Statement& statement) {
    if (sqlite3_prepare_v2(db, sql, -1, &statement.stmt, nullptr) != SQLITE_OK)
      return error("preparing a statement");
    return Status::ok();
  }
  Status check_version() {
    Statement read;
    SP_RETURN_IF_ERROR(prepare("SELECT value FROM meta WHERE key = 'schema_version'", read));
    if (sqlite3_step(read.stmt) == SQLITE_ROW) {
      std::string version = reinterpret_cast<const char*>(sqlite3_column_text(read.stmt, 0));
      if (version != std::to_string(kSchemaVersion))
        return data_error(path + ": judge cache schema version " + version + ", this synpref reads " +
                          std::to_string(kSchemaVersion) + "; point cache_path at a new file");
      return Status::ok();
    }
    return exec(("INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '" +
                 std::to_string(kSchemaVersion) + "')")
                    .c_str(),
                "writing the schema version");
  }
};

Cache::Cache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cache::~Cache() = default;

Result<std::unique_ptr<Cache>> Cache::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  if (sqlite3_open_v2(path.c_str(), &impl->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK)
    return impl->error("cannot open");
  sqlite3_busy_timeout(impl->db, 10000);  // another process (a parallel job) may hold the lock
  SP_RETURN_IF_ERROR(impl->exec("PRAGMA journal_mode=WAL", "enabling WAL"));
  SP_RETURN_IF_ERROR(impl->exec("PRAGMA synchronous=NORMAL", "setting synchronous"));
  SP_RETURN_IF_ERROR(impl->exec(kSchema, "creating the tables (is this a judge cache file?)"));
  SP_RETURN_IF_ERROR(impl->check_version());
  return std::unique_ptr<Cache>(new Cache(std::move(impl)));
}

Status Cache::lookup(const std::string& model, const std::string& prompt_hash, int n,
                     std::vector<std::optional<Sample>>& out) {
  out.assign(static_cast<size_t>(std::max(0, n)), std::nullopt);
  std::lock_guard lock(impl_->mutex);
  Statement read;
  SP_RETURN_IF_ERROR(
      impl_->prepare("SELECT sample_index, content, logprob, finish_reason FROM samples "
                     "WHERE model = ?1 AND prompt_hash = ?2 AND sample_index < ?3",
                     read));
  bind_text(read.stmt, 1, model);
  bind_text(read.stmt, 2, prompt_hash);
  sqlite3_bind_int(read.stmt, 3, n);
  int rc;
  while ((rc = sqlite3_step(read.stmt)) == SQLITE_ROW) {
    int idx = sqlite3_column_int(read.stmt, 0);
    if (idx < 0 || idx >= n) continue;
    Sample sample;
    const void* content = sqlite3_column_blob(read.stmt, 1);
    if (content != nullptr)
      sample.content.assign(static_cast<const char*>(content),
                            static_cast<size_t>(sqlite3_column_bytes(read.stmt, 1)));
    if (sqlite3_column_type(read.stmt, 2) != SQLITE_NULL)
      sample.logprob = sqlite3_column_double(read.stmt, 2);
    sample.finish_reason = reinterpret_cast<const char*>(sqlite3_column_text(read.stmt, 3));
    out[static_cast<size_t>(idx)] = std::move(sample);
  }
  if (rc != SQLITE_DONE) return impl_->error("reading samples");
  return Status::ok();
}

Status Cache::store(const std::string& model, const std::string& prompt_hash, const std::string& endpoint,
                    const std::vector<std::pair<int, Sample>>& samples) {
  std::lock_guard lock(impl_->mutex);
  SP_RETURN_IF_ERROR(impl_->exec("BEGIN IMMEDIATE", "starting a transaction"));
  Statement write;
  Status status = impl_->prepare(
      "INSERT OR IGNORE INTO samples(model, prompt_hash, sample_index, content, logprob, finish_reason, "
      "endpoint, time) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
      write);
  const std::string time = utc_now();
  for (size_t idx = 0; status.is_ok() && idx < samples.size(); ++idx) {
    const auto& [sample_index, sample] = samples[idx];
    sqlite3_reset(write.stmt);
    bind_text(write.stmt, 1, model);
    bind_text(write.stmt, 2, prompt_hash);
    sqlite3_bind_int(write.stmt, 3, sample_index);
    bind_text(write.stmt, 4, sample.content);
    if (sample.logprob)
      sqlite3_bind_double(write.stmt, 5, *sample.logprob);
    else
      sqlite3_bind_null(write.stmt, 5);
    bind_text(write.stmt, 6, sample.finish_reason);
    bind_text(write.stmt, 7, endpoint);
    bind_text(write.stmt, 8, time);
    if (sqlite3_step(write.stmt) != SQLITE_DONE) status = impl_->error("storing a sample");
  }
  if (!status.is_ok()) {
    (void)impl_->exec("ROLLBACK", "rolling back");
    return status;
  }
  return impl_->exec("COMMIT", "committing samples");
}

}  // namespace synpref::judge
