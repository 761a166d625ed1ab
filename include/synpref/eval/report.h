// synpref/eval/report.h: the eval report (JSON) and the Table-1 layout built from reports.
//
// A report records what was scored and how, so a number can be traced back: the model (or the
// scores file and its hashes), every data file with sha256 and XXH3-128, the tie policy, the max
// length and truncation counts (null when scores came from a file), missing items, the bootstrap
// settings, and every metric with its interval. Format version 1, documented in docs/EVAL.md.
#pragma once

#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/eval/benchmark.h"
#include "synpref/eval/scores.h"
#include "synpref/eval/scoring.h"

namespace synpref::eval {

inline constexpr int kReportVersion = 1;

// Hashes of a file's bytes as stored (not decompressed), as recorded in reports.
struct FileHashes {
  uint64_t bytes = 0;
  std::string sha256;    // 64 lowercase hex digits
  std::string xxh3_128;  // 32 lowercase hex digits
};
Result<FileHashes> hash_file(const std::string& path);

// What produced the scores.
struct ScoreSource {
  std::string model;        // display name (--model-name, the model dir, or the scores file stem)
  std::string model_dir;    // empty when scores came from a file
  std::string truncation;   // --model: the truncation policy
  std::string date;         // --model: the date given to chat templates ("" = the run's day)
  std::string scores_path;  // empty when scores came from a model
  std::string scores_sha256;
  std::string scores_xxh3_128;
};

struct ReportInputs {
  const Dataset* dataset = nullptr;
  const ItemScores* scores = nullptr;
  const Evaluation* evaluation = nullptr;
  ScoreSource source;
  BootstrapOptions bootstrap;
  std::string data_path;  // as given on the command line
};

// Renders the report as pretty-printed JSON (ends with a newline).
std::string report_json(const ReportInputs& inputs);

// The part of a report the table needs.
struct ReportSummary {
  std::string path;
  std::string model;
  std::string benchmark;  // the registered name
  std::string headline;
  double value = 0, ci_low = 0, ci_high = 0;
  std::vector<Metric> metrics;
  bool partial = false;  // missing items or sections without data
  // For the report's HTML page (`synpref report eval`): what the JSON holds besides the table.
  std::vector<Curve> curves;
  std::vector<std::string> notes;
  uint64_t n_scored = 0;
  BootstrapOptions bootstrap;
};

Result<ReportSummary> read_report(const std::string& path);

// Table 1: one row per model (first-seen order), one column per registered benchmark in
// all_benchmarks() order and their mean, values x100 with one decimal. A missing cell is "-";
// the mean then covers the present columns and is marked with '*'. A partial report's cell is
// marked with '*' too. With `breakdown`, each benchmark's metrics follow as a second table.
// Refuses two reports for the same model and benchmark.
Result<std::string> format_table(const std::vector<ReportSummary>& reports, bool breakdown);

}  // namespace synpref::eval
