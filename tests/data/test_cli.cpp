// Black-box tests of `synpref data ...`: the real binary on real and crafted files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

using namespace synpref::testing;
using nlohmann::json;

TEST(DataCli, HelpListsEveryCommandAndFlag) {
  auto top = run_synpref("--help");
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("data"), std::string::npos);
  auto data = run_synpref("data --help");
  for (const char* cmd : {"convert", "stats", "dedup", "decontaminate", "split", "sample"}) {
    EXPECT_NE(data.out.find(cmd), std::string::npos) << cmd;
  }
  auto conv = run_synpref("data convert --help");
  for (const char* flag : {"--format", "--rejects", "--strict", "--max-line-bytes", "--output"}) {
    EXPECT_NE(conv.out.find(flag), std::string::npos) << flag;
  }
}

TEST(DataCli, HhRlhfConvertsTo2312PairsAndRoundTripsByteIdentical) {
  auto dir = temp_dir("cli_hh");
  auto r = run_synpref("--json data convert " + shared_data("hh-rlhf/harmless-base/test.jsonl.gz") + " -o " +
                       dir + "/hh.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["written"], 2312);
  EXPECT_EQ(s["rejects"], 0);
  EXPECT_EQ(count_lines(slurp(dir + "/hh.jsonl")), 2312u);
  auto again = run_synpref("data convert " + dir + "/hh.jsonl -o " + dir + "/hh2.jsonl.zst");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto back = run_synpref("data convert " + dir + "/hh2.jsonl.zst -o " + dir + "/hh3.jsonl");
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(slurp(dir + "/hh.jsonl"), slurp(dir + "/hh3.jsonl"));
}

TEST(DataCli, RmbPairwiseFilesConvert) {
  auto dir = temp_dir("cli_rmb");
  std::string f1 =
      "'" + shared_data("rmb/RMB_dataset/Pairwise_set/Helpfulness/Chat/Casual Conversation.json") + "'";
  std::string f2 = "'" + shared_data("rmb/RMB_dataset/Pairwise_set/Harmlessness/S1.json") + "'";
  auto r = run_synpref("--json data convert " + f1 + " " + f2 + " -o " + dir + "/rmb.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["rejects"], 0);
  EXPECT_GT(s["written"].get<int>(), 100);
  std::string first = slurp(dir + "/rmb.jsonl").substr(0, 200);
  EXPECT_NE(first.find("\"id\":\""), std::string::npos);
}

TEST(DataCli, BadRecordsGoToTheRejectsFileAndStrictFailsWithFileAndLine) {
  auto dir = temp_dir("cli_bad");
  std::string in = source_path("tests/fixtures/data/bad/not_assistant.jsonl");
  auto r = run_synpref("data convert " + in + " -o " + dir + "/out.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("rejects 1 (not_assistant 1)"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(slurp(dir + "/out.jsonl.rejects.jsonl")), 1u);
  auto strict = run_synpref("data convert --strict " + in + " -o " + dir + "/strict.jsonl");
  EXPECT_NE(strict.exit_code, 0);
  EXPECT_NE(strict.err.find("not_assistant.jsonl:2"), std::string::npos) << strict.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/strict.jsonl")) << "no half-written output after an error";
}

TEST(DataCli, MissingInputIsAClearError) {
  auto r = run_synpref("data convert /nonexistent.jsonl -o -");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/nonexistent.jsonl"), std::string::npos) << r.err;
}

TEST(DataCli, DedupKeepsFirstOccurrenceAndListsEveryDuplicate) {
  auto dir = temp_dir("cli_dedup");
  spit(dir + "/in.jsonl",
       "{\"prompt\":\"Q\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":\"first\"}\n"
       "{\"prompt\":\" Q \",\"chosen\":\"a\\r\\n\",\"rejected\":\"b\",\"id\":\"second\"}\n"  // same after
                                                                                             // normalization
       "{\"prompt\":\"Q\",\"chosen\":\"b\",\"rejected\":\"a\",\"id\":\"swapped\"}\n"
       "{\"chosen\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"a\"}],"
       "\"rejected\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"b\"}]}\n");
  auto r = run_synpref("--json data dedup " + dir + "/in.jsonl -o " + dir + "/out.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["written"], 2);
  EXPECT_EQ(s["duplicates_removed"], 2);
  std::string out = slurp(dir + "/out.jsonl");
  EXPECT_NE(out.find("\"first\""), std::string::npos);
  EXPECT_NE(out.find("\"swapped\""), std::string::npos);
  std::string dups = slurp(dir + "/out.jsonl.duplicates.jsonl");
  EXPECT_EQ(count_lines(dups), 2u);
  EXPECT_NE(dups.find("\"second\""), std::string::npos);
}

TEST(DataCli, DecontaminateDropsPairsSharingA13GramWithBenchmarkPrompts) {
  auto dir = temp_dir("cli_decon");
  // Real benchmark prompts: MT-Bench questions.
  std::string bench = shared_data("mt-bench/fastchat/llm_judge/data/mt_bench/question.jsonl");
  spit(
      dir + "/in.jsonl",
      "{\"prompt\":\"Compose an engaging travel blog post about a recent trip to Hawaii, highlighting "
      "cultural "
      "experiences and must-see attractions. Thanks!\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":\"leak\"}\n"
      "{\"prompt\":\"Compose an engaging travel blog post about "
      "Hawaii.\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":\"clean\"}\n");
  auto r =
      run_synpref("--json data decontaminate " + dir + "/in.jsonl -b " + bench + " -o " + dir + "/out.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["removed"], 1);
  EXPECT_EQ(s["written"], 1);
  EXPECT_GE(s["benchmark_prompts"].get<int>(), 160);  // 80 questions x 2 turns
  EXPECT_NE(slurp(dir + "/out.jsonl").find("\"clean\""), std::string::npos);
  std::string removed = slurp(dir + "/out.jsonl.removed.jsonl");
  EXPECT_NE(removed.find("\"leak\""), std::string::npos);
  EXPECT_NE(removed.find("question.jsonl:1"), std::string::npos) << removed;
}

TEST(DataCli, SplitIsStableAndCompleteAndSampleIsExact) {
  auto dir = temp_dir("cli_split");
  std::string hh = shared_data("hh-rlhf/harmless-base/test.jsonl.gz");
  auto r = run_synpref("--json data split " + hh + " --out-dir " + dir +
                       "/a --ratios train=0.9,test=0.1 --seed 5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  int train = s["splits"]["train"], test = s["splits"]["test"];
  EXPECT_EQ(train + test, 2312);
  EXPECT_NEAR(test, 231, 60);
  auto again =
      run_synpref("data split " + hh + " --out-dir " + dir + "/b --ratios train=0.9,test=0.1 --seed 5");
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(slurp(dir + "/a/test.jsonl"), slurp(dir + "/b/test.jsonl"));
  EXPECT_NE(slurp(dir + "/a/test.jsonl").find("\"split\":\"test\""), std::string::npos);

  auto smp = run_synpref("--json data sample " + hh + " -n 100 --seed 1 -o " + dir + "/s.jsonl");
  ASSERT_EQ(smp.exit_code, 0) << smp.err;
  EXPECT_EQ(count_lines(slurp(dir + "/s.jsonl")), 100u);
  auto frac = run_synpref("--json data sample " + hh + " --fraction 0.5 -o " + dir + "/f.jsonl");
  ASSERT_EQ(frac.exit_code, 0) << frac.err;
  EXPECT_NEAR(static_cast<int>(count_lines(slurp(dir + "/f.jsonl"))), 1156, 120);
  EXPECT_NE(run_synpref("data sample " + hh + " -o -").exit_code, 0) << "needs -n or --fraction";
}

TEST(DataCli, StatsReportsCountsAndHistograms) {
  auto r = run_synpref("--json data stats " + shared_data("hh-rlhf/harmless-base/test.jsonl.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["stats"]["pairs"], 2312);
  EXPECT_EQ(s["stats"]["lengths"]["chosen_bytes"]["count"], 2312);
  auto text = run_synpref("data stats " + source_path("tests/fixtures/data/good/canonical.jsonl"));
  EXPECT_NE(text.out.find("attribute task_category: math=1"), std::string::npos) << text.out;
}

// ---- issue 12 ------------------------------------------------------------------------------------

namespace {

// Runs a shell command line (for pipes and background readers); returns its exit status.
int shell(const std::string& line) {
  int status = std::system(line.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool is_char_device(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

}  // namespace

TEST(DataCli, DevicesFifosAndSymlinksAreWrittenThroughNotReplaced) {
  auto dir = temp_dir("cli_special");
  std::string in = source_path("tests/fixtures/data/good/chat.jsonl");
  auto null = run_synpref("data convert " + in + " -o /dev/null");
  EXPECT_EQ(null.exit_code, 0) << null.err;
  EXPECT_TRUE(is_char_device("/dev/null")) << "/dev/null was replaced by a regular file";
  if (is_char_device("/dev/full")) {
    auto full = run_synpref("data convert " + in + " -o /dev/full");
    EXPECT_NE(full.exit_code, 0);
    EXPECT_NE(full.err.find("/dev/full"), std::string::npos) << full.err;
    EXPECT_NE(full.err.find("no space left"), std::string::npos) << full.err;
    EXPECT_TRUE(is_char_device("/dev/full"));
  }
  // A named pipe: a reader gets the records; the pipe stays a pipe.
  std::string fifo = dir + "/out.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int rc = shell("cat " + fifo + " > " + dir + "/from_fifo.jsonl & CI=1 " + SYNPREF_BINARY +
                 " data convert " + in + " -o " + fifo + " 2>/dev/null; rc=$?; wait; exit $rc");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(count_lines(slurp(dir + "/from_fifo.jsonl")), 2u);
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced by a regular file";
  // A symlink: it keeps pointing at its target, which receives the records.
  spit(dir + "/target.jsonl", "old\n");
  std::filesystem::create_symlink(dir + "/target.jsonl", dir + "/link.jsonl");
  auto link = run_synpref("data convert " + in + " -o " + dir + "/link.jsonl");
  ASSERT_EQ(link.exit_code, 0) << link.err;
  EXPECT_TRUE(std::filesystem::is_symlink(dir + "/link.jsonl"));
  EXPECT_EQ(count_lines(slurp(dir + "/target.jsonl")), 2u);
}

TEST(DataCli, EveryCommandRefusesToWriteOverOneOfItsInputs) {
  auto dir = temp_dir("cli_same");
  const std::string original = slurp(source_path("tests/fixtures/data/good/prompt.jsonl"));
  std::string in = dir + "/in.jsonl";
  spit(in, original);
  std::filesystem::create_symlink(in, dir + "/alias.jsonl");
  const std::vector<std::string> commands = {
      "data convert " + in + " -o " + in,
      "data convert " + in + " -o " + dir + "/alias.jsonl",
      "data convert " + in + " -o " + dir + "/out.jsonl --rejects " + in,
      "data dedup " + in + " -o " + dir + "/out.jsonl --duplicates " + in,
      "data decontaminate " + in + " -b " + source_path("tests/fixtures/data/good/prompt.jsonl") + " -o " +
          in,
      "data sample " + in + " -n 1 -o " + in,
      "data split " + in + " --out-dir " + dir + " --ratios in=1",
      "data stats " + in + " --rejects " + dir + "/alias.jsonl",
  };
  for (const auto& command : commands) {
    auto r = run_synpref(command);
    EXPECT_NE(r.exit_code, 0) << command;
    EXPECT_NE(r.err.find("is also an input"), std::string::npos) << command << ": " << r.err;
    EXPECT_EQ(slurp(in), original) << command << " changed its input";
  }
}

TEST(DataCli, NothingUsableIsAnErrorSayingHowManyWereRejectedAndWhere) {
  auto dir = temp_dir("cli_unusable");
  // Raw JudgeBench is a benchmark, not preference data: every record is rejected.
  std::string judgebench =
      "'" + shared_data("judgebench/data/dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl") + "'";
  auto r = run_synpref("data convert " + judgebench + " -o " + dir + "/out.jsonl");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no usable records"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("all 350 were rejected"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(dir + "/out.jsonl.rejects.jsonl"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.jsonl")) << "no output after the error";
  EXPECT_EQ(count_lines(slurp(dir + "/out.jsonl.rejects.jsonl")), 350u);
  auto stats = run_synpref("data stats " + judgebench);
  EXPECT_NE(stats.exit_code, 0);
  EXPECT_NE(stats.err.find("no usable records"), std::string::npos) << stats.err;
  spit(dir + "/empty.jsonl", "");
  EXPECT_NE(run_synpref("data convert " + dir + "/empty.jsonl -o " + dir + "/e.jsonl").exit_code, 0);
}

TEST(DataCli, ByteOrderMarkedFilesConvert) {
  auto dir = temp_dir("cli_bom");
  spit(dir + "/bom.jsonl", "\xef\xbb\xbf{\"prompt\": \"Q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n");
  spit(dir + "/bom.json", "\xef\xbb\xbf[{\"prompt\": \"Q\", \"chosen\": \"a\", \"rejected\": \"c\"}]\n");
  auto r =
      run_synpref("--json data convert " + dir + "/bom.jsonl " + dir + "/bom.json -o " + dir + "/out.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["written"], 2);
  EXPECT_EQ(s["rejects"], 0);
}

TEST(DataCli, DecontaminateTakesBenchmarksAndInputsInAnyOrderAndBenchmarkFolders) {
  auto dir = temp_dir("cli_decon_order");
  std::string folder = shared_data("mt-bench/fastchat/llm_judge/data/mt_bench");  // + reference answers
  spit(dir + "/in.jsonl",
       "{\"prompt\":\"Compose an engaging travel blog post about a recent trip to Hawaii, highlighting "
       "cultural experiences and must-see "
       "attractions.\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":\"leak\"}\n"
       "{\"prompt\":\"Hello there\",\"chosen\":\"a\",\"rejected\":\"b\",\"id\":\"clean\"}\n");
  const std::vector<std::string> orders = {
      "-b " + folder + " " + dir + "/in.jsonl -o " + dir + "/out1.jsonl",
      "-o " + dir + "/out2.jsonl -b " + folder + " " + dir + "/in.jsonl --ngram 13",
      dir + "/in.jsonl -b " + folder + " -o " + dir + "/out3.jsonl",
  };
  for (const auto& args : orders) {
    auto r = run_synpref("--json data decontaminate " + args);
    ASSERT_EQ(r.exit_code, 0) << args << ": " << r.err;
    json s = json::parse(r.out);
    EXPECT_EQ(s["removed"], 1) << args;
    EXPECT_EQ(s["written"], 1) << args;
    EXPECT_GE(s["benchmark_prompts"].get<int>(), 160) << args;
  }
  // Several benchmarks: -b repeated.
  auto two = run_synpref("--json data decontaminate -b " + folder + " -b " + folder + "/question.jsonl " +
                         dir + "/in.jsonl -o " + dir + "/out4.jsonl");
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_GE(json::parse(two.out)["benchmark_prompts"].get<int>(), 320);
}

TEST(DataCli, StatsWritesNoRejectsFileUnlessAsked) {
  auto dir = temp_dir("cli_stats_rejects");
  std::string bad = source_path("tests/fixtures/data/bad/role.jsonl");
  int rc = shell("cd " + dir + " && CI=1 " + SYNPREF_BINARY + " data stats " + bad + " >" + dir +
                 "/out.txt 2>" + dir + "/err.txt");
  EXPECT_EQ(rc, 0) << slurp(dir + "/err.txt");
  EXPECT_FALSE(std::filesystem::exists(dir + "/synpref.rejects.jsonl")) << "stats left a rejects file in cwd";
  EXPECT_NE(slurp(dir + "/out.txt").find("rejects 1"), std::string::npos) << slurp(dir + "/out.txt");
  auto asked = run_synpref("data stats " + bad + " --rejects " + dir + "/asked.jsonl");
  EXPECT_EQ(asked.exit_code, 0) << asked.err;
  EXPECT_EQ(count_lines(slurp(dir + "/asked.jsonl")), 1u);
}

TEST(DataCli, ConvertToTrlAndOpenRlhfWritesPromptChosenRejectedMessageLists) {
  auto dir = temp_dir("cli_to");
  std::string hh = shared_data("hh-rlhf/harmless-base/test.jsonl.gz");
  auto canonical = run_synpref("data convert " + hh + " -o " + dir + "/canonical.jsonl");
  ASSERT_EQ(canonical.exit_code, 0) << canonical.err;
  for (const char* to : {"trl", "openrlhf"}) {
    std::string out = dir + "/" + to + ".jsonl";
    auto r = run_synpref("--json data convert " + hh + " --to " + to + " -o " + out);
    ASSERT_EQ(r.exit_code, 0) << to << ": " << r.err;
    EXPECT_EQ(json::parse(r.out)["written"], 2312);
    std::string text = slurp(out);
    json first = json::parse(text.substr(0, text.find('\n')));
    ASSERT_TRUE(first["prompt"].is_array()) << to;
    EXPECT_EQ(first["prompt"][0]["role"], "user");
    ASSERT_EQ(first["chosen"].size(), 1u);
    EXPECT_EQ(first["chosen"][0]["role"], "assistant");
    EXPECT_EQ(first["rejected"][0]["role"], "assistant");
    // Read back by synpref: the same pairs (ids are content hashes in both; hh-rlhf's 4 explicit
    // empty final turns need --empty-responses keep outside hh transcripts).
    auto back =
        run_synpref("data convert --empty-responses keep " + out + " -o " + dir + "/" + to + "_back.jsonl");
    ASSERT_EQ(back.exit_code, 0) << back.err;
    EXPECT_EQ(slurp(dir + "/" + to + "_back.jsonl"), slurp(dir + "/canonical.jsonl")) << to;
  }
  auto bad = run_synpref("data convert " + hh + " --to parquet -o " + dir + "/x.jsonl");
  EXPECT_NE(bad.exit_code, 0);
}
