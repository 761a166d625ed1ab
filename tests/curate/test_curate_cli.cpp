// Black-box tests of `synpref curate init|status|export`: the real binary, its output and exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "synpref/curate/project.h"
#include "test_project_util.h"

using namespace synpref;
using namespace synpref::testing;
using nlohmann::json;

TEST(CurateCli, InitStatusAndRerun) {
  TempDir tmp;
  spit(tmp.file("a.jsonl"), make_pool(20));
  spit(tmp.file("b.jsonl"), make_pool(40));  // its first 20 pairs repeat a.jsonl's
  std::string pools = " --pool " + tmp.file("a.jsonl") + " " + tmp.file("b.jsonl");
  auto r = run_synpref("--json curate init " + tmp.file("p") + pools + " --shard-records 16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["pairs"], 40);
  EXPECT_EQ(s["duplicates"], 22 + 4);  // a's 2 inner repeats, b's 4, and b's 20 repeats of a
  EXPECT_EQ(s["rejects"], 2);
  EXPECT_EQ(s["shards"], 3);
  EXPECT_EQ(s["already_done"], false);

  auto again = run_synpref("curate init " + tmp.file("p") + pools + " --shard-records 16");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already initialized"), std::string::npos);

  auto status = run_synpref("--json curate status " + tmp.file("p"));
  ASSERT_EQ(status.exit_code, 0) << status.err;
  json st = json::parse(status.out);
  EXPECT_EQ(st["pairs"], 40);
  EXPECT_EQ(st["pairs_by_category"]["math"], 14);
  EXPECT_EQ(st["pairs_by_source"]["unit"], 40);
  EXPECT_EQ(st["init"]["duplicates"], 26);
  EXPECT_EQ(st["judge_usage"]["total"]["requests"], 0);
  auto text = run_synpref("curate status " + tmp.file("p"));
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("40 pairs in 3 shards"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("judge spend"), std::string::npos);
}

TEST(CurateCli, RefusalsHaveTheirExitCodes) {
  TempDir tmp;
  spit(tmp.file("a.jsonl"), make_pool(5));
  spit(tmp.file("b.jsonl"), make_pool(6));
  spit(tmp.file("bad.jsonl"), "{nope\n");
  ASSERT_EQ(run_synpref("curate init " + tmp.file("p") + " --pool " + tmp.file("a.jsonl")).exit_code, 0);
  auto different = run_synpref("curate init " + tmp.file("p") + " --pool " + tmp.file("b.jsonl"));
  EXPECT_EQ(different.exit_code, 2);
  EXPECT_NE(different.err.find("different pool"), std::string::npos) << different.err;
  std::filesystem::create_directories(tmp.file("full"));
  spit(tmp.file("full/x"), "x");
  EXPECT_EQ(run_synpref("curate init " + tmp.file("full") + " --pool " + tmp.file("a.jsonl")).exit_code, 2);
  auto all_bad = run_synpref("curate init " + tmp.file("q") + " --pool " + tmp.file("bad.jsonl"));
  EXPECT_EQ(all_bad.exit_code, 5);
  EXPECT_NE(all_bad.err.find("rejects.jsonl"), std::string::npos);
  EXPECT_EQ(run_synpref("curate status " + tmp.file("nothing")).exit_code, 3);
  EXPECT_EQ(
      run_synpref("curate export " + tmp.file("p") + " --set bronze -o " + tmp.file("o.jsonl")).exit_code, 2);
  auto no_stage = run_synpref("curate export " + tmp.file("p") + " --set kept -o " + tmp.file("o.jsonl"));
  EXPECT_EQ(no_stage.exit_code, 2);
  EXPECT_NE(no_stage.err.find("no stage"), std::string::npos) << no_stage.err;
  auto over_shard = run_synpref("curate export " + tmp.file("p") + " --set gold -o " +
                                tmp.file("p/pool/shard-00000.jsonl"));
  EXPECT_EQ(over_shard.exit_code, 2);
}

TEST(CurateCli, ExportIsReadyForTrainingTools) {
  TempDir tmp;
  spit(tmp.file("a.jsonl"), make_pool(10));
  ASSERT_EQ(run_synpref("curate init " + tmp.file("p") + " --pool " + tmp.file("a.jsonl")).exit_code, 0);
  {
    auto project = curate::Project::open(tmp.file("p"));
    ASSERT_TRUE(project.is_ok());
    auto id0 = (*project)->id_at(0), id5 = (*project)->id_at(5);
    ASSERT_TRUE((*project)
                    ->set_decisions("stage2", {{*id0, true, "agree"}, {*id5, false, "gold_rm_disagrees"}})
                    .is_ok());
  }
  auto r = run_synpref("--json curate export " + tmp.file("p") + " --set flipped -o " + tmp.file("f.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["written"], 1);
  EXPECT_EQ(s["stage"], "stage2");
  std::string line = slurp(tmp.file("f.jsonl"));
  EXPECT_NE(line.find("\"chosen\":{\"content\":\"bad answer 5\"}"), std::string::npos) << line;
  auto trl = run_synpref("curate export " + tmp.file("p") + " --set kept --format openrlhf -o " +
                         tmp.file("k.jsonl"));
  ASSERT_EQ(trl.exit_code, 0) << trl.err;
  auto stats = run_synpref("--json data stats " + tmp.file("k.jsonl") + " " + tmp.file("f.jsonl"));
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("\"rejects\":0"), std::string::npos) << stats.out;
}

TEST(CurateCli, AnEditedShardFailsTheExportWithoutAnOutputFile) {
  TempDir tmp;
  spit(tmp.file("a.jsonl"), make_pool(10));
  ASSERT_EQ(run_synpref("curate init " + tmp.file("p") + " --pool " + tmp.file("a.jsonl")).exit_code, 0);
  {
    auto project = curate::Project::open(tmp.file("p"));
    ASSERT_TRUE(project.is_ok());
    ASSERT_TRUE((*project)->set_membership({*(*project)->id_at(9)}, "gold", true).is_ok());
  }
  std::string shard = tmp.file("p/pool/shard-00000.jsonl");
  std::string bytes = slurp(shard);
  size_t at = bytes.rfind("good answer 9");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'G';  // same size: only the hash can tell
  spit(shard, bytes);
  auto r = run_synpref("curate export " + tmp.file("p") + " --set gold -o " + tmp.file("gold.jsonl"));
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.err.find("shard-00000.jsonl"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("gold.jsonl")));
  EXPECT_FALSE(std::filesystem::exists(tmp.file("gold.jsonl.tmp")));
}

// Human verdicts enter the gold set through `curate gold`: valid lines become labels of kind
// "gold" (source human) and gold membership; bad lines and unknown ids are counted and listed in
// the rejects file; a re-import changes nothing; a file with nothing usable is an error.
TEST(CurateCli, GoldImportRecordsHumanLabelsAndListsRejects) {
  TempDir tmp;
  spit(tmp.file("a.jsonl"),
       pool_line(0, "math", "p0") + pool_line(1, "code", "p1") + pool_line(2, "chat", "p2"));
  ASSERT_EQ(run_synpref("curate init " + tmp.file("p") + " --pool " + tmp.file("a.jsonl")).exit_code, 0);
  spit(tmp.file("gold.jsonl"),
       "{\"id\": \"p0\", \"verdict\": 1, \"annotator\": \"ann-1\"}\n"
       "{\"id\": \"p1\", \"verdict\": -1, \"annotator\": \"ann-2\", \"confidence\": 0.9}\n"
       "{\"id\": \"nope\", \"verdict\": 1, \"annotator\": \"ann-1\"}\n"
       "{\"id\": \"p2\", \"verdict\": 2, \"annotator\": \"ann-1\"}\n"
       "{\"id\": \"p2\", \"verdict\": 1}\n"
       "not json\n");
  auto r = run_synpref("--json curate gold " + tmp.file("p") + " --labels " + tmp.file("gold.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["lines"], 6);
  EXPECT_EQ(s["imported"], 2);
  EXPECT_EQ(s["pairs"], 2);
  EXPECT_EQ(s["rejected"], 4);
  const std::string rejects = slurp(tmp.file("p/rejects-gold.jsonl"));
  for (const char* code : {"\"code\":\"unknown_id\"", "\"line\":4", "\"line\":5", "\"code\":\"json\""})
    EXPECT_NE(rejects.find(code), std::string::npos) << code << "\n" << rejects;

  auto project = curate::Project::open(tmp.file("p"));
  ASSERT_TRUE(project.is_ok()) << project.status().message();
  auto labels = (*project)->labels_for("gold");
  ASSERT_TRUE(labels.is_ok());
  ASSERT_EQ(labels->size(), 2u);
  for (const auto& l : *labels) {
    EXPECT_EQ(l.source, "human");
    EXPECT_EQ(l.verdict, l.pair_id == "p0" ? 1 : -1);
    EXPECT_EQ(l.annotator, l.pair_id == "p0" ? "ann-1" : "ann-2");
  }
  project->reset();
  ASSERT_EQ(run_synpref("curate gold " + tmp.file("p") + " --labels " + tmp.file("gold.jsonl")).exit_code, 0);
  project = curate::Project::open(tmp.file("p"));
  ASSERT_TRUE(project.is_ok());
  EXPECT_EQ((*project)->labels_for("gold")->size(), 2u) << "a re-import adds no label";
  auto st = json::parse(run_synpref("--json curate status " + tmp.file("p")).out);
  EXPECT_EQ(st["gold"], 2);

  spit(tmp.file("bad.jsonl"), "{\"id\": \"zzz\", \"verdict\": 1, \"annotator\": \"a\"}\n");
  auto bad = run_synpref("curate gold " + tmp.file("p") + " --labels " + tmp.file("bad.jsonl"));
  EXPECT_EQ(bad.exit_code, 5);
  EXPECT_NE(bad.err.find("no usable gold label"), std::string::npos) << bad.err;
}

// `curate gold import DIR FILE` reads annotation-tool exports (format detected), prints what it
// counted, and refuses a usage without a file.
TEST(CurateCli, GoldImportReadsAnnotationToolExports) {
  TempDir tmp;
  std::string pool;
  for (int i = 0; i < 10; ++i) pool += pool_line(i, "math", "pair-" + std::to_string(i));
  spit(tmp.file("a.jsonl"), pool);
  ASSERT_EQ(run_synpref("curate init " + tmp.file("p") + " --pool " + tmp.file("a.jsonl")).exit_code, 0);
  const std::string fixtures = synpref::testing::source_path("tests/fixtures/curate/");
  auto r =
      run_synpref("--json curate gold import " + tmp.file("p") + " " + fixtures + "label-studio-export.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["format"], "label-studio");
  EXPECT_EQ(s["imported"], 6);
  EXPECT_EQ(s["cannot_determine"], 1);
  EXPECT_EQ(s["skipped"], 1);
  EXPECT_EQ(s["rejected"], 2);
  r = run_synpref("--json curate gold import " + tmp.file("p") + " " + fixtures +
                  "argilla-records.json --format argilla");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["imported"], 3);
  auto st = json::parse(run_synpref("--json curate status " + tmp.file("p")).out);
  EXPECT_EQ(st["gold"], 7);  // pairs 0, 1, 2, 4, 5 (Label Studio) and 6, 7 (Argilla; pair 0 again)
  EXPECT_EQ(run_synpref("curate gold " + tmp.file("p")).exit_code, 2) << "no --labels and no import";
}
