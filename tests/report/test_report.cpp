// The report module without a browser: escaping, the spec builders' data, pages that fetch
// nothing, the eval page's charts and the training page read from a run folder (good and broken).
// tests/report/browser_test.mjs renders pages in Chromium.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "report/assets.h"
#include "report/escape.h"
#include "synpref/report/pages.h"
#include "synpref/report/report.h"
#include "test_util.h"

namespace {

using nlohmann::json;
using namespace synpref;
using synpref::testing::spit;
using synpref::testing::TempDir;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1))
    ++n;
  return n;
}

// The spec of chart `id` as the page carries it (the text of its <script data-chart> element).
json chart_spec(const std::string& html, const std::string& id) {
  const std::string open = "<script type=\"application/json\" data-chart=\"" + id + "\">";
  size_t begin = html.find(open);
  if (begin == std::string::npos) return json();
  begin += open.size();
  size_t end = html.find("</script>", begin);
  return json::parse(html.substr(begin, end - begin));
}

// The inline data of `spec` as (field -> column) for the rows where `key_field` == `key` (all rows
// when key is empty).
std::vector<json> rows_where(const json& spec, const std::string& key_field = "",
                             const std::string& key = "") {
  std::vector<json> out;
  for (const json& row : spec.at("data").at("values"))
    if (key_field.empty() || row.at(key_field) == key) out.push_back(row);
  return out;
}

// The page with the embedded libraries cut out (checked byte-equal to the assets first).
std::string without_libraries(std::string html) {
  for (std::string_view lib :
       {report::assets::kVegaJs, report::assets::kVegaLiteJs, report::assets::kVegaEmbedJs}) {
    const std::string element = "<script>" + std::string(lib) + "</script>";
    size_t at = html.find(element);
    EXPECT_NE(at, std::string::npos) << "a library is not embedded verbatim";
    if (at != std::string::npos) html.erase(at, element.size());
  }
  return html;
}

TEST(ReportEscape, TextIsEscapedEverywhere) {
  report::Page page("T <b>&\"'");
  page.heading("<script>alert(1)</script>");
  page.paragraph("a < b && c > d");
  page.preformatted("x</pre><script>");
  page.table({{"<h>"}, {{"<td>", "1.5"}}});
  const std::string html = without_libraries(page.html());
  EXPECT_NE(html.find("<title>T &lt;b&gt;&amp;&quot;&#39;</title>"), std::string::npos);
  EXPECT_NE(html.find("<h2>&lt;script&gt;alert(1)&lt;/script&gt;</h2>"), std::string::npos);
  EXPECT_NE(html.find("<p>a &lt; b &amp;&amp; c &gt; d</p>"), std::string::npos);
  EXPECT_NE(html.find("<pre>x&lt;/pre&gt;&lt;script&gt;</pre>"), std::string::npos);
  EXPECT_NE(html.find("<th>&lt;h&gt;</th>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">1.5</td>"), std::string::npos);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
}

TEST(ReportEscape, InvalidUtf8AndControlCharacters) {
  std::string out;
  report::append_html_escaped(out, std::string("a\xff"
                                               "b\x01"
                                               "c\xc3\xa9",
                                               7));
  EXPECT_EQ(out,
            "a\xEF\xBF\xBD"
            "bc\xc3\xa9");
}

TEST(ReportEscape, ScriptSafeJson) {
  EXPECT_EQ(report::script_safe_json(R"({"a": "</script><!--&"})"),
            R"({"a":"\u003c/script\u003e\u003c!--\u0026"})");
  EXPECT_EQ(report::script_safe_json("{not json"), "");
  // A label that would end the script element stays inside the spec, and means the same.
  report::BarChart bars;
  bars.title = "</script><script>alert(1)</script>";
  bars.category = {"</script>"};
  bars.value = {0.5};
  report::Page page("p");
  page.chart("c", report::bar_chart_with_ci(bars));
  const std::string html = without_libraries(page.html());
  EXPECT_EQ(count(html, "</script>"), 2u);  // the chart's spec and the bootstrap script
  json spec = chart_spec(html, "c");
  EXPECT_EQ(spec["title"], bars.title);
  EXPECT_EQ(spec["data"]["values"][0]["category"], "</script>");
}

TEST(ReportPage, SelfContainedAndNothingFetched) {
  report::Page page("offline");
  report::LineChart line;
  line.x = {1, 2};
  line.y = {0.5, 0.25};
  page.chart("line", report::line_chart(line));
  const std::string full = page.html();
  EXPECT_NE(full.find("Content-Security-Policy\" content=\"default-src 'none'"), std::string::npos);
  const std::string html = without_libraries(full);
  // Outside the three libraries: no address at all, no element that loads anything.
  for (const char* needle : {"http:", "https:", "//cdn", " src=", "<link", "<img", "<iframe", "import("})
    EXPECT_EQ(html.find(needle), std::string::npos) << needle;
  EXPECT_EQ(count(full, "<script"), 3u + 1u + 1u);  // libraries, the chart's spec, the bootstrap
  EXPECT_NE(html.find("window.synprefCharts"), std::string::npos);
  EXPECT_EQ(page.chart_ids(), std::vector<std::string>{"line"});
}

TEST(ReportPage, WriteHtml) {
  TempDir dir;
  report::Page page("written");
  ASSERT_TRUE(report::write_html(page, dir.file("p.html")).is_ok());
  EXPECT_EQ(synpref::testing::slurp(dir.file("p.html")), page.html());
  EXPECT_FALSE(report::write_html(page, dir.file("no/such/folder/p.html")).is_ok());
}

TEST(ReportSpecs, BarChartData) {
  report::BarChart bars;
  bars.category = {"a", "b", "c"};
  bars.value = {0.5, kNaN, 0.75};
  bars.lo = {0.4, kNaN, 0.7};
  bars.hi = {0.6, kNaN, 0.9};
  json spec = json::parse(report::bar_chart_with_ci(bars));
  auto rows = rows_where(spec);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["value"], 0.5);
  EXPECT_EQ(rows[0]["lo"], 0.4);
  EXPECT_EQ(rows[0]["hi"], 0.6);
  EXPECT_EQ(rows[0]["label_y"], 0.6);       // labels sit above the error bar
  EXPECT_TRUE(rows[1]["value"].is_null());  // NaN: no bar
  EXPECT_TRUE(rows[1]["hi"].is_null());
  EXPECT_EQ(rows[2]["label_y"], 0.9);
  EXPECT_EQ(spec["layer"][0]["name"], "bars");
  EXPECT_EQ(spec["layer"][1]["name"], "intervals");
  EXPECT_EQ(spec["layer"][1]["encoding"]["y2"]["field"], "hi");
  EXPECT_EQ(spec["encoding"]["x"]["sort"], nullptr);  // categories in the given order
  EXPECT_EQ(spec["layer"][0]["encoding"]["y"]["scale"]["domain"], json::array({0, 1}));
  // Without intervals there is no error-bar layer; y_min == y_max lets Vega-Lite fit the axis.
  bars.lo.clear();
  bars.hi.clear();
  bars.y_min = bars.y_max = 0;
  spec = json::parse(report::bar_chart_with_ci(bars));
  for (const json& layer : spec["layer"]) EXPECT_NE(layer["name"], "intervals");
  EXPECT_FALSE(spec["layer"][0]["encoding"]["y"].contains("scale"));
}

TEST(ReportSpecs, GroupedBars) {
  report::BarChart bars;
  bars.category = {"x", "x"};
  bars.group = {"m1", "m2"};
  bars.value = {0.1, 0.2};
  json spec = json::parse(report::bar_chart_with_ci(bars));
  EXPECT_EQ(spec["encoding"]["xOffset"]["field"], "group");
  EXPECT_EQ(rows_where(spec, "group", "m2")[0]["value"], 0.2);
}

TEST(ReportSpecs, LineChartAndHeatmap) {
  report::LineChart line;
  line.x = {1, 2, 1};
  line.series = {"train", "train", "held-out"};
  line.y = {3.0, kNaN, 2.0};
  json spec = json::parse(report::line_chart(line));
  auto train = rows_where(spec, "series", "train");
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train[0]["y"], 3.0);
  EXPECT_TRUE(train[1]["y"].is_null());
  EXPECT_EQ(rows_where(spec, "series", "held-out")[0]["y"], 2.0);
  EXPECT_EQ(spec["layer"].back()["name"], "lines");

  report::Heatmap map;
  map.rows = {"r0", "r1"};
  map.cols = {"c0", "c1", "c2"};
  map.values = {0, 1, 2, 3, 4, 5};
  spec = json::parse(report::heatmap(map));
  auto cells = rows_where(spec);
  ASSERT_EQ(cells.size(), 6u);
  EXPECT_EQ(cells[5]["row"], "r1");
  EXPECT_EQ(cells[5]["col"], "c2");
  EXPECT_EQ(cells[5]["value"], 5);
  EXPECT_EQ(cells[1]["row"], "r0");
  EXPECT_EQ(cells[1]["col"], "c1");
}

report::BenchmarkResult rm_bench_like() {
  report::BenchmarkResult r;
  r.benchmark = "rm-bench";
  r.column = "RM-Bench";
  r.model = "my<rm>";
  r.headline = "score";
  r.n_items = 12;
  r.replicates = 100;
  r.metrics = {{"hard", 0.3, 0.2, 0.4, 12},
               {"score", 0.6, 0.5, 0.7, 12},
               {"domain/chat", 0.55, 0.45, 0.65, 6},
               {"domain/safety", 0.65, 0.6, 0.7, 6}};
  const char* styles[] = {"concise", "detailed", "markdown"};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      r.metrics.push_back(
          {std::string("matrix/") + styles[i] + "/" + styles[j], 0.1 * (3 * i + j), 0, 1, 12});
  r.notes = {"no math file"};
  return r;
}

TEST(EvalPage, BarsWithIntervalsAndTheStyleMatrix) {
  const report::Page page = report::eval_page(rm_bench_like());
  EXPECT_EQ(page.chart_ids(), (std::vector<std::string>{"metrics-overall", "metrics-domain", "matrix"}));
  const std::string html = page.html();
  json overall = chart_spec(html, "metrics-overall");
  auto rows = rows_where(overall);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["category"], "score");  // the headline first
  EXPECT_EQ(rows[0]["value"], 0.6);
  EXPECT_EQ(rows[0]["lo"], 0.5);
  EXPECT_EQ(rows[0]["hi"], 0.7);
  EXPECT_EQ(rows[1]["category"], "hard");
  json domain = chart_spec(html, "metrics-domain");
  EXPECT_EQ(rows_where(domain, "category", "safety")[0]["lo"], 0.6);
  json matrix = chart_spec(html, "matrix");
  auto cells = rows_where(matrix);
  ASSERT_EQ(cells.size(), 9u);
  EXPECT_EQ(cells[5]["row"], "detailed");
  EXPECT_EQ(cells[5]["col"], "markdown");
  EXPECT_DOUBLE_EQ(cells[5]["value"].get<double>(), 0.5);
  EXPECT_NE(html.find("Eval: RM-Bench - my&lt;rm&gt;"), std::string::npos);
  EXPECT_NE(html.find("<p>no math file</p>"), std::string::npos);
  EXPECT_NE(html.find("<td>matrix/markdown/concise</td>"), std::string::npos);
}

TEST(EvalPage, NoBootstrapNoErrorBarsAndCurves) {
  report::BenchmarkResult r;
  r.benchmark = "ppe-correctness";
  r.model = "m";
  r.headline = "accuracy";
  r.metrics = {{"accuracy", 0.7, 0.7, 0.7, 10}, {"category/math", 0.8, 0.8, 0.8, 5}};
  r.curves = {{"best_of_k/math", {0.5, 0.6, 0.7}}};
  const report::Page page = report::eval_page(r);
  EXPECT_EQ(page.chart_ids(), (std::vector<std::string>{"metrics-overall", "metrics-category", "curves"}));
  const std::string html = page.html();
  EXPECT_FALSE(rows_where(chart_spec(html, "metrics-category"))[0].contains("lo"));
  auto curve = rows_where(chart_spec(html, "curves"), "series", "best_of_k/math");
  ASSERT_EQ(curve.size(), 3u);
  EXPECT_EQ(curve[2]["x"], 3);
  EXPECT_EQ(curve[2]["y"], 0.7);
}

TEST(EvalPage, TablePageGroupsModels) {
  report::BenchmarkResult a = rm_bench_like(), b = rm_bench_like();
  b.model = "other";
  b.metrics[1].value = 0.9;
  const report::Page page = report::eval_table_page({a, b}, "Model | RM-Bench\n");
  json spec = chart_spec(page.html(), "benchmarks");
  EXPECT_EQ(rows_where(spec, "group", "other")[0]["value"], 0.9);
  EXPECT_EQ(rows_where(spec, "group", "my<rm>")[0]["category"], "RM-Bench");
  EXPECT_NE(page.html().find("<pre>Model | RM-Bench\n</pre>"), std::string::npos);
}

// A run folder as the trainer writes it (src/train/trainer.cpp: open_metrics, log_step,
// evaluate_and_log, write_summary_json).
void write_run(const std::string& dir, bool finished) {
  std::string metrics =
      R"({"kind":"start","step":0,"pairs":100,"eval_pairs":20,"total_steps":4,"params":1234,"kernels":"avx2"})"
      "\n"
      R"({"kind":"eval","step":0,"eval_pairs":20,"eval_loss":0.69,"eval_accuracy":0.5,"eval_margin":0.0})"
      "\n"
      R"({"kind":"train","step":2,"epoch":0.16,"loss":0.68,"accuracy":0.55,"margin":0.1,"lr":0.001,"grad_norm":1.5,"tokens":800,"tokens_per_s":4000.5,"elapsed_s":0.2})"
      "\n"
      R"({"kind":"train","step":4,"epoch":0.32,"loss":0.5,"accuracy":0.75,"margin":0.6,"lr":0.0005,"grad_norm":null,"tokens":800,"tokens_per_s":5000,"elapsed_s":0.4})"
      "\n"
      R"({"kind":"eval","step":4,"eval_pairs":20,"eval_loss":0.55,"eval_accuracy":0.7,"eval_margin":0.4,"eval_accuracy_by_category":{"math":0.8,"safety":0.6},"best":true})"
      "\n"
      R"({"kind":"profile","step":4})"
      "\n";
  spit(dir + "/metrics.jsonl", metrics);
  if (finished)
    spit(dir + "/summary.json",
         R"({"steps": 4, "first_loss": 0.68, "last_loss": 0.5, "final_dir": "x/final"})");
}

TEST(TrainPage, CurvesFromMetricsJsonl) {
  TempDir dir;
  write_run(dir.path(), true);
  auto page = report::train_page(dir.path());
  ASSERT_TRUE(page.is_ok()) << page.status().message();
  EXPECT_EQ(page->chart_ids(), (std::vector<std::string>{"loss", "accuracy", "margin", "lr", "throughput",
                                                         "grad_norm", "eval_categories"}));
  const std::string html = page->html();
  json loss = chart_spec(html, "loss");
  auto train = rows_where(loss, "series", "train");
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train[0]["x"], 2);
  EXPECT_EQ(train[0]["y"], 0.68);
  EXPECT_EQ(train[1]["y"], 0.5);
  auto held_out = rows_where(loss, "series", "held-out");
  ASSERT_EQ(held_out.size(), 2u);
  EXPECT_EQ(held_out[1]["x"], 4);
  EXPECT_EQ(held_out[1]["y"], 0.55);
  EXPECT_EQ(rows_where(chart_spec(html, "throughput"))[1]["y"], 5000);
  EXPECT_EQ(rows_where(chart_spec(html, "lr"))[1]["y"], 0.0005);
  EXPECT_EQ(rows_where(chart_spec(html, "grad_norm")).size(), 1u);  // null: a gap, not a zero
  auto cats = rows_where(chart_spec(html, "eval_categories"));
  ASSERT_EQ(cats.size(), 2u);
  EXPECT_EQ(cats[0]["category"], "math");
  EXPECT_EQ(cats[0]["value"], 0.8);
  EXPECT_NE(html.find("Finished: 2 logged training steps, the last at step 4 of 4; 2 held-out evaluations."),
            std::string::npos);
  EXPECT_NE(html.find("1 line(s) of kind &#39;profile&#39; (not plotted)."), std::string::npos);
  EXPECT_NE(html.find("<td>kernels</td><td>avx2</td>"), std::string::npos);

  auto written = report::write_train_report(dir.path());
  ASSERT_TRUE(written.is_ok()) << written.status().message();
  EXPECT_EQ(*written, dir.file("report.html"));
  EXPECT_EQ(synpref::testing::slurp(*written), html);
}

TEST(TrainPage, UnfinishedRunAndPartialLastLine) {
  TempDir dir;
  write_run(dir.path(), false);
  std::string metrics = synpref::testing::slurp(dir.file("metrics.jsonl"));
  spit(dir.file("metrics.jsonl"), metrics + R"({"kind":"train","step":6,"lo)");
  auto page = report::train_page(dir.path());
  ASSERT_TRUE(page.is_ok()) << page.status().message();
  const std::string html = page->html();
  EXPECT_NE(html.find("Unfinished (no summary.json yet)"), std::string::npos);
  EXPECT_NE(html.find("incomplete"), std::string::npos);
  EXPECT_EQ(rows_where(chart_spec(html, "loss"), "series", "train").size(), 2u);
}

TEST(TrainPage, LongRunsAreThinned) {
  TempDir dir;
  std::string metrics;
  for (int step = 1; step <= 12001; ++step)
    metrics +=
        R"({"kind":"train","step":)" + std::to_string(step) + R"(,"loss":)" + std::to_string(step) + "}\n";
  spit(dir.file("metrics.jsonl"), metrics);
  auto page = report::train_page(dir.path());
  ASSERT_TRUE(page.is_ok()) << page.status().message();
  const std::string html = page->html();
  auto loss = rows_where(chart_spec(html, "loss"));
  ASSERT_EQ(loss.size(), 4001u);  // every 3rd line: steps 1, 4, ..., 12001 (the last)
  EXPECT_EQ(loss[1]["x"], 4);
  EXPECT_EQ(loss.back()["x"], 12001);
  EXPECT_NE(html.find("12001 training lines: the curves show one in every 3 (and the last)"),
            std::string::npos);
}

TEST(TrainPage, EmptyLogHasNoCharts) {
  TempDir dir;
  spit(dir.file("metrics.jsonl"), "");
  auto page = report::train_page(dir.path());
  ASSERT_TRUE(page.is_ok()) << page.status().message();
  EXPECT_TRUE(page->chart_ids().empty());
  EXPECT_NE(page->html().find("No training step has been logged yet."), std::string::npos);
}

TEST(TrainPage, ErrorsNameFileLineAndField) {
  TempDir dir;
  auto missing = report::train_page(dir.path());
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::not_found);
  EXPECT_NE(missing.status().message().find("metrics.jsonl"), std::string::npos);

  const std::string path = dir.file("metrics.jsonl");
  struct Case {
    std::string line2;
    std::string expected;
  };
  for (const Case& c :
       {Case{"not json", ":2: not valid JSON"}, Case{"[1]", ":2: expected a JSON object"},
        Case{R"({"step":1})", ":2: field 'kind'"}, Case{R"({"kind":"train","step":-1})", ":2: field 'step'"},
        Case{R"({"kind":"train","step":1,"loss":"low"})", ":2: field 'loss' must be a number"},
        Case{R"({"kind":"eval","step":1,"eval_accuracy_by_category":[1]})",
             ":2: field 'eval_accuracy_by_category'"}}) {
    spit(path, R"({"kind":"train","step":1,"loss":1})"
               "\n" +
                   c.line2 + "\n");
    auto page = report::train_page(dir.path());
    ASSERT_FALSE(page.is_ok()) << c.line2;
    EXPECT_EQ(page.status().code(), StatusCode::data_error);
    EXPECT_NE(page.status().message().find(path + c.expected), std::string::npos) << page.status().message();
  }
  spit(path, R"({"kind":"train","step":1,"loss":1})"
             "\n");
  spit(dir.file("summary.json"), "{oops");
  auto bad_summary = report::train_page(dir.path());
  ASSERT_FALSE(bad_summary.is_ok());
  EXPECT_NE(bad_summary.status().message().find("summary.json"), std::string::npos);
}

}  // namespace
