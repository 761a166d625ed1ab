// Black-box: the `synpref` commands that write pages (`eval --html`, `eval table --html`,
// `report eval`, `report train`), their inline chart data against the JSON report, and their
// refusals. The pages are rendered in Chromium by test_report_browser.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "test_util.h"

namespace {

using nlohmann::json;
using namespace synpref::testing;

json chart_spec(const std::string& html, const std::string& id) {
  const std::string open = "<script type=\"application/json\" data-chart=\"" + id + "\">";
  size_t begin = html.find(open);
  if (begin == std::string::npos) return json();
  begin += open.size();
  return json::parse(html.substr(begin, html.find("</script>", begin) - begin));
}

// Eight JudgeBench pairs, two per category, and scores that get c % 3 of category c's pairs right.
void write_judgebench(const TempDir& dir) {
  const char* sources[] = {"mmlu-pro-law", "livebench-reasoning", "livebench-math", "livecodebench"};
  std::string data, scores;
  for (int c = 0; c < 4; ++c) {
    for (int k = 0; k < 2; ++k) {
      const std::string id = std::string(sources[c]) + "-" + std::to_string(k);
      data += json{{"pair_id", id},     {"source", sources[c]}, {"question", "q"},
                   {"response_A", "a"}, {"response_B", "b"},    {"label", "A>B"}}
                  .dump() +
              "\n";
      const bool right = k < c % 3;
      scores += json{{"id", id}, {"scores", {right ? 2.0 : 1.0, right ? 1.0 : 2.0}}}.dump() + "\n";
    }
  }
  std::filesystem::create_directories(dir.file("jb"));
  spit(dir.file("jb/judgebench.jsonl"), data);
  spit(dir.file("scores.jsonl"), scores);
}

TEST(ReportCli, EvalPageCarriesTheReportsNumbers) {
  TempDir dir;
  write_judgebench(dir);
  auto r = run_synpref("eval --benchmark judgebench --data " + dir.file("jb") + " --scores " +
                       dir.file("scores.jsonl") + " --out " + dir.file("r.json") + " --html " +
                       dir.file("r.html") + " --bootstrap 50 --model-name toy");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("page: " + dir.file("r.html")), std::string::npos) << r.out;
  const json report = json::parse(slurp(dir.file("r.json")));
  const std::string html = slurp(dir.file("r.html"));
  const json spec = chart_spec(html, "metrics-category");
  ASSERT_TRUE(spec.is_object()) << "no metrics-category chart";
  size_t n_categories = 0;
  for (const json& m : report["metrics"]) {
    const std::string name = m["name"];
    if (name.rfind("category/", 0) != 0) continue;
    ++n_categories;
    bool found = false;
    for (const json& row : spec["data"]["values"]) {
      if (row["category"] != name.substr(9)) continue;
      found = true;
      EXPECT_EQ(row["value"], m["value"]) << name;
      EXPECT_EQ(row["lo"], m["ci_low"]) << name;
      EXPECT_EQ(row["hi"], m["ci_high"]) << name;
    }
    EXPECT_TRUE(found) << name;
  }
  EXPECT_EQ(n_categories, 4u);

  // The same page again from the JSON report; Table 1 as a page from two reports.
  auto again = run_synpref("report eval " + dir.file("r.json") + " -o " + dir.file("again.html"));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(chart_spec(slurp(dir.file("again.html")), "metrics-category"), spec);
  r = run_synpref("eval --benchmark judgebench --data " + dir.file("jb") + " --scores " +
                  dir.file("scores.jsonl") + " --out " + dir.file("r2.json") +
                  " --bootstrap 50 --model-name other");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto table = run_synpref("eval table " + dir.file("r.json") + " " + dir.file("r2.json") + " --html " +
                           dir.file("table.html"));
  ASSERT_EQ(table.exit_code, 0) << table.err;
  const json bars = chart_spec(slurp(dir.file("table.html")), "benchmarks");
  ASSERT_EQ(bars["data"]["values"].size(), 2u);
  EXPECT_EQ(bars["data"]["values"][0]["group"], "toy");
  EXPECT_EQ(bars["data"]["values"][0]["value"], report["headline"]["value"]);
  EXPECT_NE(slurp(dir.file("table.html")).find("<pre>"), std::string::npos);
}

TEST(ReportCli, Refusals) {
  TempDir dir;
  write_judgebench(dir);
  const std::string eval =
      "eval --benchmark judgebench --data " + dir.file("jb") + " --scores " + dir.file("scores.jsonl");
  // Checked before anything is loaded: a missing folder, the same file twice, an input.
  auto r = run_synpref(eval + " --html " + dir.file("nope/page.html"));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("--html"), std::string::npos) << r.err;
  r = run_synpref(eval + " --out " + dir.file("x") + " --html " + dir.file("x"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--out and --html are the same file"), std::string::npos) << r.err;
  r = run_synpref(eval + " --html " + dir.file("jb/page.html"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("inside, --data"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("jb/page.html")));

  r = run_synpref("report train " + dir.file("no-run"));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("metrics.jsonl"), std::string::npos) << r.err;
  std::filesystem::create_directories(dir.file("run"));
  spit(dir.file("run/metrics.jsonl"), "{\"kind\":\"train\",\"step\":1,\"loss\":\"x\"}\n");
  r = run_synpref("report train " + dir.file("run"));
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.err.find("metrics.jsonl:1: field 'loss' must be a number"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("run/report.html")));

  r = run_synpref("report eval " + dir.file("scores.jsonl") + " -o " + dir.file("p.html"));
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.err.find("scores.jsonl"), std::string::npos) << r.err;
  r = run_synpref("report eval " + dir.file("scores.jsonl") + " -o " + dir.file("scores.jsonl"));
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
