// tools/synpref/eval_pages.h: eval results -> the report module's plain values (report may not
// include eval, docs/ARCHITECTURE.md), shared by `synpref eval --html` and `synpref report eval`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "synpref/eval/benchmark.h"
#include "synpref/eval/report.h"
#include "synpref/eval/scoring.h"
#include "synpref/report/pages.h"

namespace synpref::cli {

inline std::vector<report::MetricValue> to_metric_values(const std::vector<eval::Metric>& metrics) {
  std::vector<report::MetricValue> out;
  out.reserve(metrics.size());
  for (const eval::Metric& m : metrics) out.push_back({m.name, m.value, m.ci_low, m.ci_high, m.n});
  return out;
}

inline std::vector<report::CurveValues> to_curve_values(const std::vector<eval::Curve>& curves) {
  std::vector<report::CurveValues> out;
  out.reserve(curves.size());
  for (const eval::Curve& c : curves) out.push_back({c.name, c.values});
  return out;
}

inline std::string benchmark_column(const std::string& benchmark) {
  const std::optional<eval::BenchmarkInfo> info = eval::find_benchmark(benchmark);
  return info ? std::string(info->column) : benchmark;
}

// A fresh evaluation (`synpref eval --html`).
inline report::BenchmarkResult benchmark_result(const eval::Evaluation& evaluation, const std::string& model,
                                                const eval::BootstrapOptions& bootstrap) {
  report::BenchmarkResult r;
  r.benchmark = evaluation.benchmark;
  r.column = benchmark_column(evaluation.benchmark);
  r.model = model;
  r.headline = evaluation.headline;
  r.metrics = to_metric_values(evaluation.metrics);
  r.curves = to_curve_values(evaluation.curves);
  r.notes = evaluation.notes;
  r.partial = evaluation.partial;
  r.n_items = evaluation.n_items;
  r.replicates = bootstrap.replicates;
  r.confidence = bootstrap.confidence;
  return r;
}

// A report file read back (`synpref report eval`, `synpref eval table --html`).
inline report::BenchmarkResult benchmark_result(const eval::ReportSummary& summary) {
  report::BenchmarkResult r;
  r.benchmark = summary.benchmark;
  r.column = benchmark_column(summary.benchmark);
  r.model = summary.model;
  r.headline = summary.headline;
  r.metrics = to_metric_values(summary.metrics);
  r.curves = to_curve_values(summary.curves);
  r.notes = summary.notes;
  r.partial = summary.partial;
  r.n_items = summary.n_scored;
  r.replicates = summary.bootstrap.replicates;
  r.confidence = summary.bootstrap.confidence;
  return r;
}

}  // namespace synpref::cli
