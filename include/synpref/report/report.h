// synpref/report/report.h: self-contained HTML reports with Vega-Lite charts.
//
// A Page is one HTML file that opens offline: Vega, Vega-Lite and vega-embed are inlined (the
// bytes of tools/node/node_modules/{vega,vega-lite,vega-embed}/build/*.min.js, embedded at build
// time), charts carry their data inline, and nothing on the page is fetched from the network.
//
// Safety: every piece of text (title, headings, paragraphs, table cells, chart ids) is
// HTML-escaped; chart specs are re-serialized with '<', '>' and '&' written as \u003c, \u003e,
// \u0026, so a "</script>" inside a label cannot end the script element. Invalid UTF-8 becomes
// U+FFFD.
//
// In the browser: chart `id` is the id of the chart's <div>; each spec sits in a
// <script type="application/json" data-chart="<id>"> element; `window.synprefCharts` maps ids to
// vega-embed results once `window.synprefReady` (a Promise) resolves. A chart that fails to
// render logs a console error and shows the message in its <div>. docs/reports.md has the layout.
//
// The spec builders below return Vega-Lite JSON text from plain columns; eval, train and the demo
// share them so all reports look alike.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::report {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // a short row is padded with empty cells
};

// One self-contained HTML page, built in call order.
class Page {
 public:
  explicit Page(std::string title);

  void heading(std::string_view text, int level = 2);  // level clamped to 2..4 (the title is h1)
  void paragraph(std::string_view text);               // text is escaped
  void table(const Table& table);
  // A Vega-Lite spec as JSON text with inline data ("data": {"values": [...]}); `id` becomes the
  // chart's element id (browser tests find charts by it). Precondition: `vega_lite_json` is valid
  // JSON (the builders below always are) and `id` is unique on the page (SP_CHECK).
  void chart(std::string_view id, std::string_view vega_lite_json);

  const std::string& title() const { return title_; }
  std::vector<std::string> chart_ids() const;
  std::string html() const;  // vega, vega-lite, vega-embed inlined: opens offline

 private:
  struct Block {
    enum Kind { kHeading, kParagraph, kTable, kChart } kind;
    std::string html;      // rendered markup (headings, paragraphs, tables)
    std::string chart_id;  // kChart
    std::string spec;      // kChart: script-safe JSON
  };
  std::string title_;
  std::vector<Block> blocks_;
};

// Writes page.html() to `path` atomically (common/io.h Writer: temporary file, then rename).
Status write_html(const Page& page, const std::string& path);

// ---- Spec builders (Vega-Lite JSON text). NaN means "no value": the mark or error bar is left out.

// Bars with error bars: one bar per row, x = category, colour = group (bars of a category side by
// side; group may be empty for a single series). lo/hi are the interval ends (empty vectors = no
// error bars). All columns have the same length (SP_CHECK).
struct BarChart {
  std::string title;
  std::string x_title = "category";
  std::string y_title = "value";
  std::vector<std::string> category;
  std::vector<std::string> group;
  std::vector<double> value, lo, hi;
  double y_min = 0, y_max = 1;       // y axis domain; y_min == y_max lets Vega-Lite choose
  std::string value_format = ".3f";  // d3-format of the numbers printed on the bars
};
std::string bar_chart_with_ci(const BarChart& chart);

// Lines: one per series, points (x[i], y[i]) of series[i]; with lo/hi (same length, or empty) a
// shaded interval band per series. Rows need not be sorted.
struct LineChart {
  std::string title;
  std::string x_title = "step";
  std::string y_title = "value";
  std::vector<double> x;
  std::vector<std::string> series;  // empty = one unnamed series
  std::vector<double> y, lo, hi;
  bool y_zero = false;  // include 0 in the y axis
  bool y_log = false;   // logarithmic y axis (values must be > 0)
};
std::string line_chart(const LineChart& chart);

// A heatmap with the value printed in each cell: cell (r, c) = values[r * cols.size() + c]
// (e.g. RM-Bench's chosen-style x rejected-style accuracy matrix).
struct Heatmap {
  std::string title;
  std::string row_title = "row";
  std::string col_title = "column";
  std::vector<std::string> rows, cols;
  std::vector<double> values;  // rows.size() * cols.size(), row-major
  double color_min = 0, color_max = 1;
  std::string value_format = ".3f";
};
std::string heatmap(const Heatmap& chart);

}  // namespace synpref::report
