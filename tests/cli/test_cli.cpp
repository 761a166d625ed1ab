// Black-box tests of the synpref binary's front end: typos get "did you mean", a mistyped flag is
// reported before a missing required one, exit codes follow the one table (command.h, README),
// --json/-q work after the command, thread counts are range-checked, and model or tokenizer files
// that are not regular files (a FIFO would block forever) are refused with the file's name.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace synpref::testing {
namespace {

const std::string kCanonical = source_path("tests/fixtures/data/good/canonical.jsonl");

// run_synpref under `timeout`: a hang becomes exit code 124 instead of a stuck test.
RunResult run_synpref_with_timeout(const std::string& args, int seconds) {
  return run_synpref("--version >/dev/null && timeout " + std::to_string(seconds) + " " + SYNPREF_BINARY +
                     " " + args);
}

// A tiny random reward model with the Qwen3 tokenizer, made once per test process.
const std::string& tiny_model() {
  static const std::string dir = [] {
    std::string d = temp_dir("cli_model") + "/model";
    auto r = run_synpref("-q init-model --arch qwen3 --preset qwen3-tiny --tokenizer " +
                         shared_data("tokenizers/qwen3") + " --seed 1 --out " + d);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return d;
  }();
  return dir;
}

// A copy of the tiny model (symlinks to its files) where `fifo_name` is a FIFO.
std::string model_with_fifo(const std::string& fifo_name, const std::string& name) {
  namespace fs = std::filesystem;
  const std::string dir = temp_dir("cli_fifo_" + name) + "/model";
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(tiny_model())) {
    if (entry.path().filename() == fifo_name) continue;
    fs::create_symlink(entry.path(), fs::path(dir) / entry.path().filename());
  }
  EXPECT_EQ(::mkfifo((dir + "/" + fifo_name).c_str(), 0600), 0);
  return dir;
}

TEST(Cli, MistypedCommandSuggestsTheClosest) {
  auto r = run_synpref("scroe --model m --input i --output o");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown command 'scroe'; did you mean score?"), std::string::npos) << r.err;
  r = run_synpref("data covnert x");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown command 'covnert' for 'synpref data'; did you mean convert?"),
            std::string::npos)
      << r.err;
  r = run_synpref("frobnicate");  // nothing close: no suggestion
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("did you mean"), std::string::npos) << r.err;
}

TEST(Cli, MistypedFlagIsReportedBeforeMissingRequiredOnes) {
  // --modle for --model: CLI11 alone reports "--model is required".
  auto r = run_synpref("score --modle m --input i --output o");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown flag --modle for 'synpref score'; did you mean --model?"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("required"), std::string::npos) << r.err;
  r = run_synpref("score --model m --input i --output o --thread 2");
  EXPECT_NE(r.err.find("did you mean --threads?"), std::string::npos) << r.err;
  r = run_synpref("--jsno data stats x");
  EXPECT_NE(r.err.find("unknown flag --jsno for 'synpref'; did you mean --json?"), std::string::npos)
      << r.err;
  // Values that look like flags are values: "-" (stdin) and negative numbers.
  r = run_synpref("data stats - --json < " + kCanonical);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(Cli, MissingRequiredOptionIsAUsageError) {
  auto r = run_synpref("score --model m --input i");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--output"), std::string::npos) << r.err;
}

TEST(Cli, GlobalFlagsWorkAfterTheCommandAndShowInItsHelp) {
  auto before = run_synpref("--json data stats " + kCanonical);
  auto after = run_synpref("data stats " + kCanonical + " --json");
  ASSERT_EQ(before.exit_code, 0) << before.err;
  ASSERT_EQ(after.exit_code, 0) << after.err;
  ASSERT_TRUE(nlohmann::json::accept(before.out)) << before.out;
  ASSERT_TRUE(nlohmann::json::accept(after.out)) << after.out;
  EXPECT_EQ(nlohmann::json::parse(before.out)["stats"], nlohmann::json::parse(after.out)["stats"]);
  EXPECT_EQ(run_synpref("data stats " + kCanonical + " -q").exit_code, 0);
  for (const char* cmd :
       {"score", "model-info", "data stats", "data tokenize", "train", "eval", "tokenize"}) {
    auto help = run_synpref(std::string(cmd) + " --help");
    EXPECT_EQ(help.exit_code, 0) << cmd;
    EXPECT_NE(help.out.find("--json"), std::string::npos) << cmd << ":\n" << help.out;
    EXPECT_NE(help.out.find("--quiet"), std::string::npos) << cmd << ":\n" << help.out;
  }
}

TEST(Cli, ExitCodesAreDocumentedInHelpAndReadme) {
  auto help = run_synpref("--help");
  EXPECT_EQ(help.exit_code, 0);
  const std::string readme = slurp(source_path("README.md"));
  for (const char* line :
       {"  0  success", "  2  usage error", "  3  not found", "  4  I/O error", "  5  data error",
        "  6  unsupported", "  7  internal error", "130  interrupted"}) {
    EXPECT_NE(help.out.find(line), std::string::npos) << line << "\n" << help.out;
  }
  for (const char* code : {"| 0 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |", "| 6 |", "| 7 |", "| 130 |"})
    EXPECT_NE(readme.find(code), std::string::npos) << "README.md lacks the exit code row " << code;
  // The codes the table promises: a missing file is 3, a malformed one 5.
  EXPECT_EQ(run_synpref("data stats /nonexistent/file.jsonl").exit_code, 3);
  EXPECT_EQ(run_synpref("model-info " + source_path("tests/fixtures/data")).exit_code, 3);
}

// Issue 12 item 9: --threads 100000 aborted every command (std::system_error from thread creation)
// and negative counts were accepted.
TEST(Cli, ThreadCountsAreRangeChecked) {
  for (const char* threads : {"100000", "-1"}) {
    auto r = run_synpref("model-info " + tiny_model() + " --threads " + threads);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("n_threads must be 0 (all hardware threads) or 1..1024, got " +
                         std::string(threads) + " (set with --threads)"),
              std::string::npos)
        << r.err;
    r = run_synpref("score --model " + tiny_model() + " --input " + kCanonical + " --output - --threads " +
                    threads);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("(set with --threads)"), std::string::npos) << r.err;
    r = run_synpref("data tokenize " + kCanonical + " --tokenizer " + shared_data("tokenizers/qwen3") +
                    " -o " + temp_dir("cli_threads") + "/x.shard --threads " + threads);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--threads must be 0"), std::string::npos) << r.err;
  }
  auto ok = run_synpref("model-info " + tiny_model() + " --threads 2");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

// Issue 12 item 7: a FIFO in place of a model or tokenizer file blocked model-info/score forever.
// `timeout` turns a hang into exit 124, so a regression fails instead of hanging the suite.
TEST(Cli, ModelAndTokenizerFilesMustBeRegularFiles) {
  for (const char* name : {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"}) {
    const std::string dir = model_with_fifo(name, name);
    const std::string cmd = std::string(name).rfind("tokenizer", 0) == 0
                                ? "tokenize --tokenizer " + dir + " --text hi"
                                : "model-info " + dir;
    auto r = run_synpref_with_timeout(cmd, 60);
    EXPECT_EQ(r.exit_code, 2) << name << ": " << r.err;
    EXPECT_NE(r.err.find(dir + "/" + name), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("regular file"), std::string::npos) << r.err;
  }
}

// Issue 12 item 12, `data tokenize`: an input whose every record is rejected
// is an error naming the rejects file, and no shard appears.
TEST(Cli, TokenizeOfAllRejectedInputFailsAndWritesNoShard) {
  const std::string dir = temp_dir("cli_tokenize_rejected");
  const std::string out = dir + "/out.spshard";
  std::ofstream(dir + "/bad.jsonl") << "{\"chosen\": [}\nnot json\n";
  auto r = run_synpref("data tokenize " + dir + "/bad.jsonl --tokenizer " + shared_data("tokenizers/qwen3") +
                       " -o " + out);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("no usable records"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("out.spshard.rejects.jsonl"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace synpref::testing
