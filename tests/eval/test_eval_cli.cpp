// Black-box: the real `synpref` binary scores every benchmark from a --scores file, and an
// independent Python implementation of the official rules (tests/eval/reference_scoring.py,
// /usr/bin/python3 + numpy) recomputes every metric of the report and checks the dump.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

namespace fs = std::filesystem;

struct Proc {
  int rc;
  std::string output;
};

Proc run(const std::string& command) {
  Proc r{-1, ""};
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), got);
  int status = ::pclose(pipe);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string quote(const std::string& s) {
  return "'" + s + "'";
}

class EvalCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("synpref_eval_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Makes scores with `function`, runs `synpref eval`, and has the reference check the report.
  void check(const std::string& benchmark, const std::string& data, const std::string& function,
             const std::string& extra = "", const std::string& suffix = "") {
    SCOPED_TRACE(benchmark + " " + function + suffix);
    std::string tag = benchmark + "_" + function + suffix;
    std::string scores = path(tag + ".scores.jsonl"), report = path(tag + ".report.json"),
                dump = path(tag + ".dump.jsonl");
    std::string common = " --benchmark " + benchmark + " --data " + quote(data) + " " + extra;
    Proc made = run("/usr/bin/python3 tests/eval/reference_scoring.py scores" + common + " --function " +
                    function + " --out " + quote(scores));
    ASSERT_EQ(made.rc, 0) << made.output;
    Proc eval = run(std::string(SYNPREF_BINARY) + " eval" + common + " --scores " + quote(scores) +
                    " --out " + quote(report) + " --dump-scores " + quote(dump) +
                    " --bootstrap 200 --model-name " + function + "-rm");
    ASSERT_EQ(eval.rc, 0) << eval.output;
    EXPECT_NE(eval.output.find("(95% CI "), std::string::npos) << eval.output;
    Proc checked = run("/usr/bin/python3 tests/eval/reference_scoring.py check" + common + " --scores " +
                       quote(scores) + " --report " + quote(report) + " --dump " + quote(dump));
    EXPECT_EQ(checked.rc, 0) << checked.output;
    EXPECT_NE(checked.output.find("OK " + benchmark), std::string::npos) << checked.output;
    reports_.push_back(report);
  }

  fs::path dir_;
  std::vector<std::string> reports_;
};

const std::string kShared = "../shared/data";

TEST_F(EvalCli, AllSevenAgainstTheIndependentReference) {
  for (const char* function : {"length", "mod5"}) {  // mod5 makes many equal scores: every tie rule
    check("judgebench", kShared + "/judgebench", function);
    check("rm-bench", kShared + "/rm-bench/data", function);
    check("rmb", kShared + "/rmb", function);
    check("rewardbench", kShared + "/llmbar", function, "--llmbar");
    check("rewardbench2", "tests/data/eval/rewardbench2", function);
    check("ppe-preference", "tests/data/eval/ppe_preference", function);
    check("ppe-correctness", "tests/data/eval/ppe_correctness", function);
  }
  // The crafted RewardBench v1 files cover all four sections and the prior sets; in the table the
  // length model's RewardBench cell comes from them (one report per model and benchmark).
  check("rewardbench", "tests/data/eval/rewardbench", "length", "", "_crafted");
  std::string table_reports;
  for (const auto& r : reports_) {
    if (r.find("rewardbench_length.report") != std::string::npos) continue;
    table_reports += " " + quote(r);
  }
  Proc table = run(std::string(SYNPREF_BINARY) + " eval table" + table_reports + " --breakdown");
  ASSERT_EQ(table.rc, 0) << table.output;
  EXPECT_NE(table.output.find("| Model"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("length-rm"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("mod5-rm"), std::string::npos) << table.output;
  for (const char* column :
       {"RB v1", "RB v2", "PPE Pref", "PPE Corr", "RMB", "RM-Bench", "JudgeBench", "Mean"}) {
    EXPECT_NE(table.output.find(column), std::string::npos) << column;
  }
  EXPECT_NE(table.output.find("section/Chat Hard"), std::string::npos) << table.output;  // breakdown
}

TEST_F(EvalCli, RefusesNaNScoresAndMissingItems) {
  std::string data = kShared + "/judgebench";
  std::string scores = path("jb.jsonl");
  Proc made = run("/usr/bin/python3 tests/eval/reference_scoring.py scores --benchmark judgebench --data " +
                  quote(data) + " --out " + quote(scores));
  ASSERT_EQ(made.rc, 0) << made.output;
  // Drop the last line: one item missing.
  std::ifstream in(scores);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::ofstream(path("missing.jsonl")) << [&] {
    std::ostringstream s;
    for (size_t i = 0; i + 1 < lines.size(); ++i) s << lines[i] << "\n";
    return s.str();
  }();
  std::string eval = std::string(SYNPREF_BINARY) + " eval --benchmark judgebench --data " + quote(data);
  Proc missing = run(eval + " --scores " + quote(path("missing.jsonl")));
  EXPECT_EQ(missing.rc, 5) << missing.output;
  EXPECT_NE(missing.output.find("1 of 620 items have no scores"), std::string::npos) << missing.output;
  Proc allowed = run(eval + " --scores " + quote(path("missing.jsonl")) + " --allow-missing --out " +
                     quote(path("partial.json")));
  EXPECT_EQ(allowed.rc, 0) << allowed.output;
  EXPECT_NE(allowed.output.find("(partial)"), std::string::npos) << allowed.output;

  std::ofstream(path("nan.jsonl")) << lines[0] << "\n"
                                   << "{\"id\": \"x\", \"scores\": [NaN, 1.0]}\n";
  Proc nan = run(eval + " --scores " + quote(path("nan.jsonl")));
  EXPECT_EQ(nan.rc, 5) << nan.output;
  EXPECT_NE(nan.output.find("synpref: error: "), std::string::npos) << nan.output;
  EXPECT_NE(nan.output.find("nan.jsonl:2: a score is NaN or Infinity"), std::string::npos) << nan.output;

  Proc wrong = run(std::string(SYNPREF_BINARY) + " eval --benchmark rmb --data " + quote(data) +
                   " --scores " + quote(scores));
  EXPECT_NE(wrong.rc, 0);
  Proc unknown = run(std::string(SYNPREF_BINARY) + " eval --benchmark nope --data x --scores y");
  EXPECT_EQ(unknown.rc, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("rewardbench2"), std::string::npos) << unknown.output;
}

}  // namespace
