// Vega-Lite spec builders over plain columns (synpref/report/report.h).
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "synpref/common/check.h"
#include "synpref/report/report.h"

namespace synpref::report {

namespace {

using json = nlohmann::ordered_json;

// JSON has no NaN: a missing number is null, which Vega-Lite leaves out of continuous encodings.
json number_or_null(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json titled(const std::string& title) {
  json spec = json::object();
  if (!title.empty()) spec["title"] = title;
  return spec;
}

json quantitative(const char* field, const std::string& title) {
  json e = {{"field", field}, {"type", "quantitative"}};
  if (!title.empty()) e["title"] = title;
  return e;
}

}  // namespace

std::string bar_chart_with_ci(const BarChart& chart) {
  size_t n = chart.category.size();
  SP_CHECK(chart.value.size() == n);
  SP_CHECK(chart.group.empty() || chart.group.size() == n);
  SP_CHECK(chart.lo.size() == chart.hi.size() && (chart.lo.empty() || chart.lo.size() == n));
  bool grouped = !chart.group.empty();
  bool intervals = !chart.lo.empty();

  json values = json::array();
  for (size_t i = 0; i < n; ++i) {
    json row = {{"category", chart.category[i]}};
    if (grouped) row["group"] = chart.group[i];
    row["value"] = number_or_null(chart.value[i]);
    double top = chart.value[i];
    if (intervals) {
      row["lo"] = number_or_null(chart.lo[i]);
      row["hi"] = number_or_null(chart.hi[i]);
      if (std::isfinite(chart.hi[i])) top = std::isfinite(top) ? std::max(top, chart.hi[i]) : chart.hi[i];
    }
    row["label_y"] = number_or_null(top);
    values.push_back(std::move(row));
  }

  json y = quantitative("value", chart.y_title);
  if (chart.y_min != chart.y_max) y["scale"] = {{"domain", {chart.y_min, chart.y_max}}};
  json tooltip = json::array({{{"field", "category"}, {"type", "nominal"}, {"title", chart.x_title}}});
  if (grouped) tooltip.push_back({{"field", "group"}, {"type", "nominal"}});
  tooltip.push_back({{"field", "value"}, {"type", "quantitative"}, {"format", chart.value_format}});
  if (intervals) {
    tooltip.push_back({{"field", "lo"}, {"type", "quantitative"}, {"format", chart.value_format}});
    tooltip.push_back({{"field", "hi"}, {"type", "quantitative"}, {"format", chart.value_format}});
  }

  json layers = json::array();
  // A y domain that starts above zero would let bars run below the x axis: clip them to the plot.
  const json bar_mark = {{"type", "bar"}, {"clip", chart.y_min != chart.y_max}};
  layers.push_back({{"name", "bars"}, {"mark", bar_mark}, {"encoding", {{"y", y}, {"tooltip", tooltip}}}});
  if (intervals) {
    // Dark error bars over coloured bars (the layer's own colour overrides the shared group colour).
    layers.push_back({{"name", "intervals"},
                      {"mark", {{"type", "errorbar"}, {"ticks", true}}},
                      {"encoding",
                       {{"y", {{"field", "lo"}, {"type", "quantitative"}, {"title", chart.y_title}}},
                        {"y2", {{"field", "hi"}}},
                        {"color", {{"value", "#333"}}}}}});
  }
  // Values printed above each bar (and its error bar) while they still fit; upright for narrow
  // grouped bars.
  if (n <= 40) {
    json text_mark = {{"type", "text"}, {"fontSize", 10}};
    if (grouped) {
      text_mark.update({{"angle", 270}, {"align", "left"}, {"baseline", "middle"}, {"dx", 3}});
    } else {
      text_mark.update({{"baseline", "bottom"}, {"dy", -3}});
    }
    layers.push_back(
        {{"name", "labels"},
         {"mark", text_mark},
         {"encoding",
          {{"y", {{"field", "label_y"}, {"type", "quantitative"}}},
           {"text", {{"field", "value"}, {"type", "quantitative"}, {"format", chart.value_format}}}}}});
  }

  json spec = titled(chart.title);
  spec["data"] = {{"values", std::move(values)}};
  spec["width"] = {{"step", grouped ? 18 : 36}};
  spec["height"] = 260;
  json x = {{"field", "category"}, {"type", "nominal"}, {"sort", nullptr}, {"title", chart.x_title}};
  // Upright labels while they fit under their bars; slanted when there are many or long ones.
  size_t longest = 0;
  for (const std::string& c : chart.category) longest = std::max(longest, c.size());
  x["axis"] = {{"labelAngle", n > 8 || longest > 7 ? -40 : 0}, {"labelLimit", 220}};
  spec["encoding"] = {{"x", x}};
  if (grouped) {
    spec["encoding"]["xOffset"] = {{"field", "group"}, {"type", "nominal"}, {"sort", nullptr}};
    spec["encoding"]["color"] = {{"field", "group"}, {"type", "nominal"}, {"sort", nullptr}, {"title", ""}};
  }
  spec["layer"] = std::move(layers);
  return spec.dump();
}

std::string line_chart(const LineChart& chart) {
  size_t n = chart.x.size();
  SP_CHECK(chart.y.size() == n);
  SP_CHECK(chart.series.empty() || chart.series.size() == n);
  SP_CHECK(chart.lo.size() == chart.hi.size() && (chart.lo.empty() || chart.lo.size() == n));
  bool multi = !chart.series.empty();
  bool band = !chart.lo.empty();

  json values = json::array();
  for (size_t i = 0; i < n; ++i) {
    json row = {{"x", number_or_null(chart.x[i])}};
    if (multi) row["series"] = chart.series[i];
    row["y"] = number_or_null(chart.y[i]);
    if (band) {
      row["lo"] = number_or_null(chart.lo[i]);
      row["hi"] = number_or_null(chart.hi[i]);
    }
    values.push_back(std::move(row));
  }

  json y = quantitative("y", chart.y_title);
  y["scale"] = {{"zero", chart.y_zero}};
  if (chart.y_log) y["scale"]["type"] = "log";
  json tooltip = json::array();
  if (multi) tooltip.push_back({{"field", "series"}, {"type", "nominal"}});
  tooltip.push_back({{"field", "x"}, {"type", "quantitative"}, {"title", chart.x_title}});
  tooltip.push_back({{"field", "y"}, {"type", "quantitative"}, {"title", chart.y_title}, {"format", ".4~g"}});

  json layers = json::array();
  if (band) {
    json band_y = quantitative("lo", chart.y_title);
    band_y["scale"] = y["scale"];
    layers.push_back({{"mark", {{"type", "area"}, {"opacity", 0.2}}},
                      {"encoding", {{"y", band_y}, {"y2", {{"field", "hi"}}}}}});
  }
  // Points only when they are few enough to read; the line alone for long training curves.
  json line_mark = {{"type", "line"}, {"point", n <= 60}};
  layers.push_back({{"name", "lines"}, {"mark", line_mark}, {"encoding", {{"y", y}, {"tooltip", tooltip}}}});

  json spec = titled(chart.title);
  spec["data"] = {{"values", std::move(values)}};
  spec["width"] = 560;
  spec["height"] = 240;
  spec["encoding"] = {{"x", quantitative("x", chart.x_title)}};
  if (multi)
    spec["encoding"]["color"] = {{"field", "series"}, {"type", "nominal"}, {"sort", nullptr}, {"title", ""}};
  spec["layer"] = std::move(layers);
  return spec.dump();
}

std::string heatmap(const Heatmap& chart) {
  size_t n_rows = chart.rows.size(), n_cols = chart.cols.size();
  SP_CHECK(chart.values.size() == n_rows * n_cols);
  json values = json::array();
  for (size_t r = 0; r < n_rows; ++r) {
    for (size_t c = 0; c < n_cols; ++c) {
      values.push_back({{"row", chart.rows[r]},
                        {"col", chart.cols[c]},
                        {"value", number_or_null(chart.values[r * n_cols + c])}});
    }
  }
  json color = quantitative("value", "");
  color["scale"] = {{"domain", {chart.color_min, chart.color_max}}, {"scheme", "blues"}};
  json tooltip =
      json::array({{{"field", "row"}, {"type", "nominal"}, {"title", chart.row_title}},
                   {{"field", "col"}, {"type", "nominal"}, {"title", chart.col_title}},
                   {{"field", "value"}, {"type", "quantitative"}, {"format", chart.value_format}}});
  double mid = (chart.color_min + chart.color_max) / 2;
  json text_color = {{"condition", {{"test", "datum.value > " + std::to_string(mid)}, {"value", "white"}}},
                     {"value", "black"}};

  json spec = titled(chart.title);
  spec["data"] = {{"values", std::move(values)}};
  spec["width"] = {{"step", 70}};
  spec["height"] = {{"step", 44}};
  spec["encoding"] = {
      {"y", {{"field", "row"}, {"type", "nominal"}, {"sort", nullptr}, {"title", chart.row_title}}},
      {"x",
       {{"field", "col"},
        {"type", "nominal"},
        {"sort", nullptr},
        {"title", chart.col_title},
        {"axis", {{"labelAngle", 0}, {"orient", "top"}}}}}};
  spec["layer"] = json::array(
      {{{"name", "cells"}, {"mark", "rect"}, {"encoding", {{"color", color}, {"tooltip", tooltip}}}},
       {{"name", "labels"},
        {"mark", "text"},
        {"encoding",
         {{"text", {{"field", "value"}, {"type", "quantitative"}, {"format", chart.value_format}}},
          {"color", text_color}}}}});
  return spec.dump();
}

}  // namespace synpref::report
