// synpref/report/pages.h: the report pages of `synpref eval` and `synpref train`.
//
// report depends only on common, so the eval page takes plain values (the CLI copies them from
// eval::Evaluation or from report JSON files); the training page reads the run folder itself
// (metrics.jsonl, summary.json: formats in include/synpref/train/trainer.h and docs/TRAINING.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/report/report.h"

namespace synpref::report {

// One metric of an evaluation (synpref/eval/scoring.h Metric): value and bootstrap interval in
// [0, 1] for accuracies; NaN = no data.
struct MetricValue {
  std::string name;  // "score", "section/Chat", "category/mmlu-pro", "matrix/concise/markdown", ...
  double value = 0, ci_low = 0, ci_high = 0;
  double n = 0;
};

struct CurveValues {
  std::string name;            // e.g. "best_of_k/mmlu_pro"
  std::vector<double> values;  // values[k-1] at K = k
};

// What one `synpref eval` run measured.
struct BenchmarkResult {
  std::string benchmark;  // registered name, e.g. "rm-bench"
  std::string column;     // Table-1 column header, e.g. "RM-Bench" ("" = benchmark)
  std::string model;
  std::string headline;  // name of the headline metric in `metrics`
  std::vector<MetricValue> metrics;
  std::vector<CurveValues> curves;
  std::vector<std::string> notes;
  bool partial = false;
  uint64_t n_items = 0;
  uint32_t replicates = 0;  // bootstrap replicates behind the intervals (0 = none)
  double confidence = 0.95;
};

// The page of one evaluation. Charts (element ids in parentheses):
//   the top-level metrics, headline first, as bars with intervals       (metrics-overall)
//   each metric family ("section/", "subset/", "domain/", "category/", ...) as bars with
//   intervals, one chart per family: JudgeBench per category is        (metrics-category)
//   metrics named matrix/<row>/<column> (RM-Bench's chosen-style x rejected-style accuracy) as a
//   heatmap                                                             (matrix)
//   curves (PPE correctness best-of-K) as lines                         (curves)
// then a table of every metric with its interval and n, and the notes.
Page eval_page(const BenchmarkResult& result);

// Table 1 as a page: one chart with a group of bars per benchmark (one bar per model, the headline
// metric with its interval; id "benchmarks"), and `table_text` (eval's formatted Table 1) verbatim.
Page eval_table_page(const std::vector<BenchmarkResult>& results, const std::string& table_text);

// The training report of a `synpref train` output folder, from <run_dir>/metrics.jsonl (required)
// and <run_dir>/summary.json (optional: an unfinished run has none), both as the trainer writes
// them (include/synpref/train/trainer.h). Line charts over the step, series "train" (the "train"
// lines) and "held-out" (the "eval" lines): loss (id "loss"), pairwise accuracy ("accuracy"), mean
// reward margin ("margin"); and over the "train" lines: learning rate ("lr"), throughput in
// tokens/s ("throughput"), gradient norm ("grad_norm"). A chart with no points is left out. Then
// the held-out accuracy per category at the last evaluation that logged it ("eval_categories").
// Past 5000 training lines the curves show every k-th line and the last (noted on the page).
// Errors: not_found when metrics.jsonl is absent; data_error naming the file, line and field for
// a malformed line or summary.json. A missing numeric field or null (a non-finite value) is a gap
// in its curve; lines of unknown kinds are counted in a note; an incomplete last line (a run still
// writing) is left out with a note.
Result<Page> train_page(const std::string& run_dir);

// Writes train_page(run_dir) to <run_dir>/report.html (atomically) and returns that path.
Result<std::string> write_train_report(const std::string& run_dir);

}  // namespace synpref::report
