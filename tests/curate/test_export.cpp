// export_set: which pairs each set holds, the attributes and provenance filled from the db, the
// flipped variant, the TRL format, and refusing to write over the project's own files.
#include <gtest/gtest.h>

#include "synpref/curate/project.h"
#include "synpref/data/reader.h"
#include "test_project_util.h"

using namespace synpref;
using namespace synpref::testing;
using curate::Project;

namespace {

struct ExportFixture {
  TempDir tmp;
  std::unique_ptr<Project> project;
  std::vector<std::string> ids;

  ExportFixture() {
    spit(tmp.file("pool.jsonl"), make_pool(12));
    auto opened = Project::init(tmp.file("p"), {tmp.file("pool.jsonl")}, {});
    EXPECT_TRUE(opened.is_ok()) << opened.status().message();
    project = std::move(*opened);
    EXPECT_TRUE(project
                    ->for_each_pair([&](int64_t, const data::Record& r) {
                      ids.push_back(r.id);
                      return Status::ok();
                    })
                    .is_ok());
  }

  std::vector<data::Record> run(curate::ExportSet set, const std::string& stage = "",
                                data::OutputFormat format = data::OutputFormat::canonical) {
    curate::ExportOptions options;
    options.set = set;
    options.stage = stage;
    options.format = format;
    std::string out = tmp.file("out.jsonl");
    auto summary = curate::export_set(*project, out, options);
    EXPECT_TRUE(summary.is_ok()) << summary.status().message();
    std::vector<data::Record> records;
    auto reader = data::RecordReader::open(out, {});
    EXPECT_TRUE(reader.is_ok());
    data::Record record;
    data::Reject reject;
    for (;;) {
      auto outcome = (*reader)->next(record, reject);
      EXPECT_TRUE(outcome.is_ok());
      if (*outcome == data::RecordReader::Outcome::end) break;
      EXPECT_EQ(*outcome, data::RecordReader::Outcome::record) << reject.reason;
      records.push_back(record);
    }
    if (summary.is_ok()) {
      EXPECT_EQ(summary->written, static_cast<int64_t>(records.size()));
    }
    return records;
  }
};

curate::Label make_label(const std::string& id, const std::string& source, const std::string& annotator,
                         const std::string& kind, double confidence, const std::string& time) {
  return {id, source, annotator, 0, "", 1, confidence, kind, time};
}

}  // namespace

TEST(CurateExport, GoldCarriesAttributesAndHumanProvenanceInPoolOrder) {
  ExportFixture f;
  const auto& ids = f.ids;
  ASSERT_TRUE(f.project->set_membership({ids[7], ids[2]}, "gold", true).is_ok());
  ASSERT_TRUE(
      f.project->set_attributes({{ids[7], {"safety", "subjective", "high", "harmless", "refuse"}}}).is_ok());
  ASSERT_TRUE(
      f.project
          ->add_labels({make_label(ids[7], "human", "bob", "gold", 1.0, "2026-01-02T00:00:00Z"),
                        make_label(ids[7], "human", "alice", "gold", 0.5, "2026-01-03T00:00:00Z"),
                        make_label(ids[7], "llm_judge", "judge-x", "silver", 0.9, "2026-01-04T00:00:00Z")})
          .is_ok());
  auto gold = f.run(curate::ExportSet::gold);
  ASSERT_EQ(gold.size(), 2u);
  EXPECT_EQ(gold[0].id, ids[2]);                        // pool order, not insertion order
  EXPECT_EQ(gold[0].attributes.task_category, "chat");  // from the pool
  EXPECT_EQ(gold[1].id, ids[7]);
  EXPECT_EQ(gold[1].attributes.task_category, "safety");
  EXPECT_EQ(gold[1].attributes.annotation_guideline, "refuse");
  EXPECT_EQ(gold[1].provenance.source, "human");
  EXPECT_EQ(gold[1].provenance.annotator, "alice,bob");  // only the gold labels
  EXPECT_EQ(gold[1].provenance.judge, "");
  EXPECT_DOUBLE_EQ(gold[1].provenance.confidence, 0.75);
  EXPECT_EQ(gold[1].provenance.time, "2026-01-03T00:00:00Z");
  EXPECT_EQ(gold[1].context[0].content, "question 7");
  EXPECT_EQ(gold[1].chosen().content, "good answer 7");
}

TEST(CurateExport, KeptDiscardedAndFlippedFollowTheStageDecisions) {
  ExportFixture f;
  const auto& ids = f.ids;
  ASSERT_TRUE(f.project->set_decisions("stage1", {{ids[0], false, "old"}}).is_ok());
  ASSERT_TRUE(f.project
                  ->set_decisions("stage2", {{ids[1], true, "gold_rm_and_judges_agree"},
                                             {ids[4], false, "gold_rm_disagrees"},
                                             {ids[9], false, "gold_rm_disagrees"}})
                  .is_ok());
  ASSERT_TRUE(f.project
                  ->add_labels({make_label(ids[4], "llm_judge", "judge-b", "stage2", 0.8, "t1"),
                                make_label(ids[4], "model", "rm@2", "stage2", 0.6, "t2")})
                  .is_ok());
  auto kept = f.run(curate::ExportSet::kept);  // default stage: the last one that decided
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].id, ids[1]);
  auto discarded = f.run(curate::ExportSet::discarded);
  ASSERT_EQ(discarded.size(), 2u);
  EXPECT_EQ(discarded[0].id, ids[4]);
  EXPECT_EQ(discarded[0].provenance.source, "llm_judge");
  EXPECT_EQ(discarded[0].provenance.judge, "judge-b,rm@2");
  auto flipped = f.run(curate::ExportSet::flipped);
  ASSERT_EQ(flipped.size(), 2u);
  EXPECT_EQ(flipped[0].id, ids[4] + "-flipped");
  EXPECT_EQ(flipped[0].chosen().content, "bad answer 4");
  EXPECT_EQ(flipped[0].rejected().content, "good answer 4");
  EXPECT_EQ(flipped[1].chosen().content, "bad answer 9");
  auto old = f.run(curate::ExportSet::discarded, "stage1");
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].id, ids[0]);

  curate::ExportOptions unknown;
  unknown.set = curate::ExportSet::kept;
  unknown.stage = "stage9";
  EXPECT_EQ(curate::export_set(*f.project, f.tmp.file("x.jsonl"), unknown).status().code(),
            StatusCode::not_found);
}

TEST(CurateExport, NoDecisionsYetIsAClearErrorAndTrlFormatReadsBack) {
  ExportFixture f;
  curate::ExportOptions kept;
  kept.set = curate::ExportSet::kept;
  auto none = curate::export_set(*f.project, f.tmp.file("k.jsonl"), kept);
  EXPECT_EQ(none.status().code(), StatusCode::invalid_argument);
  EXPECT_NE(none.status().message().find("no stage"), std::string::npos);

  ASSERT_TRUE(f.project->set_membership({f.ids[3]}, "silver", true).is_ok());
  auto trl = f.run(curate::ExportSet::silver, "", data::OutputFormat::trl);
  ASSERT_EQ(trl.size(), 1u);
  EXPECT_EQ(trl[0].context[0].content, "question 3");
  EXPECT_EQ(trl[0].chosen().content, "good answer 3");
  EXPECT_NE(slurp(f.tmp.file("out.jsonl")).find("\"prompt\""), std::string::npos);
}

TEST(CurateExport, RefusesToWriteOverTheProjectsOwnFiles) {
  ExportFixture f;
  ASSERT_TRUE(f.project->set_membership({f.ids[0]}, "gold", true).is_ok());
  std::string shard = f.project->shard_paths()[0];
  std::string before = slurp(shard);
  curate::ExportOptions options;
  auto refused = curate::export_set(*f.project, shard, options);
  EXPECT_EQ(refused.status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(slurp(shard), before);
  EXPECT_FALSE(curate::export_set(*f.project, f.project->db_path(), options).is_ok());
  EXPECT_EQ(curate::parse_export_set("bronze").status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(curate::export_set_name(*curate::parse_export_set("flipped")), "flipped");
}
