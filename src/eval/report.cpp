#include "synpref/eval/report.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "synpref/common/io.h"

namespace synpref::eval {

using Json = nlohmann::ordered_json;

namespace {

// JSON has no NaN: an undefined value is null.
Json number(double v) {
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}

Json metric_json(const Metric& m) {
  Json j;
  j["name"] = m.name;
  j["value"] = number(m.value);
  j["ci_low"] = number(m.ci_low);
  j["ci_high"] = number(m.ci_high);
  j["n"] = number(m.n);
  return j;
}

double get_number(const Json& j) {
  return j.is_number() ? j.get<double>() : std::nan("");
}

std::string percent(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", 100.0 * v);
  return buf;
}

// A pipe table; the first `n_left` columns are left-aligned (names), the rest right-aligned.
std::string render(const std::vector<std::vector<std::string>>& rows, size_t n_left = 1) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    out += "|";
    for (size_t c = 0; c < width.size(); ++c) {
      std::string cell = c < rows[r].size() ? rows[r][c] : "";
      std::string pad(width[c] - cell.size(), ' ');
      out += " " + (c < n_left ? cell + pad : pad + cell) + " |";
    }
    out += "\n";
    if (r == 0) {
      out += "|";
      for (size_t c = 0; c < width.size(); ++c) {
        out +=
            c < n_left ? ":" + std::string(width[c] + 1, '-') + "|" : std::string(width[c] + 1, '-') + ":|";
      }
      out += "\n";
    }
  }
  return out;
}

}  // namespace

std::string report_json(const ReportInputs& in) {
  SP_CHECK(in.dataset && in.scores && in.evaluation);
  const Dataset& dataset = *in.dataset;
  const Evaluation& evaluation = *in.evaluation;
  Json j;
  j["synpref_eval_report"] = kReportVersion;
  j["benchmark"] = dataset.benchmark;
  j["model"] = in.source.model;
  Json source;
  source["kind"] = in.source.model_dir.empty() ? "scores_file" : "model";
  if (!in.source.model_dir.empty()) {
    source["model_dir"] = in.source.model_dir;
    source["truncation"] = in.source.truncation;
    source["date"] = in.source.date.empty() ? Json(nullptr) : Json(in.source.date);
  }
  if (!in.source.scores_path.empty()) {
    source["scores_path"] = in.source.scores_path;
    source["scores_sha256"] = in.source.scores_sha256;
    source["scores_xxh3_128"] = in.source.scores_xxh3_128;
  }
  j["source"] = source;

  Json data;
  data["path"] = in.data_path;
  Json files = Json::array();
  for (const auto& f : dataset.files) {
    files.push_back({{"path", f.path},
                     {"bytes", f.bytes},
                     {"sha256", f.sha256},
                     {"xxh3_128", f.xxh3_128},
                     {"items", f.n_items}});
  }
  data["files"] = files;
  data["n_items"] = dataset.items.size();
  data["n_excluded"] = dataset.n_excluded;
  if (dataset.n_excluded > 0) data["excluded_reason"] = dataset.excluded_reason;
  j["data"] = data;

  Json scoring;
  scoring["n_scored"] = evaluation.n_items;
  scoring["n_missing"] = in.scores->missing.size();
  Json missing = Json::array();
  for (size_t k = 0; k < in.scores->missing.size() && k < 100; ++k) {
    missing.push_back(dataset.items[in.scores->missing[k]].id);
  }
  scoring["missing_ids"] = missing;  // the first 100
  scoring["max_length"] = in.scores->max_length >= 0 ? Json(in.scores->max_length) : Json(nullptr);
  scoring["n_truncated"] = in.scores->n_truncated >= 0 ? Json(in.scores->n_truncated) : Json(nullptr);
  scoring["n_skipped"] = in.scores->n_skipped >= 0 ? Json(in.scores->n_skipped) : Json(nullptr);
  j["scoring"] = scoring;

  j["tie_policy"] = evaluation.tie_policy;
  j["bootstrap"] = {
      {"replicates", in.bootstrap.replicates},
      {"seed", in.bootstrap.seed},
      {"confidence", in.bootstrap.confidence},
      {"method",
       "percentile; items redrawn with replacement within each subset (RewardBench 2 Ties: ref:N and "
       "tied:N together); splitmix64 stream from seed"}};
  const Metric* headline = find_metric(evaluation, evaluation.headline);
  SP_CHECK(headline != nullptr);
  j["headline"] = metric_json(*headline);
  j["partial"] = evaluation.partial;
  Json metrics = Json::array();
  for (const auto& m : evaluation.metrics) metrics.push_back(metric_json(m));
  j["metrics"] = metrics;
  Json curves = Json::array();
  for (const auto& c : evaluation.curves) {
    Json values = Json::array();
    for (double v : c.values) values.push_back(number(v));
    curves.push_back({{"name", c.name}, {"values", values}});
  }
  j["curves"] = curves;
  j["notes"] = evaluation.notes;
  return j.dump(2) + "\n";
}

Result<ReportSummary> read_report(const std::string& path) {
  SP_ASSIGN_OR_RETURN(std::string bytes, io::read_file(path));
  Json j = Json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return data_error(path + ": not a JSON report");
  if (!j.contains("synpref_eval_report")) {
    return data_error(path +
                      ": not a synpref eval report (no 'synpref_eval_report' field); produce one with "
                      "`synpref eval --out`");
  }
  if (j["synpref_eval_report"] != kReportVersion) {
    return unsupported(path + ": report format version " + j["synpref_eval_report"].dump() +
                       ", this build reads " + std::to_string(kReportVersion) +
                       "; re-run `synpref eval` with this build");
  }
  ReportSummary out;
  out.path = path;
  try {
    out.benchmark = j.at("benchmark").get<std::string>();
    if (!find_benchmark(out.benchmark)) {
      return data_error(path + ": unknown benchmark " + j.at("benchmark").dump() + " (this build has " +
                        benchmark_names() + ")");
    }
    out.model = j.at("model").get<std::string>();
    const Json& headline = j.at("headline");
    out.headline = headline.at("name").get<std::string>();
    out.value = get_number(headline.at("value"));
    out.ci_low = get_number(headline.at("ci_low"));
    out.ci_high = get_number(headline.at("ci_high"));
    out.partial = j.at("partial").get<bool>();
    for (const auto& m : j.at("metrics")) {
      out.metrics.push_back({m.at("name").get<std::string>(), get_number(m.at("value")),
                             get_number(m.at("ci_low")), get_number(m.at("ci_high")), get_number(m.at("n"))});
    }
    for (const auto& c : j.at("curves")) {
      Curve curve{c.at("name").get<std::string>(), {}};
      for (const auto& v : c.at("values")) curve.values.push_back(get_number(v));
      out.curves.push_back(std::move(curve));
    }
    out.notes = j.at("notes").get<std::vector<std::string>>();
    out.n_scored = j.at("scoring").at("n_scored").get<uint64_t>();
    const Json& bootstrap = j.at("bootstrap");
    out.bootstrap.replicates = bootstrap.at("replicates").get<uint32_t>();
    out.bootstrap.seed = bootstrap.at("seed").get<uint64_t>();
    out.bootstrap.confidence = get_number(bootstrap.at("confidence"));
  } catch (const Json::exception& e) {
    return data_error(path + ": malformed report (" + e.what() + ")");
  }
  return out;
}

Result<std::string> format_table(const std::vector<ReportSummary>& reports, bool breakdown) {
  const std::vector<BenchmarkInfo> columns = all_benchmarks();
  std::vector<std::string> models;
  std::map<std::pair<std::string, std::string>, const ReportSummary*> cell;
  for (const auto& r : reports) {
    if (std::find(models.begin(), models.end(), r.model) == models.end()) models.push_back(r.model);
    auto [it, inserted] = cell.try_emplace({r.model, r.benchmark}, &r);
    if (!inserted) {
      return invalid_argument("two reports for model '" + r.model + "' on " + r.benchmark + ": " +
                              it->second->path + " and " + r.path + "; pass one per benchmark");
    }
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"Model"};
  for (const BenchmarkInfo& b : columns) header.emplace_back(b.column);
  header.emplace_back("Mean");
  rows.push_back(header);
  bool any_partial = false;
  for (const auto& model : models) {
    std::vector<std::string> row = {model};
    double sum = 0;
    int present = 0;
    bool row_partial = false;
    for (const BenchmarkInfo& b : columns) {
      auto it = cell.find({model, std::string(b.name)});
      if (it == cell.end() || !std::isfinite(it->second->value)) {
        row.emplace_back("-");
        continue;
      }
      row.push_back(percent(it->second->value) + (it->second->partial ? "*" : ""));
      row_partial |= it->second->partial;
      sum += it->second->value;
      ++present;
    }
    if (present == 0) {
      row.emplace_back("-");
    } else {
      row_partial |= present < int(columns.size());
      row.push_back(percent(sum / present) + (row_partial ? "*" : ""));
      any_partial |= row_partial;
    }
    rows.push_back(row);
  }
  std::string out = render(rows);
  if (any_partial) {
    out +=
        "\n* partial: the report misses items or a part of the official total (see its notes), or the mean "
        "covers fewer than " +
        std::to_string(columns.size()) + " benchmarks or a partial one\n";
  }
  if (breakdown) {
    for (const BenchmarkInfo& b : columns) {
      std::vector<std::vector<std::string>> table = {{std::string(b.name), "Model", "Value", "95% CI", "n"}};
      for (const auto& model : models) {
        auto it = cell.find({model, std::string(b.name)});
        if (it == cell.end()) continue;
        for (const auto& m : it->second->metrics) {
          std::string ci =
              std::isfinite(m.ci_low) ? "[" + percent(m.ci_low) + ", " + percent(m.ci_high) + "]" : "-";
          char n[32];
          std::snprintf(n, sizeof(n), "%.0f", m.n);
          table.push_back({m.name, model, percent(m.value), ci, std::isfinite(m.n) ? n : "-"});
        }
      }
      if (table.size() > 1) out += "\n" + render(table, 2);
    }
  }
  return out;
}

}  // namespace synpref::eval
