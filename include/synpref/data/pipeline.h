// synpref/data/pipeline.h: whole-file data operations, one streaming pass each.
//
// These are what `synpref data ...` runs, exposed so the curation pipeline and the demo call the
// same code. Every operation reads any supported input (RecordStream: rejects logged, never
// dropped silently), writes canonical JSONL, and lists whatever it removes in a side file.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "synpref/data/ops.h"
#include "synpref/data/stream.h"

namespace synpref::data {

struct PipelineSummary {
  StreamCounters input;
  std::string rejects_path;
  std::string output;
  uint64_t written = 0;
  uint64_t removed = 0;      // duplicates (dedup), contaminated (decontaminate), not sampled (sample)
  std::string removed_path;  // where removed records are listed ("" when not listed)
  uint64_t table_bytes = 0;  // dedup key table
  std::vector<std::pair<std::string, uint64_t>> splits;  // split: name -> records
  double seconds = 0;
};

// Every data operation below refuses, before writing anything, an output (or side file) that is
// one of its inputs, and fails when no input record was usable (RecordStream::check_usable).

// Writes every record to `output` in `to` (canonical JSONL by default; trl and openrlhf hold
// pairs only, so a response set there is an error naming its file).
Result<PipelineSummary> convert_files(const std::vector<std::string>& inputs, const std::string& output,
                                      const StreamOptions& options,
                                      OutputFormat to = OutputFormat::canonical);

// Global exact dedup on content_hash (normalized context + responses); first occurrence wins.
// Removed records are listed in duplicates_path as {"id","file","key"}.
Result<PipelineSummary> dedup_files(const std::vector<std::string>& inputs, const std::string& output,
                                    const std::string& duplicates_path, uint64_t expected_records,
                                    const StreamOptions& options);

// Drops records whose context (or, with all_fields, any text) shares an n-gram with `index`.
// Removed records are listed in removed_path as {"id","matched":"<benchmark file:line>"}.
Result<PipelineSummary> decontaminate_files(const std::vector<std::string>& inputs, const std::string& output,
                                            const std::string& removed_path, const NgramIndex& index,
                                            bool all_fields, const StreamOptions& options);

// Writes <out_dir>/<name>.jsonl per split; assignment by unit_hash(id, seed) against the
// cumulative normalized weights, so it is stable across runs and input order.
Result<PipelineSummary> split_files(const std::vector<std::string>& inputs, const std::string& out_dir,
                                    const std::vector<std::pair<std::string, double>>& ratios, uint64_t seed,
                                    const StreamOptions& options);
// Parses "train=0.98,test=0.02" (weights normalized to sum 1).
Result<std::vector<std::pair<std::string, double>>> parse_ratios(const std::string& spec);

// Exactly `count` records (reservoir over seeded hashes; memory: count records) or, when count is
// 0, each record with probability `fraction` (streaming). Input order is kept.
Result<PipelineSummary> sample_files(const std::vector<std::string>& inputs, const std::string& output,
                                     uint64_t count, double fraction, uint64_t seed,
                                     const StreamOptions& options);

}  // namespace synpref::data
