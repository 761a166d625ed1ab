// Black-box: the real `synpref` binary scores every benchmark from a --scores file, and an
// independent Python implementation of the official rules (tests/oracles/eval_rules.py,
// /usr/bin/python3 + numpy) recomputes every metric of the report and checks the dump. Then the
// --model path end to end: a tiny random Qwen3 reward model on the real JudgeBench, RM-Bench and
// RMB files, its dump checked the same way, and the truncation policies.
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
    Proc made = run("/usr/bin/python3 tests/oracles/eval_rules.py scores" + common + " --function " +
                    function + " --out " + quote(scores));
    ASSERT_EQ(made.rc, 0) << made.output;
    Proc eval = run(std::string(SYNPREF_BINARY) + " eval" + common + " --scores " + quote(scores) +
                    " --out " + quote(report) + " --dump-scores " + quote(dump) +
                    " --bootstrap 200 --model-name " + function + "-rm");
    ASSERT_EQ(eval.rc, 0) << eval.output;
    EXPECT_NE(eval.output.find("(95% CI "), std::string::npos) << eval.output;
    Proc checked = run("/usr/bin/python3 tests/oracles/eval_rules.py check" + common + " --scores " +
                       quote(scores) + " --report " + quote(report) + " --dump " + quote(dump));
    EXPECT_EQ(checked.rc, 0) << checked.output;
    EXPECT_NE(checked.output.find("OK " + benchmark), std::string::npos) << checked.output;
    reports_.push_back(report);
  }

  fs::path dir_;
  std::vector<std::string> reports_;
};

const std::string kShared = "../shared/data";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(EvalCli, AllSevenAgainstTheIndependentReference) {
  for (const char* function : {"length", "mod5"}) {  // mod5 makes many equal scores: every tie rule
    check("judgebench", kShared + "/judgebench", function);
    check("rm-bench", kShared + "/rm-bench/data", function);
    check("rmb", kShared + "/rmb", function);
    check("rewardbench", kShared + "/llmbar", function, "--llmbar");
    check("rewardbench2", "tests/fixtures/eval/rewardbench2", function);
    check("ppe-preference", "tests/fixtures/eval/ppe_preference", function);
    check("ppe-correctness", "tests/fixtures/eval/ppe_correctness", function);
  }
  // The crafted RewardBench v1 files cover all four sections and the prior sets; in the table the
  // length model's RewardBench cell comes from them (one report per model and benchmark).
  check("rewardbench", "tests/fixtures/eval/rewardbench", "length", "", "_crafted");
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
  Proc made = run("/usr/bin/python3 tests/oracles/eval_rules.py scores --benchmark judgebench --data " +
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

TEST_F(EvalCli, OutputPathsAreCheckedBeforeLoadingOrScoring) {
  std::string bin = std::string(SYNPREF_BINARY) + " eval --benchmark judgebench";
  std::string data = kShared + "/judgebench";
  // The model folder does not exist either: the --out error must come first, before any loading.
  Proc missing_folder = run(bin + " --data " + quote(data) + " --model " + quote(path("no-model")) +
                            " --out " + quote(path("no_such_folder/report.json")));
  EXPECT_EQ(missing_folder.rc, 3) << missing_folder.output;
  EXPECT_NE(missing_folder.output.find("--out " + path("no_such_folder/report.json") + ": folder"),
            std::string::npos)
      << missing_folder.output;
  EXPECT_NE(missing_folder.output.find("does not exist"), std::string::npos) << missing_folder.output;

  Proc dump_folder = run(bin + " --data " + quote(data) + " --model " + quote(path("no-model")) +
                         " --dump-scores " + quote(dir_.string()));
  EXPECT_EQ(dump_folder.rc, 2) << dump_folder.output;
  EXPECT_NE(dump_folder.output.find("--dump-scores " + dir_.string() + ": is a folder"), std::string::npos)
      << dump_folder.output;

  // An output that is an input: the scores file would be overwritten by the report.
  std::string scores = path("jb.scores.jsonl");
  Proc made = run("/usr/bin/python3 tests/oracles/eval_rules.py scores --benchmark judgebench --data " +
                  quote(data) + " --out " + quote(scores));
  ASSERT_EQ(made.rc, 0) << made.output;
  std::string before = read_file(scores);
  Proc clobber =
      run(bin + " --data " + quote(data) + " --scores " + quote(scores) + " --out " + quote(scores));
  EXPECT_EQ(clobber.rc, 2) << clobber.output;
  EXPECT_NE(clobber.output.find("would overwrite --scores"), std::string::npos) << clobber.output;
  EXPECT_EQ(read_file(scores), before);

  // A report inside the --data folder would be read back as data by the next run.
  fs::create_directories(path("data_copy"));
  fs::copy_file(data + "/data/dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl",
                path("data_copy/gpt4o.jsonl"));
  Proc inside = run(bin + " --data " + quote(path("data_copy")) + " --scores " + quote(scores) +
                    " --allow-missing --out " + quote(path("data_copy/report.json")));
  EXPECT_EQ(inside.rc, 2) << inside.output;
  EXPECT_NE(inside.output.find("is inside, --data"), std::string::npos) << inside.output;
  EXPECT_FALSE(fs::exists(path("data_copy/report.json")));
}

TEST_F(EvalCli, JudgeBenchReportNamesThePaperFigure) {
  std::string data = kShared + "/judgebench";
  std::string scores = path("jb.scores.jsonl"), report = path("jb.report.json");
  Proc made = run("/usr/bin/python3 tests/oracles/eval_rules.py scores --benchmark judgebench --data " +
                  quote(data) + " --out " + quote(scores));
  ASSERT_EQ(made.rc, 0) << made.output;
  Proc eval = run(std::string(SYNPREF_BINARY) + " eval --benchmark judgebench --data " + quote(data) +
                  " --scores " + quote(scores) + " --bootstrap 0 --out " + quote(report));
  ASSERT_EQ(eval.rc, 0) << eval.output;
  std::string text = read_file(report);
  // The released data: 350 GPT-4o pairs (the paper and leaderboard set) of 620.
  EXPECT_NE(text.find("\"name\": \"paper_accuracy\""), std::string::npos);
  EXPECT_NE(text.find("the micro-average over the 350 pairs with response_model gpt-4o-2024-05-13"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Skywork-Reward-V2 paper's JudgeBench figure"), std::string::npos) << text;
}

TEST_F(EvalCli, ModelPathEndToEnd) {
  std::string bin = SYNPREF_BINARY;
  std::string model = path("tiny-rm");
  Proc init = run(bin + " init-model --arch qwen3 --preset qwen3-tiny --tokenizer " +
                  quote(kShared + "/tokenizers/qwen3") + " --seed 7 --out " + quote(model));
  ASSERT_EQ(init.rc, 0) << init.output;
  struct Case {
    std::string benchmark, data;
  };
  // RMB: both BoN files, and one pairwise scenario folder (the full 4412 items take minutes here).
  for (const Case& c :
       {Case{"judgebench", kShared + "/judgebench"}, Case{"rm-bench", kShared + "/rm-bench/data"},
        Case{"rmb", kShared + "/rmb/RMB_dataset/BoN_set"},
        Case{"rmb", kShared + "/rmb/RMB_dataset/Pairwise_set/Helpfulness/Code"}}) {
    SCOPED_TRACE(c.data);
    std::string report = path(c.benchmark + ".model.json"), dump = path(c.benchmark + ".model.scores.jsonl");
    std::string common = " --benchmark " + c.benchmark + " --data " + quote(c.data);
    Proc eval = run(bin + " eval" + common + " --model " + quote(model) +
                    " --threads 2 --bootstrap 100 --out " + quote(report) + " --dump-scores " + quote(dump));
    ASSERT_EQ(eval.rc, 0) << eval.output;
    EXPECT_NE(eval.output.find("model=tiny-rm"), std::string::npos) << eval.output;
    std::string text = read_file(report);
    EXPECT_NE(text.find("\"kind\": \"model\""), std::string::npos);
    EXPECT_NE(text.find("\"max_length\": 16384"), std::string::npos);
    EXPECT_NE(text.find("\"n_truncated\": 0"), std::string::npos);
    // The report made from the engine's scores equals the reference computed on its dump.
    Proc checked = run("/usr/bin/python3 tests/oracles/eval_rules.py check" + common + " --scores " +
                       quote(dump) + " --report " + quote(report) + " --dump " + quote(dump));
    EXPECT_EQ(checked.rc, 0) << checked.output;
  }

  // Truncation: JudgeBench questions and answers run to thousands of tokens. truncate-left drops
  // the oldest context tokens; an item whose response alone is over the limit is skipped.
  std::string common =
      bin + " eval --benchmark judgebench --data " +
      quote(kShared + "/judgebench/data/dataset=judgebench,response_model=claude-3-5-sonnet-20240620.jsonl") +
      " --model " + quote(model) + " --threads 2 --bootstrap 0 --max-length 1024";
  Proc left = run(common + " --truncation truncate-left --allow-missing --out " + quote(path("left.json")));
  ASSERT_EQ(left.rc, 0) << left.output;
  std::string text = read_file(path("left.json"));
  EXPECT_NE(text.find("\"max_length\": 1024"), std::string::npos);
  EXPECT_EQ(text.find("\"n_truncated\": 0"), std::string::npos) << "no item was truncated at 1024 tokens";
  Proc skip = run(common + " --truncation skip");
  EXPECT_EQ(skip.rc, 5) << skip.output;
  EXPECT_NE(skip.output.find("skipped: over --max-length 1024"), std::string::npos) << skip.output;
  EXPECT_NE(skip.output.find("--allow-missing"), std::string::npos) << skip.output;
  Proc error = run(common + " --truncation error");
  EXPECT_EQ(error.rc, 5) << error.output;
  EXPECT_NE(error.output.find("over the maximum of 1024"), std::string::npos) << error.output;
  Proc both = run(common + " --scores x.jsonl");
  EXPECT_EQ(both.rc, 2) << both.output;
  EXPECT_NE(both.output.find("exactly one of --model"), std::string::npos) << both.output;
}

}  // namespace
