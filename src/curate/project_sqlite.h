// src/curate/project_sqlite.h: a thin RAII layer over the SQLite C API (internal: no public header sees
// sqlite3 types). Every error is a Status naming the database file and the failing statement;
// a corrupt or non-database file is data_error, everything else io_error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "synpref/common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace synpref::curate::sql {

class Db;

// A prepared statement. bind_* take 1-based parameter indices; col_* 0-based column indices.
class Stmt {
 public:
  Stmt() = default;
  Stmt(Db* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Stmt();
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&& other) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int idx, int64_t value);
  Stmt& bind(int idx, int value) { return bind(idx, static_cast<int64_t>(value)); }
  Stmt& bind(int idx, double value);  // NaN is stored as NULL
  Stmt& bind(int idx, std::string_view value);
  Stmt& bind_blob(int idx, const void* data, size_t size);
  // Next row: true when a row is ready, false when done (then the statement resets itself).
  Result<bool> step();
  // Runs a statement that returns no rows (or ignores them) and resets it.
  Status run();
  void reset();  // also clears bindings

  int64_t col_int(int col) const;
  double col_double(int col) const;  // NULL reads as NaN
  std::string col_text(int col) const;
  std::string_view col_text_view(int col) const;  // valid until the next step()
  bool col_null(int col) const;

 private:
  Db* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Db {
 public:
  // Opens (create: or creates) `path` in WAL mode with synchronous=NORMAL (durable across a
  // killed process; a power cut may lose the last transactions, never corrupt the file).
  static Result<std::unique_ptr<Db>> open(const std::string& path, bool create);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Status exec(std::string_view sql);
  Result<Stmt> prepare(std::string_view sql);
  int64_t changes() const;
  const std::string& path() const { return path_; }
  // The Status for the last failed call, "<path>: <what>: <sqlite message>".
  Status error(std::string_view what) const;

 private:
  Db() = default;
  std::string path_;
  sqlite3* db_ = nullptr;
  friend class Stmt;
};

// BEGIN IMMEDIATE on construction (begin()), ROLLBACK on destruction unless commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Db& db) : db_(db) {}
  ~Transaction();
  Status begin();
  Status commit();

 private:
  Db& db_;
  bool open_ = false;
};

}  // namespace synpref::curate::sql
