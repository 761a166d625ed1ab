// The page of one `synpref eval` run and the Table-1 page (synpref/report/pages.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "synpref/report/pages.h"

namespace synpref::report {

namespace {

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// True when every finite value and interval end lies in [0, 1] (accuracies): their charts share
// the fixed 0..1 axis; anything else gets an axis fitted to the data.
bool all_unit(const std::vector<const MetricValue*>& metrics) {
  for (const MetricValue* m : metrics) {
    for (double v : {m->value, m->ci_low, m->ci_high})
      if (std::isfinite(v) && (v < 0 || v > 1)) return false;
  }
  return true;
}

// Bars of `metrics` (names without their first `prefix_len` characters), with error bars when the
// evaluation has bootstrap intervals.
BarChart metric_bars(const std::string& title, const std::string& x_title,
                     const std::vector<const MetricValue*>& metrics, size_t prefix_len, bool intervals) {
  BarChart chart;
  chart.title = title;
  chart.x_title = x_title;
  chart.y_title = "value";
  for (const MetricValue* m : metrics) {
    chart.category.push_back(m->name.substr(prefix_len));
    chart.value.push_back(m->value);
    if (intervals) {
      chart.lo.push_back(m->ci_low);
      chart.hi.push_back(m->ci_high);
    }
  }
  if (!all_unit(metrics)) chart.y_min = chart.y_max = 0;
  return chart;
}

std::string family_of(const std::string& name) {
  size_t slash = name.find('/');
  return slash == std::string::npos ? "" : name.substr(0, slash);
}

// matrix/<row>/<column> metrics as a heatmap (rows and columns in first-seen order); false when
// there are none or they do not fill the grid.
bool matrix_heatmap(const BenchmarkResult& result, Heatmap* out) {
  std::vector<std::string> rows, cols;
  std::map<std::pair<std::string, std::string>, double> cells;
  for (const MetricValue& m : result.metrics) {
    if (family_of(m.name) != "matrix") continue;
    std::string rest = m.name.substr(7);
    size_t slash = rest.find('/');
    if (slash == std::string::npos) return false;
    std::string row = rest.substr(0, slash), col = rest.substr(slash + 1);
    if (std::find(rows.begin(), rows.end(), row) == rows.end()) rows.push_back(row);
    if (std::find(cols.begin(), cols.end(), col) == cols.end()) cols.push_back(col);
    cells[{row, col}] = m.value;
  }
  if (cells.empty() || cells.size() != rows.size() * cols.size()) return false;
  out->rows = rows;
  out->cols = cols;
  for (const auto& row : rows)
    for (const auto& col : cols) out->values.push_back(cells[{row, col}]);
  return true;
}

std::string display_name(const BenchmarkResult& result) {
  return result.column.empty() ? result.benchmark : result.column;
}

}  // namespace

Page eval_page(const BenchmarkResult& result) {
  Page page("Eval: " + display_name(result) + " - " + result.model);
  const MetricValue* headline = nullptr;
  for (const MetricValue& m : result.metrics)
    if (m.name == result.headline) headline = &m;
  std::string summary = "benchmark " + result.benchmark + ", model " + result.model + ", " +
                        std::to_string(result.n_items) + " items scored";
  if (headline) {
    summary += ". " + headline->name + " = " + fixed(headline->value, 4);
    if (result.replicates > 0) {
      summary += " (" + fixed(100 * result.confidence, 0) + "% bootstrap CI " + fixed(headline->ci_low, 4) +
                 " .. " + fixed(headline->ci_high, 4) + ", " + std::to_string(result.replicates) +
                 " replicates)";
    }
  }
  if (result.partial) summary += ". PARTIAL: part of the official total has no data or items are missing";
  page.paragraph(summary);

  // Top-level metrics (headline first), then one chart per family in first-seen order.
  std::vector<const MetricValue*> overall;
  if (headline) overall.push_back(headline);
  std::vector<std::string> families;
  std::map<std::string, std::vector<const MetricValue*>> by_family;
  for (const MetricValue& m : result.metrics) {
    std::string family = family_of(m.name);
    if (family.empty()) {
      if (&m != headline) overall.push_back(&m);
      continue;
    }
    if (!by_family.count(family)) families.push_back(family);
    by_family[family].push_back(&m);
  }
  const bool intervals = result.replicates > 0;
  std::string interval = intervals ? " with " + fixed(100 * result.confidence, 0) + "% bootstrap intervals"
                                   : " (no intervals: bootstrap off)";
  page.heading("Metrics" + interval);
  page.chart("metrics-overall", bar_chart_with_ci(metric_bars(display_name(result) + ": overall", "metric",
                                                              overall, 0, intervals)));
  Heatmap matrix;
  bool has_matrix = matrix_heatmap(result, &matrix);
  for (const std::string& family : families) {
    if (family == "matrix" && has_matrix) continue;
    page.chart("metrics-" + family,
               bar_chart_with_ci(metric_bars(display_name(result) + ": " + family, family, by_family[family],
                                             family.size() + 1, intervals)));
  }
  if (has_matrix) {
    page.heading("Style matrix");
    page.paragraph(
        "Cell (row, column) = fraction of prompts where the chosen response in the row's style scores "
        "above the rejected response in the column's style (mean over domains). Above the diagonal: "
        "hard; diagonal: normal; below: easy.");
    matrix.title = display_name(result) + ": chosen style x rejected style";
    matrix.row_title = "chosen";
    matrix.col_title = "rejected";
    page.chart("matrix", heatmap(matrix));
  }
  if (!result.curves.empty()) {
    page.heading("Curves");
    LineChart curves;
    curves.title = display_name(result) + ": best of K";
    curves.x_title = "K";
    curves.y_title = "value";
    for (const CurveValues& curve : result.curves) {
      for (size_t k = 0; k < curve.values.size(); ++k) {
        curves.x.push_back(double(k + 1));
        curves.series.push_back(curve.name);
        curves.y.push_back(curve.values[k]);
      }
    }
    page.chart("curves", line_chart(curves));
  }

  page.heading("All metrics");
  Table table;
  table.header = {"metric", "value", "ci_low", "ci_high", "n"};
  for (const MetricValue& m : result.metrics) {
    table.rows.push_back({m.name, fixed(m.value, 4), fixed(m.ci_low, 4), fixed(m.ci_high, 4), fixed(m.n, 0)});
  }
  page.table(table);
  if (!result.notes.empty()) {
    page.heading("Notes");
    for (const std::string& note : result.notes) page.paragraph(note);
  }
  return page;
}

Page eval_table_page(const std::vector<BenchmarkResult>& results, const std::string& table_text) {
  Page page("Reward-model benchmarks (Table 1)");
  BarChart chart;
  chart.title = "Headline metric per benchmark";
  chart.x_title = "benchmark";
  chart.y_title = "headline";
  std::vector<const MetricValue*> headlines;
  for (const BenchmarkResult& result : results) {
    for (const MetricValue& m : result.metrics) {
      if (m.name != result.headline) continue;
      chart.category.push_back(display_name(result));
      chart.group.push_back(result.model);
      chart.value.push_back(m.value);
      chart.lo.push_back(m.ci_low);
      chart.hi.push_back(m.ci_high);
      headlines.push_back(&m);
    }
  }
  if (!all_unit(headlines)) chart.y_min = chart.y_max = 0;
  page.paragraph(std::to_string(results.size()) +
                 " reports. Bars: each benchmark's headline metric per model with its bootstrap interval.");
  page.chart("benchmarks", bar_chart_with_ci(chart));
  page.heading("Table 1");
  page.preformatted(table_text);
  return page;
}

}  // namespace synpref::report
