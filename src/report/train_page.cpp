// The training report of a `synpref train` run folder (synpref/report/pages.h): metrics.jsonl and
// summary.json read back into columns, then one line chart per quantity.
//
// The formats are the trainer's (include/synpref/train/trainer.h, src/train/trainer.cpp):
//   {"kind": "start", "step": 0, "pairs", "eval_pairs", "total_steps", "params", ...}
//   {"kind": "train", "step", "epoch", "loss", "accuracy", "margin", ..., "lr", "grad_norm",
//    "tokens", "tokens_per_s", "elapsed_s"}
//   {"kind": "eval", "step", "eval_pairs", "eval_loss", "eval_accuracy", "eval_margin", ...,
//    "eval_accuracy_by_category": {name: accuracy}, "best": true}
// report may not include train (docs/ARCHITECTURE.md), so the field names are spelled here; the
// test in tests/report reads a real run's folder to keep the two in step.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "synpref/common/io.h"
#include "synpref/report/pages.h"

namespace synpref::report {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// More logged steps than this are thinned (every k-th line and the last) so a long run's page
// stays a few megabytes; the note on the page says so.
constexpr size_t kMaxPointsPerSeries = 5000;

// The numeric fields each kind of line may carry that the page plots or summarizes.
const std::vector<std::string> kTrainFields = {"epoch",     "loss",   "accuracy",     "margin",   "lr",
                                               "grad_norm", "tokens", "tokens_per_s", "elapsed_s"};
const std::vector<std::string> kEvalFields = {"eval_pairs", "eval_loss", "eval_accuracy", "eval_margin"};

// One kind of line as columns: step plus a column per field (NaN where a line lacks the field or
// holds null, which is how the trainer writes a non-finite number).
struct Columns {
  std::vector<double> step;
  std::map<std::string, std::vector<double>> field;
  size_t size() const { return step.size(); }
};

struct RunLog {
  json start;  // the "start" line (null when absent: a resumed log keeps it, an old one may not)
  Columns train, eval;
  json last_categories;  // eval_accuracy_by_category of the last eval line that has it
  uint64_t last_categories_step = 0;
  std::map<std::string, uint64_t> unknown_kinds;
  bool dropped_partial_last_line = false;
};

std::string format_number(double v, const char* format = "%.6g") {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// A numeric field of `line`: absent or null -> NaN; anything but a number -> data_error naming
// the place.
Result<double> number_field(const json& line, const std::string& name, const std::string& where) {
  auto it = line.find(name);
  if (it == line.end() || it->is_null()) return kNaN;
  if (!it->is_number()) {
    return data_error(where + ": field '" + name + "' must be a number, got " + it->dump());
  }
  return it->get<double>();
}

Status add_row(Columns& columns, const json& line, double step, const std::vector<std::string>& fields,
               const std::string& where) {
  columns.step.push_back(step);
  for (const std::string& name : fields) {
    SP_ASSIGN_OR_RETURN(double v, number_field(line, name, where));
    columns.field[name].push_back(v);
  }
  return Status::ok();
}

// Parses one line of metrics.jsonl into `log`. `where` is "<path>:<line number>".
Status parse_line(const std::string& text, const std::string& where, RunLog& log) {
  json line = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (line.is_discarded()) return data_error(where + ": not valid JSON");
  if (!line.is_object()) return data_error(where + ": expected a JSON object, got " + line.dump());
  auto kind_it = line.find("kind");
  if (kind_it == line.end() || !kind_it->is_string()) {
    return data_error(where + ": field 'kind' (a string: start, train or eval) is missing");
  }
  const std::string kind = kind_it->get<std::string>();
  auto step_it = line.find("step");
  if (step_it == line.end() || !step_it->is_number_unsigned()) {
    return data_error(where + ": field 'step' must be a non-negative integer" +
                      (step_it == line.end() ? std::string(" (missing)") : ", got " + step_it->dump()));
  }
  const double step = static_cast<double>(step_it->get<uint64_t>());
  if (kind == "start") {
    log.start = std::move(line);
  } else if (kind == "train") {
    SP_RETURN_IF_ERROR(add_row(log.train, line, step, kTrainFields, where));
  } else if (kind == "eval") {
    SP_RETURN_IF_ERROR(add_row(log.eval, line, step, kEvalFields, where));
    auto cats = line.find("eval_accuracy_by_category");
    if (cats != line.end()) {
      if (!cats->is_object()) {
        return data_error(where +
                          ": field 'eval_accuracy_by_category' must be an object {category: accuracy}");
      }
      for (const auto& [name, value] : cats->items()) {
        if (!value.is_number() && !value.is_null()) {
          return data_error(where + ": field 'eval_accuracy_by_category." + name +
                            "' must be a number, got " + value.dump());
        }
      }
      log.last_categories = *cats;
      log.last_categories_step = step_it->get<uint64_t>();
    }
  } else {
    ++log.unknown_kinds[kind];
  }
  return Status::ok();
}

Result<RunLog> read_metrics(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return not_found(path +
                     ": no such file; a training report needs the metrics.jsonl that `synpref train` "
                     "writes into its --out folder");
  }
  SP_ASSIGN_OR_RETURN(std::string bytes, io::read_file(path));
  RunLog log;
  size_t pos = 0, line_number = 0;
  while (pos < bytes.size()) {
    size_t end = bytes.find('\n', pos);
    const bool complete = end != std::string::npos;
    if (!complete) end = bytes.size();
    std::string text = bytes.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    Status parsed = parse_line(text, path + ":" + std::to_string(line_number), log);
    if (!parsed.is_ok()) {
      // A run being written (or killed mid-write) may end in half a line: leave it out, say so.
      if (!complete && !json::accept(text)) {
        log.dropped_partial_last_line = true;
        break;
      }
      return parsed;
    }
  }
  return log;
}

// summary.json, or null when the run has none yet (unfinished).
Result<json> read_summary(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return json();
  SP_ASSIGN_OR_RETURN(std::string bytes, io::read_file(path));
  json summary = json::parse(bytes, nullptr, false);
  if (summary.is_discarded() || !summary.is_object()) {
    return data_error(path + ": not a JSON object (the run summary `synpref train` writes last)");
  }
  return summary;
}

size_t stride_for(size_t n) {
  return n <= kMaxPointsPerSeries ? 1 : (n + kMaxPointsPerSeries - 1) / kMaxPointsPerSeries;
}

// Indices of the rows to plot: all of them, or every k-th and the last when there are too many.
std::vector<size_t> thinned(size_t n) {
  std::vector<size_t> rows;
  const size_t stride = stride_for(n);
  for (size_t i = 0; i < n; i += stride) rows.push_back(i);
  if (n > 0 && rows.back() != n - 1) rows.push_back(n - 1);
  return rows;
}

// Appends (step, columns.field[name]) as `series` to `chart`, skipping rows without a value.
// Returns the points added.
size_t add_series(LineChart& chart, const Columns& columns, const std::string& name,
                  const std::string& series) {
  auto it = columns.field.find(name);
  if (it == columns.field.end()) return 0;
  size_t added = 0;
  for (size_t i : thinned(columns.size())) {
    if (!std::isfinite(it->second[i])) continue;
    chart.x.push_back(columns.step[i]);
    chart.series.push_back(series);
    chart.y.push_back(it->second[i]);
    ++added;
  }
  return added;
}

struct CurveSpec {
  const char* id;
  const char* title;
  const char* y_title;
  std::vector<std::pair<std::string, std::string>> train_series;  // (field, series name)
  std::vector<std::pair<std::string, std::string>> eval_series;
  bool y_zero;
};

// The line charts of the page, in order (ids are documented in pages.h).
const std::vector<CurveSpec>& curve_specs() {
  static const std::vector<CurveSpec> kSpecs = {
      {"loss",
       "Loss (Bradley-Terry, -log sigmoid(margin))",
       "loss",
       {{"loss", "train"}},
       {{"eval_loss", "held-out"}},
       true},
      {"accuracy",
       "Pairwise accuracy (chosen scored above rejected)",
       "accuracy",
       {{"accuracy", "train"}},
       {{"eval_accuracy", "held-out"}},
       false},
      {"margin",
       "Mean reward margin (chosen - rejected)",
       "margin",
       {{"margin", "train"}},
       {{"eval_margin", "held-out"}},
       true},
      {"lr", "Learning rate", "learning rate", {{"lr", "lr"}}, {}, true},
      {"throughput", "Throughput", "tokens/s", {{"tokens_per_s", "tokens/s"}}, {}, true},
      {"grad_norm", "Gradient norm (before clipping)", "norm", {{"grad_norm", "grad norm"}}, {}, true},
  };
  return kSpecs;
}

void add_overview(Page& page, const std::string& run_dir, const RunLog& log, const json& summary) {
  const Columns& train = log.train;
  std::string text = "Run folder " + run_dir + ". ";
  uint64_t total_steps = 0;
  if (log.start.is_object() && log.start.contains("total_steps") &&
      log.start["total_steps"].is_number_unsigned())
    total_steps = log.start["total_steps"].get<uint64_t>();
  const double last_step = train.size() ? train.step.back() : 0;
  if (summary.is_object()) {
    text += "Finished";
  } else {
    text += "Unfinished (no summary.json yet)";
  }
  text += ": " + std::to_string(train.size()) + " logged training steps, the last at step " +
          format_number(last_step, "%.0f");
  if (total_steps > 0) text += " of " + std::to_string(total_steps);
  text += "; " + std::to_string(log.eval.size()) + " held-out evaluations.";
  page.paragraph(text);

  Table table;
  table.header = {"quantity", "value"};
  auto row = [&](const std::string& name, const json& object, const char* field) {
    if (!object.is_object() || !object.contains(field)) return;
    const json& v = object[field];
    table.rows.push_back({name, v.is_number_float() ? format_number(v.get<double>())
                                : v.is_string()     ? v.get<std::string>()
                                                    : v.dump()});
  };
  row("parameters", log.start, "params");
  row("trainable parameters", log.start, "trainable_params");
  row("training pairs", log.start, "pairs");
  row("held-out pairs", log.start, "eval_pairs");
  row("planned steps", log.start, "total_steps");
  row("processes", log.start, "world_size");
  row("threads", log.start, "threads");
  row("kernels", log.start, "kernels");
  row("steps", summary, "steps");
  row("tokens", summary, "tokens");
  row("seconds", summary, "seconds");
  row("tokens/s (whole run)", summary, "tokens_per_s");
  row("first loss", summary, "first_loss");
  row("last loss", summary, "last_loss");
  row("last accuracy", summary, "last_accuracy");
  row("held-out loss", summary, "eval_loss");
  row("held-out accuracy", summary, "eval_accuracy");
  row("best metric", summary, "best_metric_name");
  row("best value", summary, "best_metric");
  row("best step", summary, "best_step");
  row("final model", summary, "final_dir");
  if (!table.rows.empty()) page.table(table);
}

void add_notes(Page& page, const RunLog& log) {
  std::vector<std::string> notes;
  if (log.train.size() > kMaxPointsPerSeries) {
    notes.push_back(std::to_string(log.train.size()) + " training lines: the curves show one in every " +
                    std::to_string(stride_for(log.train.size())) + " (and the last) to keep the page small.");
  }
  for (const auto& [kind, count] : log.unknown_kinds)
    notes.push_back(std::to_string(count) + " line(s) of kind '" + kind + "' (not plotted).");
  if (log.dropped_partial_last_line)
    notes.push_back(
        "The last line of metrics.jsonl is incomplete (a run still writing it?) and was left out.");
  if (notes.empty()) return;
  page.heading("Notes");
  for (const std::string& note : notes) page.paragraph(note);
}

}  // namespace

Result<Page> train_page(const std::string& run_dir) {
  const std::string metrics_path = (fs::path(run_dir) / "metrics.jsonl").string();
  SP_ASSIGN_OR_RETURN(RunLog log, read_metrics(metrics_path));
  SP_ASSIGN_OR_RETURN(json summary, read_summary((fs::path(run_dir) / "summary.json").string()));

  std::string name = fs::path(run_dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::path(run_dir).lexically_normal().parent_path().filename().string();
  Page page("Training: " + (name.empty() ? run_dir : name));
  add_overview(page, run_dir, log, summary);

  page.heading("Curves");
  size_t charts = 0;
  for (const CurveSpec& spec : curve_specs()) {
    LineChart chart;
    chart.title = spec.title;
    chart.x_title = "step";
    chart.y_title = spec.y_title;
    chart.y_zero = spec.y_zero;
    size_t points = 0;
    for (const auto& [field, series] : spec.train_series)
      points += add_series(chart, log.train, field, series);
    for (const auto& [field, series] : spec.eval_series) points += add_series(chart, log.eval, field, series);
    if (points == 0) continue;  // e.g. a log with no steps yet
    page.chart(spec.id, line_chart(chart));
    ++charts;
  }
  if (charts == 0) page.paragraph("No training step has been logged yet.");

  if (log.last_categories.is_object() && !log.last_categories.empty()) {
    page.heading("Held-out accuracy per category");
    page.paragraph("At the evaluation of step " + std::to_string(log.last_categories_step) + ".");
    BarChart bars;
    bars.title = "Held-out accuracy per category (step " + std::to_string(log.last_categories_step) + ")";
    bars.x_title = "category";
    bars.y_title = "accuracy";
    for (const auto& [category, value] : log.last_categories.items()) {
      bars.category.push_back(category.empty() ? "(none)" : category);
      bars.value.push_back(value.is_number() ? value.get<double>() : kNaN);
    }
    page.chart("eval_categories", bar_chart_with_ci(bars));
  }
  add_notes(page, log);
  return page;
}

Result<std::string> write_train_report(const std::string& run_dir) {
  SP_ASSIGN_OR_RETURN(Page page, train_page(run_dir));
  const std::string path = (fs::path(run_dir) / "report.html").string();
  SP_RETURN_IF_ERROR(write_html(page, path));
  return path;
}

}  // namespace synpref::report
