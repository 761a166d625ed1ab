// The HTML page: escaped blocks, chart placeholders with their specs, the embedded libraries and
// one script that renders every chart with vega-embed.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "assets.h"
#include "escape.h"
#include "synpref/common/check.h"
#include "synpref/common/io.h"
#include "synpref/common/text.h"
#include "synpref/report/report.h"

namespace synpref::report {

void append_html_escaped(std::string& out, std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t bad = text::first_invalid_utf8(text.substr(pos));
    size_t end = bad == std::string_view::npos ? text.size() : pos + bad;
    for (size_t k = pos; k < end; ++k) {
      unsigned char c = static_cast<unsigned char>(text[k]);
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
          if (c == 0x7f) break;
          out += char(c);
      }
    }
    if (end == text.size()) break;
    out += "\xEF\xBF\xBD";  // U+FFFD for the invalid byte
    pos = end + 1;
  }
}

std::string script_safe_json(std::string_view json) {
  nlohmann::ordered_json value = nlohmann::ordered_json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return "";
  std::string dumped = value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::string out;
  out.reserve(dumped.size() + 16);
  for (char c : dumped) {
    switch (c) {
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

// A library's text inside a classic <script> element: it must not close the element or open an
// HTML comment there. The embedded builds have neither (a library update that adds one fails
// here and in tests/report, rather than producing a page that silently breaks).
void append_script(std::string& out, std::string_view js) {
  std::string lower(js.size(), '\0');
  std::transform(js.begin(), js.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  SP_CHECK_MSG(lower.find("</script") == std::string::npos && lower.find("<!--") == std::string::npos,
               "an embedded library contains </script or <!--");
  out += "<script>";
  out += js;
  out += "</script>\n";
}

bool looks_numeric(std::string_view cell) {
  if (cell.empty()) return false;
  bool digit = false;
  for (char c : cell) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (!std::strchr("+-.,%eE *[]()", c)) {
      return false;
    }
  }
  return digit;
}

constexpr std::string_view kStyle = R"css(
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 1px solid #ddd; padding-bottom: .3rem; }
h2 { font-size: 1.3rem; margin-top: 2rem; } h3 { font-size: 1.1rem; } h4 { font-size: 1rem; }
p { white-space: pre-wrap; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.chart { margin: 1rem 0; } .chart-error { color: #b00020; white-space: pre-wrap; }
footer { margin-top: 3rem; font-size: .8rem; color: #777; }
)css";

// Renders every chart: one vega-embed call per <script data-chart> element. window.synprefCharts
// maps chart ids to vega-embed results; window.synprefReady resolves when all are settled.
constexpr std::string_view kBootstrap = R"js(
(function () {
  var charts = {};
  window.synprefCharts = charts;
  var options = {renderer: 'svg', actions: {export: true, source: false, compiled: false, editor: false}};
  var jobs = Array.prototype.map.call(document.querySelectorAll('script[data-chart]'), function (el) {
    var id = el.getAttribute('data-chart');
    var target = document.getElementById(id);
    var fail = function (e) {
      target.className = 'chart chart-error';
      target.textContent = 'chart ' + id + ' failed to render: ' + (e && e.message ? e.message : e);
      console.error('synpref report: chart ' + id + ': ' + (e && e.message ? e.message : e));
    };
    try {
      return vegaEmbed(target, JSON.parse(el.textContent), options).then(function (result) {
        charts[id] = result;
      }, fail);
    } catch (e) {
      fail(e);
      return Promise.resolve();
    }
  });
  window.synprefReady = Promise.all(jobs);
})();
)js";

}  // namespace

Page::Page(std::string title) : title_(std::move(title)) {}

void Page::heading(std::string_view text, int level) {
  level = std::clamp(level, 2, 4);
  std::string html = "<h" + std::to_string(level) + ">";
  append_html_escaped(html, text);
  html += "</h" + std::to_string(level) + ">\n";
  blocks_.push_back({Block::kHeading, std::move(html), "", ""});
}

void Page::paragraph(std::string_view text) {
  std::string html = "<p>";
  append_html_escaped(html, text);
  html += "</p>\n";
  blocks_.push_back({Block::kParagraph, std::move(html), "", ""});
}

void Page::table(const Table& table) {
  size_t n_cols = table.header.size();
  for (const auto& row : table.rows) n_cols = std::max(n_cols, row.size());
  std::string html = "<table>\n";
  if (!table.header.empty()) {
    html += "<thead><tr>";
    for (size_t c = 0; c < n_cols; ++c) {
      html += "<th>";
      if (c < table.header.size()) append_html_escaped(html, table.header[c]);
      html += "</th>";
    }
    html += "</tr></thead>\n";
  }
  html += "<tbody>\n";
  for (const auto& row : table.rows) {
    html += "<tr>";
    for (size_t c = 0; c < n_cols; ++c) {
      std::string_view cell = c < row.size() ? std::string_view(row[c]) : std::string_view();
      html += looks_numeric(cell) ? "<td class=\"num\">" : "<td>";
      append_html_escaped(html, cell);
      html += "</td>";
    }
    html += "</tr>\n";
  }
  html += "</tbody></table>\n";
  blocks_.push_back({Block::kTable, std::move(html), "", ""});
}

void Page::chart(std::string_view id, std::string_view vega_lite_json) {
  SP_CHECK_MSG(!id.empty(), "a chart needs an id");
  for (const Block& block : blocks_) SP_CHECK_MSG(block.chart_id != id, "chart ids must be unique on a page");
  std::string spec = script_safe_json(vega_lite_json);
  SP_CHECK_MSG(!spec.empty(), "chart spec is not valid JSON");
  blocks_.push_back({Block::kChart, "", std::string(id), std::move(spec)});
}

std::vector<std::string> Page::chart_ids() const {
  std::vector<std::string> ids;
  for (const Block& block : blocks_)
    if (block.kind == Block::kChart) ids.push_back(block.chart_id);
  return ids;
}

std::string Page::html() const {
  std::string out;
  out.reserve(assets::kVegaJs.size() + assets::kVegaLiteJs.size() + assets::kVegaEmbedJs.size() + 65536);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  // Nothing may be fetched: no network source is allowed for anything. Vega compiles its
  // expressions with the Function constructor, hence 'unsafe-eval'.
  out +=
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:\">\n";
  out += "<title>";
  append_html_escaped(out, title_);
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n<h1>";
  append_html_escaped(out, title_);
  out += "</h1>\n";
  for (const Block& block : blocks_) {
    if (block.kind != Block::kChart) {
      out += block.html;
      continue;
    }
    out += "<div class=\"chart\" id=\"";
    append_html_escaped(out, block.chart_id);
    out += "\"></div>\n<script type=\"application/json\" data-chart=\"";
    append_html_escaped(out, block.chart_id);
    out += "\">";
    out += block.spec;
    out += "</script>\n";
  }
  out += "<footer>Written by synpref. Charts: Vega ";
  out += assets::kVegaVersion;
  out += ", Vega-Lite ";
  out += assets::kVegaLiteVersion;
  out += ", vega-embed ";
  out += assets::kVegaEmbedVersion;
  out += " (embedded; the page needs no network).</footer>\n";
  append_script(out, assets::kVegaJs);
  append_script(out, assets::kVegaLiteJs);
  append_script(out, assets::kVegaEmbedJs);
  out += "<script>";
  out += kBootstrap;
  out += "</script>\n</body>\n</html>\n";
  return out;
}

Status write_html(const Page& page, const std::string& path) {
  return io::write_text(path, page.html());
}

}  // namespace synpref::report
