#include "schema.h"

#include <string>

#include "synpref/curate/project.h"

namespace synpref::curate {
namespace {

// Migration N takes the schema from version N-1 to N. Append new ones; never edit a shipped one.
// Pair keys are `row` (the pair's 0-based position in the pool); ids live only in `pairs`.
// Per-pair tables are WITHOUT ROWID with the row first in their key: one B-tree each, read in
// row order by export's merge join, and bulk writes sorted by key append instead of scatter.
constexpr const char* kMigrations[] = {
    // 1: the initial schema.
    R"sql(
CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE shards (
  shard INTEGER PRIMARY KEY, file TEXT NOT NULL, records INTEGER NOT NULL, bytes INTEGER NOT NULL,
  xxh3 TEXT NOT NULL, first_row INTEGER NOT NULL);
CREATE TABLE pairs (
  row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, hash BLOB NOT NULL UNIQUE,
  shard INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,
  category TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '', ordinal INTEGER NOT NULL);
CREATE TABLE attributes (
  row INTEGER PRIMARY KEY, task_category TEXT NOT NULL, objectivity TEXT NOT NULL,
  controversiality TEXT NOT NULL, desired_attributes TEXT NOT NULL, annotation_guideline TEXT NOT NULL);
CREATE TABLE labels (
  row INTEGER NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL, annotator TEXT NOT NULL,
  sample_index INTEGER NOT NULL, prompt_hash TEXT NOT NULL,
  verdict INTEGER NOT NULL CHECK (verdict IN (-1, 0, 1)), confidence REAL, time TEXT NOT NULL,
  PRIMARY KEY (row, kind, annotator, sample_index, prompt_hash)) WITHOUT ROWID;
CREATE TABLE membership (
  set_name TEXT NOT NULL CHECK (set_name IN ('gold', 'silver')), row INTEGER NOT NULL,
  PRIMARY KEY (set_name, row)) WITHOUT ROWID;
CREATE TABLE rm_scores (
  rm TEXT NOT NULL, row INTEGER NOT NULL, chosen REAL NOT NULL, rejected REAL NOT NULL,
  PRIMARY KEY (rm, row)) WITHOUT ROWID;
CREATE TABLE stages (seq INTEGER PRIMARY KEY, stage TEXT NOT NULL UNIQUE);
CREATE TABLE decisions (
  stage TEXT NOT NULL, row INTEGER NOT NULL, keep INTEGER NOT NULL, reason TEXT NOT NULL,
  PRIMARY KEY (stage, row)) WITHOUT ROWID;
CREATE TABLE runs (
  run INTEGER PRIMARY KEY, command TEXT NOT NULL, config TEXT NOT NULL, started TEXT NOT NULL,
  ended TEXT NOT NULL DEFAULT '', status TEXT NOT NULL);
CREATE TABLE rounds (
  round INTEGER PRIMARY KEY, run INTEGER NOT NULL, stage TEXT NOT NULL, started TEXT NOT NULL,
  ended TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '{}');
CREATE TABLE judge_usage (
  usage INTEGER PRIMARY KEY, run INTEGER NOT NULL, endpoint TEXT NOT NULL, requests INTEGER NOT NULL,
  cached INTEGER NOT NULL, retries INTEGER NOT NULL, failures INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL,
  time TEXT NOT NULL);
CREATE TABLE steps (step TEXT PRIMARY KEY, run INTEGER NOT NULL, time TEXT NOT NULL);
)sql",
};
constexpr int kNumMigrations = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));
static_assert(kNumMigrations == kSchemaVersion, "one migration per schema version");

}  // namespace

Result<int> schema_version(sql::Db& db) {
  SP_ASSIGN_OR_RETURN(
      auto has_table,
      db.prepare("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'"));
  SP_ASSIGN_OR_RETURN(bool row, has_table.step());
  SP_CHECK(row);
  if (has_table.col_int(0) == 0) return 0;
  has_table.reset();
  SP_ASSIGN_OR_RETURN(auto read, db.prepare("SELECT max(version) FROM schema_version"));
  SP_ASSIGN_OR_RETURN(row, read.step());
  SP_CHECK(row);
  int version = read.col_null(0) ? 0 : static_cast<int>(read.col_int(0));
  read.reset();
  return version;
}

Status migrate(sql::Db& db) {
  SP_RETURN_IF_ERROR(db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
  SP_ASSIGN_OR_RETURN(int version, schema_version(db));
  if (version > kSchemaVersion)
    return unsupported(db.path() + ": the project database has schema version " + std::to_string(version) +
                       ", newer than this synpref understands (" + std::to_string(kSchemaVersion) +
                       "); use a newer synpref");
  for (int next = version + 1; next <= kSchemaVersion; ++next) {
    sql::Transaction txn(db);
    SP_RETURN_IF_ERROR(txn.begin());
    // Re-read inside the write lock: another process may have migrated meanwhile.
    SP_ASSIGN_OR_RETURN(int current, schema_version(db));
    if (current >= next) continue;
    SP_RETURN_IF_ERROR(
        db.exec(kMigrations[next - 1]).with_context("schema migration " + std::to_string(next)));
    SP_ASSIGN_OR_RETURN(auto bump, db.prepare("INSERT INTO schema_version (version) VALUES (?)"));
    SP_RETURN_IF_ERROR(bump.bind(1, next).run());
    SP_RETURN_IF_ERROR(txn.commit());
  }
  return Status::ok();
}

}  // namespace synpref::curate
