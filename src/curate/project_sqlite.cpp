#include "project_sqlite.h"

#include <sqlite3.h>

#include <cmath>
#include <utility>

namespace synpref::curate::sql {

namespace {
bool is_corruption(int code) {
  int primary = code & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}
}  // namespace

Stmt::~Stmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}
Stmt::Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}
Stmt& Stmt::operator=(Stmt&& other) noexcept {
  if (this != &other) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Stmt& Stmt::bind(int idx, int64_t value) {
  sqlite3_bind_int64(stmt_, idx, value);
  return *this;
}
Stmt& Stmt::bind(int idx, double value) {
  if (std::isnan(value))
    sqlite3_bind_null(stmt_, idx);
  else
    sqlite3_bind_double(stmt_, idx, value);
  return *this;
}
Stmt& Stmt::bind(int idx, std::string_view value) {
  sqlite3_bind_text64(stmt_, idx, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}
Stmt& Stmt::bind_blob(int idx, const void* data, size_t size) {
  sqlite3_bind_blob64(stmt_, idx, data, size, SQLITE_TRANSIENT);
  return *this;
}

Result<bool> Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    reset();
    return false;
  }
  Status status = db_->error(std::string("running '") + sqlite3_sql(stmt_) + "'");
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return status;
}

Status Stmt::run() {
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool row, step());
    if (!row) return Status::ok();
  }
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Stmt::col_int(int col) const {
  return sqlite3_column_int64(stmt_, col);
}
double Stmt::col_double(int col) const {
  if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nan("");
  return sqlite3_column_double(stmt_, col);
}
std::string Stmt::col_text(int col) const {
  return std::string(col_text_view(col));
}
std::string_view Stmt::col_text_view(int col) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (!text) return {};
  return {text, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
}
bool Stmt::col_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

Result<std::unique_ptr<Db>> Db::open(const std::string& path, bool create) {
  std::unique_ptr<Db> db(new Db());
  db->path_ = path;
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db->db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    if (!db->db_) return io_error(path + ": cannot open the database (out of memory)");
    return db->error("opening the database");
  }
  sqlite3_extended_result_codes(db->db_, 1);
  sqlite3_busy_timeout(db->db_, 10000);
  // Reading the schema is the first access to the file's pages: a file that is not a database
  // fails here, not later.
  SP_RETURN_IF_ERROR(db->exec("PRAGMA journal_mode=WAL"));
  SP_RETURN_IF_ERROR(db->exec("PRAGMA synchronous=NORMAL"));
  // Batches of a million labels touch index pages all over the file: a small page cache makes
  // every insert a page spill (30 us a row at the 2 MB default; ~3 us with this).
  SP_RETURN_IF_ERROR(db->exec("PRAGMA cache_size=-262144"));  // KiB: up to 256 MiB, allocated as used
  SP_RETURN_IF_ERROR(db->exec("SELECT count(*) FROM sqlite_master"));
  return db;
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

Status Db::exec(std::string_view sql_text) {
  std::string text(sql_text);
  char* message = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (message) sqlite3_free(message);
  if (rc != SQLITE_OK) return error("running '" + text.substr(0, 80) + "'");
  return Status::ok();
}

Result<Stmt> Db::prepare(std::string_view sql_text) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql_text.data(), static_cast<int>(sql_text.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return error("preparing '" + std::string(sql_text.substr(0, 80)) + "'");
  return Stmt(this, stmt);
}

int64_t Db::changes() const {
  return sqlite3_changes64(db_);
}

Status Db::error(std::string_view what) const {
  int code = db_ ? sqlite3_extended_errcode(db_) : SQLITE_ERROR;
  std::string message = path_ + ": " + std::string(what) + ": " + (db_ ? sqlite3_errmsg(db_) : "error");
  if (is_corruption(code))
    return data_error(message +
                      " (the project database is damaged; restore it from a backup or re-create the "
                      "project with `synpref curate init`)");
  return io_error(message);
}

Transaction::~Transaction() {
  if (open_) (void)db_.exec("ROLLBACK");
}

Status Transaction::begin() {
  SP_RETURN_IF_ERROR(db_.exec("BEGIN IMMEDIATE"));
  open_ = true;
  return Status::ok();
}

Status Transaction::commit() {
  SP_RETURN_IF_ERROR(db_.exec("COMMIT"));
  open_ = false;
  return Status::ok();
}

}  // namespace synpref::curate::sql
