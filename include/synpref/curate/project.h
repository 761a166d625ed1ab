// synpref/curate/project.h: a curation project: the pool as immutable shards + a SQLite store.
//
// A project is a folder DIR (docs/curation.md, "Project folder" and "Schema"):
//   DIR/pool/shard-00000.jsonl ...  the deduplicated pool as canonical JSONL (docs/formats/
//                                   canonical-jsonl.md), in pool order, never rewritten. Every
//                                   record has an id: its own, or data::default_id (content hash).
//   DIR/project.db                  SQLite (WAL): shard manifest (records, bytes, XXH3 per shard),
//                                   one row per pair, attributes, labels with provenance, gold/silver
//                                   membership, RM scores, stage decisions, runs, rounds, judge
//                                   usage, config, step markers. Versioned by ordered migrations.
//   DIR/config.json                 a readable copy of the init settings (the db is authoritative).
//   DIR/rejects.jsonl               pool records that were not imported (data::RejectLog format).
//
// Crash safety: every write method is one SQLite transaction, and is idempotent (the same batch
// twice leaves the same database), so a step killed at any point is resumed by running it again.
// Long steps record a step marker (mark_step_done) once all their batches are committed.
// A Project is not thread-safe; one process writes a project at a time (SQLite locks guard it).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/data/reader.h"
#include "synpref/data/record.h"
#include "synpref/data/writer.h"

namespace synpref::curate {

// Schema version this build writes. Opening a db with a newer version is an error that says to
// upgrade synpref; an older one is migrated forward on open (each migration one transaction).
inline constexpr int kSchemaVersion = 1;

struct PairRef {
  int64_t row = -1;  // stable integer key in the db: the pair's position in the pool (0-based)
  std::string id;
};

// One verdict about a pair, with provenance.
struct Label {
  std::string pair_id;
  std::string source;     // "human" | "llm_judge" | "model" | "original"
  std::string annotator;  // human id, judge endpoint name, or RM name@version
  int sample_index = 0;
  std::string prompt_hash;  // hex; "" when no prompt (human, model)
  int verdict = 0;          // +1 = the pair's chosen is better, -1 = rejected is better, 0 = tie/abstain
  double confidence = std::nan("");
  std::string kind;  // "attribute" | "silver" | "gold" | "stage2" ...
  std::string time;  // ISO 8601 UTC; "" = now (filled by add_labels)
};

// An RM's scores for one pair: p(chosen > rejected) = sigmoid(chosen - rejected).
struct Score {
  std::string pair_id;
  double chosen = 0, rejected = 0;
};

// A stage's decision about one pair. Discarded pairs are what `export --set flipped` swaps.
struct Decision {
  std::string pair_id;
  bool keep = false;
  std::string reason;  // short machine-readable reason, e.g. "gold_rm_disagrees"
};

// One judge client's spend during a run (mirrors judge::Usage, plus the endpoint it is for).
struct JudgeUsage {
  std::string endpoint;  // judge endpoint name; "" = all endpoints of the client together
  int64_t requests = 0, cached = 0, retries = 0, failures = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double cost_usd = 0;
};

struct InitOptions {
  data::ReadOptions read;          // pool reading (format, limits, source for records without one)
  int64_t shard_records = 100000;  // records per pool shard (> 0)
  bool progress = false;           // progress bar on stderr while reading the pool
};

// What init did (also stored in the db, so a rerun of a finished init reports the same).
struct InitSummary {
  int64_t input_records = 0;  // records read that passed validation
  int64_t pairs = 0;          // imported (after dedup)
  int64_t duplicates = 0;     // same content hash as an earlier record: dropped, counted
  int64_t rejects = 0;        // written to DIR/rejects.jsonl
  std::map<std::string, int64_t> rejects_by_code;
  int64_t shards = 0;
  bool resumed = false;       // this call continued an interrupted init
  bool already_done = false;  // this call found the init finished and changed nothing
};

struct OpenOptions {
  // Hash every shard with XXH3 and compare with the manifest (sizes are always checked). Reading
  // the pool (for_each_pair) verifies each shard's hash as it streams it either way.
  bool verify_shards = true;
};

// Counts for `synpref curate status`.
struct StageCounts {
  int64_t kept = 0, discarded = 0;  // flipped = discarded (what export --set flipped writes)
};
struct ProjectStatus {
  int64_t pairs = 0;
  int64_t shards = 0;
  std::map<std::string, int64_t> pairs_by_category;  // "" = no category yet
  std::map<std::string, int64_t> pairs_by_source;
  std::map<std::string, std::map<std::string, int64_t>> labels_by_kind_source;  // kind -> source -> n
  int64_t gold = 0, silver = 0;
  std::vector<std::string> stages;  // in the order they first recorded decisions
  std::map<std::string, StageCounts> decisions_by_stage;
  std::map<std::string, std::map<std::string, StageCounts>> decisions_by_stage_category;
  std::map<std::string, int64_t> decisions_by_stage_reason;  // "stage/reason" -> n
  std::vector<std::string> rms;                              // RM name@version with scores
  JudgeUsage judge_total;                                    // summed over all usage rows
  std::map<std::string, JudgeUsage> judge_by_endpoint;
  int64_t runs = 0, rounds = 0;
  InitSummary init;
};

struct RunInfo {
  int64_t run_id = 0;
  std::string command, config_json, started, ended, status;  // status: "running"|"ok"|"failed"|...
};

class Project {
 public:
  ~Project();
  Project(const Project&) = delete;
  Project& operator=(const Project&) = delete;

  // Creates DIR (or resumes an interrupted init of the same pool) and imports the pool: reads
  // every file through the data layer, drops exact duplicates (content hash), writes the shards
  // and the pair rows. Idempotent: rerunning a finished init of the same pool changes nothing.
  // Errors: DIR exists, is not empty and is not a project of the same pool (invalid_argument);
  // every record rejected or none at all (data_error, naming the rejects file); I/O.
  static Result<std::unique_ptr<Project>> init(const std::string& dir,
                                               const std::vector<std::string>& pool_files,
                                               const InitOptions& options, InitSummary* summary = nullptr);
  // Opens a finished project. Errors name the file: no project (not_found), an unfinished init
  // (invalid_argument: rerun init), a newer schema (unsupported), a corrupt db, a missing,
  // truncated or modified shard (data_error).
  static Result<std::unique_ptr<Project>> open(const std::string& dir, const OpenOptions& options = {});

  const std::string& dir() const;
  int64_t n_pairs() const;
  std::vector<std::string> shard_paths() const;  // in pool order
  std::string db_path() const;

  // ---- Reading the pool: streams shards in pool order (row = 0, 1, ...). Stops at the first
  // non-ok Status fn returns and returns it. A shard whose bytes no longer match the manifest
  // is a data_error naming it.
  Status for_each_pair(const std::function<Status(int64_t row, const data::Record&)>& fn) const;
  // Rows [first_row, end_row) only (clamped to the pool), for jobs that split the pool by row
  // range: reads just the shards holding them, each whole, so each is still verified.
  Status for_each_pair_in(int64_t first_row, int64_t end_row,
                          const std::function<Status(int64_t row, const data::Record&)>& fn) const;
  // Rows and ids of [first_row, end_row), clamped to the pool, from the db (no shard read).
  Result<std::vector<PairRef>> pair_refs(int64_t first_row, int64_t end_row) const;
  Result<data::Record> pair(const std::string& id) const;  // not_found for an unknown id
  Result<data::Record> pair_at(int64_t row) const;
  Result<int64_t> row_of(const std::string& id) const;  // not_found for an unknown id
  Result<std::string> id_at(int64_t row) const;

  // ---- Writes. Each call is one transaction: all or nothing. A pair id that is not in the pool
  // is not_found naming it (and nothing of the batch is written).
  // Re-adding a label with the same (pair, kind, annotator, sample_index, prompt_hash) is a
  // no-op (the first one stays).
  Status add_labels(const std::vector<Label>& labels);
  // Replaces the pairs' attributes; a non-empty task_category also becomes the pair's category.
  Status set_attributes(const std::vector<std::pair<std::string, data::Attributes>>& attributes);
  // set: "gold" | "silver". member=false removes the pairs from the set.
  Status set_membership(const std::vector<std::string>& ids, std::string_view set, bool member);
  // rm: "name@version". Replaces earlier scores of the same RM for these pairs.
  Status set_scores(std::string_view rm,
                    const std::vector<std::pair<std::string, std::array<double, 2>>>& chosen_rejected);
  // Replaces earlier decisions of the same stage for these pairs.
  Status set_decisions(std::string_view stage, const std::vector<Decision>& decisions);

  // ---- Getters (ordered by row; then by kind, annotator, sample index for labels).
  Result<std::vector<Label>> labels_for(std::string_view kind) const;  // "" = every kind
  // Streaming forms for pool-scale reads (bounded memory), in the same order, with the pair's
  // row; they stop at the first non-ok Status fn returns and return it.
  Status for_each_label(std::string_view kind,
                        const std::function<Status(int64_t row, const Label&)>& fn) const;
  Status for_each_score(std::string_view rm,
                        const std::function<Status(int64_t row, const Score&)>& fn) const;
  Status for_each_decision(std::string_view stage,
                           const std::function<Status(int64_t row, const Decision&)>& fn) const;
  Result<std::vector<Label>> labels_of(const std::string& pair_id) const;
  Result<std::vector<std::pair<std::string, data::Attributes>>> attributes() const;
  Result<std::optional<data::Attributes>> attributes_of(const std::string& pair_id) const;
  Result<std::vector<std::string>> members(std::string_view set) const;
  Result<std::vector<Score>> scores(std::string_view rm) const;
  Result<std::vector<std::string>> score_models() const;
  Result<std::vector<Decision>> decisions(std::string_view stage) const;
  Result<std::vector<std::string>> stages() const;  // in the order they first recorded decisions

  // ---- Runs, rounds, usage, config, step markers.
  Result<int64_t> begin_run(std::string_view command, std::string_view config_json);
  Status end_run(int64_t run_id, std::string_view status);  // "ok", "failed", "interrupted"
  Result<std::vector<RunInfo>> runs() const;
  Result<int64_t> begin_round(int64_t run_id, std::string_view stage);
  Status end_round(int64_t round, std::string_view status, std::string_view summary_json);
  Status add_usage(int64_t run_id, const std::vector<JudgeUsage>& usage);
  // Project config: JSON values by key ("judges", "taxonomy", ...).
  Status set_config(std::string_view key, std::string_view value_json);
  Result<std::optional<std::string>> config(std::string_view key) const;
  // Step markers: a step that writes in many batches marks itself done in its last transaction
  // (or right after it), so a rerun skips it.
  Result<bool> step_done(std::string_view step) const;
  Status mark_step_done(std::string_view step, int64_t run_id = 0);

  Result<ProjectStatus> status() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }  // for the curate library's own files

 private:
  explicit Project(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Export (src/curate/export.cpp)

enum class ExportSet { gold, silver, kept, discarded, flipped };
Result<ExportSet> parse_export_set(std::string_view name);  // "gold", "silver", ...
std::string_view export_set_name(ExportSet set);

struct ExportOptions {
  ExportSet set = ExportSet::gold;
  std::string stage;  // for kept/discarded/flipped: "" = the last stage that recorded decisions
  data::OutputFormat format = data::OutputFormat::canonical;
};
struct ExportSummary {
  int64_t written = 0;
  std::string stage;  // the stage used (kept/discarded/flipped)
};
// Writes the set's pairs in pool order, with attributes and provenance from the db (provenance
// from the pair's labels of the set's kind; see docs/curation.md). flipped = discarded pairs with
// chosen and rejected swapped. Output via io::Writer (atomic; never one of the project's files).
Result<ExportSummary> export_set(const Project& project, const std::string& output,
                                 const ExportOptions& options);

}  // namespace synpref::curate
