// Black-box tests of `synpref data ...`: the real binary on real and crafted files.
#include <gtest/gtest.h>

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
  std::string in = source_path("tests/data/fixtures/bad/not_assistant.jsonl");
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
  auto text = run_synpref("data stats " + source_path("tests/data/fixtures/good/canonical.jsonl"));
  EXPECT_NE(text.out.find("attribute task_category: math=1"), std::string::npos) << text.out;
}
