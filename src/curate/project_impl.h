// src/curate/project_impl.h: what a Project holds, shared by the files that implement it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "project_sqlite.h"
#include "synpref/curate/project.h"

namespace synpref::curate {

// One pool shard as the manifest (table `shards`) describes it.
struct ShardInfo {
  std::string file;  // relative to the project folder: "pool/shard-00000.jsonl"
  int64_t records = 0, bytes = 0, first_row = 0;
  std::string xxh3;  // hex XXH3-128 of the file's bytes
};

inline constexpr const char* kDbFile = "project.db";
inline constexpr const char* kInitStep = "init";                // step marker: the pool is imported
inline constexpr const char* kInitSummaryKey = "init_summary";  // config key: InitSummary as JSON

std::string now_iso();                       // "2026-12-05T12:34:56.789Z"
std::string shard_file_name(int64_t shard);  // "pool/shard-00042.jsonl"
std::string join_path(const std::string& dir, const std::string& name);
// InitSummary from its stored JSON (config key kInitSummaryKey); zeros for fields it lacks.
InitSummary parse_init_summary(const std::string& text);

struct Project::Impl {
  std::string dir;
  std::unique_ptr<sql::Db> db;
  std::vector<ShardInfo> shards;
  int64_t n_pairs = 0;
  mutable sql::Stmt row_by_id;   // SELECT row FROM pairs WHERE id = ?
  mutable sql::Stmt loc_by_row;  // SELECT shard, offset, length FROM pairs WHERE row = ?

  // Reads the manifest into `shards` and counts pairs.
  Status load_shards();
  // Checks each shard's size (and, with hash, its XXH3) against the manifest.
  Status verify_shards(bool hash) const;
  Result<int64_t> row_of(std::string_view id) const;
  // Resolves every id of a batch; `field` names the batch in errors ("labels").
  Result<std::vector<int64_t>> rows_of(const std::vector<std::string_view>& ids,
                                       std::string_view field) const;
  Result<data::Record> read_record(int64_t row) const;
};

// Opens DIR/project.db (create: creating it) and migrates it to kSchemaVersion.
Result<std::unique_ptr<sql::Db>> open_project_db(const std::string& dir, bool create);

}  // namespace synpref::curate
