// The project store: init (dedup, shards, rejects, idempotency), the batch write API and its
// idempotency, status counts, and clean errors for bad folders, corrupt dbs and damaged shards.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "synpref/curate/project.h"
#include "test_project_util.h"

using namespace synpref;
using namespace synpref::testing;
using curate::Project;

namespace {

struct Fixture {
  TempDir tmp;
  std::string pool = tmp.file("pool.jsonl");
  std::string dir = tmp.file("proj");
  explicit Fixture(int n = 30, int64_t shard_records = 7) {
    spit(pool, make_pool(n));
    options.shard_records = shard_records;
  }
  curate::InitOptions options;
  std::unique_ptr<Project> init(curate::InitSummary* summary = nullptr) {
    auto project = Project::init(dir, {pool}, options, summary);
    EXPECT_TRUE(project.is_ok()) << project.status().message();
    return project.is_ok() ? std::move(*project) : nullptr;
  }
};

std::vector<std::string> ids_of(const Project& project) {
  std::vector<std::string> ids;
  EXPECT_TRUE(project
                  .for_each_pair([&](int64_t row, const data::Record& r) {
                    EXPECT_EQ(row, static_cast<int64_t>(ids.size()));
                    ids.push_back(r.id);
                    return Status::ok();
                  })
                  .is_ok());
  return ids;
}

curate::Label label(const std::string& id, const std::string& annotator, int sample, int verdict,
                    const std::string& kind = "silver") {
  curate::Label l;
  l.pair_id = id;
  l.source = "llm_judge";
  l.annotator = annotator;
  l.sample_index = sample;
  l.prompt_hash = "ph";
  l.verdict = verdict;
  l.confidence = 0.75;
  l.kind = kind;
  l.time = "2026-01-01T00:00:00Z";
  return l;
}

}  // namespace

TEST(CurateInit, DedupsByContentShardsInPoolOrderAndListsRejects) {
  Fixture f(30, 7);
  curate::InitSummary s;
  auto project = f.init(&s);
  ASSERT_TRUE(project);
  EXPECT_EQ(s.input_records, 33);
  EXPECT_EQ(s.pairs, 30);
  EXPECT_EQ(s.duplicates, 3);
  EXPECT_EQ(s.rejects, 1);
  EXPECT_EQ(s.rejects_by_code.at("json"), 1);
  EXPECT_EQ(s.shards, 5);  // 7+7+7+7+2
  EXPECT_FALSE(s.resumed);
  EXPECT_EQ(project->n_pairs(), 30);
  ASSERT_EQ(project->shard_paths().size(), 5u);
  EXPECT_EQ(count_lines(slurp(project->shard_paths()[4])), 2u);
  EXPECT_EQ(count_lines(slurp(f.dir + "/rejects.jsonl")), 1u);
  EXPECT_NE(slurp(f.dir + "/rejects.jsonl").find("\"code\":\"json\""), std::string::npos);
  // Ids are content hashes; rows follow the pool order.
  auto ids = ids_of(*project);
  ASSERT_EQ(ids.size(), 30u);
  auto first = project->pair_at(0);
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(first->context[0].content, "question 0");
  EXPECT_EQ(first->id, data::default_id(*first));
  auto by_id = project->pair(ids[17]);
  ASSERT_TRUE(by_id.is_ok()) << by_id.status().message();
  EXPECT_EQ(by_id->context[0].content, "question 17");
  EXPECT_EQ(*project->row_of(ids[17]), 17);
  EXPECT_EQ(*project->id_at(17), ids[17]);
  EXPECT_EQ(project->pair("nope").status().code(), StatusCode::not_found);
  // Attributes that came with the pool are in the db, and make the category.
  auto attrs = project->attributes_of(ids[1]);
  ASSERT_TRUE(attrs.is_ok() && attrs->has_value());
  EXPECT_EQ((*attrs)->task_category, "code");
  auto st = project->status();
  ASSERT_TRUE(st.is_ok());
  EXPECT_EQ(st->pairs_by_category.at("math"), 10);
  EXPECT_EQ(st->pairs_by_source.at("unit"), 30);
  EXPECT_EQ(st->init.duplicates, 3);
}

TEST(CurateInit, KeepsExplicitIdsAndRejectsAReusedIdWithOtherContent) {
  TempDir tmp;
  std::string pool = tmp.file("pool.jsonl");
  spit(pool, pool_line(0, "math", "a") + pool_line(1, "math", "b") + pool_line(2, "math", "a") +
                 "{\"kind\":\"set\"}\n");
  curate::InitSummary s;
  auto project = Project::init(tmp.file("p"), {pool}, {}, &s);
  ASSERT_TRUE(project.is_ok()) << project.status().message();
  EXPECT_EQ(s.pairs, 2);
  EXPECT_EQ(s.rejects_by_code.at("duplicate_id"), 1);
  EXPECT_EQ(s.rejects, 2);
  EXPECT_EQ((*project)->pair("b")->context[0].content, "question 1");
  EXPECT_NE(slurp(tmp.file("p/rejects.jsonl")).find("duplicate_id"), std::string::npos);
}

TEST(CurateInit, RerunIsANoOpAndADifferentPoolOrAForeignFolderIsRefused) {
  Fixture f;
  ASSERT_TRUE(f.init());
  std::string before = dump_project(f.dir);
  curate::InitSummary s;
  ASSERT_TRUE(f.init(&s));
  EXPECT_TRUE(s.already_done);
  EXPECT_EQ(s.pairs, 30);
  EXPECT_EQ(dump_project(f.dir), before);

  std::string other = f.tmp.file("other.jsonl");
  spit(other, make_pool(5));
  auto different = Project::init(f.dir, {other}, f.options);
  EXPECT_EQ(different.status().code(), StatusCode::invalid_argument);
  EXPECT_NE(different.status().message().find("different pool"), std::string::npos);
  auto resharded = f.options;
  resharded.shard_records = 8;
  EXPECT_FALSE(Project::init(f.dir, {f.pool}, resharded).is_ok());

  std::string foreign = f.tmp.file("foreign");
  std::filesystem::create_directories(foreign);
  spit(foreign + "/notes.txt", "mine");
  auto refused = Project::init(foreign, {f.pool}, f.options);
  EXPECT_EQ(refused.status().code(), StatusCode::invalid_argument);
  EXPECT_NE(refused.status().message().find("not empty"), std::string::npos);
  EXPECT_EQ(slurp(foreign + "/notes.txt"), "mine");
}

TEST(CurateInit, AllRejectedIsADataErrorNamingTheRejectsFile) {
  TempDir tmp;
  std::string pool = tmp.file("bad.jsonl");
  spit(pool, "{oops\n[1]\n");
  auto project = Project::init(tmp.file("p"), {pool}, {});
  EXPECT_EQ(project.status().code(), StatusCode::data_error);
  EXPECT_NE(project.status().message().find("rejects.jsonl"), std::string::npos);
  EXPECT_EQ(count_lines(slurp(tmp.file("p/rejects.jsonl"))), 2u);
  // The project is not usable: open says so.
  EXPECT_FALSE(Project::open(tmp.file("p")).is_ok());
}

TEST(CurateInit, ResumesAfterAnInterruptionAtAShardBoundary) {
  Fixture f;
  std::string reference_dir = f.tmp.file("reference");
  ASSERT_TRUE(Project::init(reference_dir, {f.pool}, f.options).is_ok());
  // Simulate a kill after two shards were committed and the next one renamed but not committed.
  ASSERT_TRUE(f.init());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((f.dir + "/project.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "DELETE FROM pairs WHERE shard >= 2; DELETE FROM attributes WHERE row >= 14;"
                   "DELETE FROM shards WHERE shard >= 2; DELETE FROM steps; DELETE FROM config WHERE key = "
                   "'init_summary';",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  std::filesystem::remove(f.dir + "/pool/shard-00004.jsonl");
  spit(f.dir + "/pool/shard-00003.jsonl.tmp", "half a line");
  spit(f.dir + "/rejects.jsonl", "");
  EXPECT_EQ(Project::open(f.dir).status().code(), StatusCode::invalid_argument);  // init unfinished
  curate::InitSummary s;
  ASSERT_TRUE(f.init(&s));
  EXPECT_TRUE(s.resumed);
  EXPECT_EQ(s.pairs, 30);
  EXPECT_EQ(s.duplicates, 3);
  EXPECT_EQ(s.rejects, 1);
  EXPECT_EQ(first_difference(dump_project(f.dir), dump_project(reference_dir)), "");
}

TEST(CurateProject, LabelsAreIdempotentAndAnUnknownPairWritesNothing) {
  Fixture f;
  auto project = f.init();
  ASSERT_TRUE(project);
  auto ids = ids_of(*project);
  std::vector<curate::Label> batch = {label(ids[0], "judge-a", 0, 1), label(ids[0], "judge-a", 1, -1),
                                      label(ids[3], "judge-b", 0, 0), label(ids[3], "alice", 0, 1, "gold")};
  batch[3].source = "human";
  ASSERT_TRUE(project->add_labels(batch).is_ok());
  std::string once = dump_db(project->db_path());
  ASSERT_TRUE(project->add_labels(batch).is_ok());
  EXPECT_EQ(dump_db(project->db_path()), once);
  // A changed verdict under the same key does not overwrite: the first label stays.
  auto changed = batch;
  changed[0].verdict = -1;
  ASSERT_TRUE(project->add_labels(changed).is_ok());
  EXPECT_EQ(dump_db(project->db_path()), once);

  auto silver = project->labels_for("silver");
  ASSERT_TRUE(silver.is_ok());
  ASSERT_EQ(silver->size(), 3u);
  EXPECT_EQ((*silver)[0].pair_id, ids[0]);
  EXPECT_EQ((*silver)[0].verdict, 1);
  EXPECT_EQ((*silver)[1].sample_index, 1);
  EXPECT_DOUBLE_EQ((*silver)[0].confidence, 0.75);
  EXPECT_EQ(project->labels_for("")->size(), 4u);
  EXPECT_EQ(project->labels_of(ids[3])->size(), 2u);

  auto bad = batch;
  bad.push_back(label("missing-id", "judge-a", 0, 1));
  bad[0].sample_index = 7;  // would be new
  auto status = project->add_labels(bad);
  EXPECT_EQ(status.code(), StatusCode::not_found);
  EXPECT_NE(status.message().find("labels[4].pair_id"), std::string::npos) << status.message();
  EXPECT_EQ(dump_db(project->db_path()), once);
  auto bad_verdict = batch;
  bad_verdict[1].verdict = 2;
  EXPECT_NE(project->add_labels(bad_verdict).message().find("labels[1].verdict"), std::string::npos);

  auto st = project->status();
  ASSERT_TRUE(st.is_ok());
  EXPECT_EQ(st->labels_by_kind_source.at("silver").at("llm_judge"), 3);
  EXPECT_EQ(st->labels_by_kind_source.at("gold").at("human"), 1);
}

TEST(CurateProject, AttributesMembershipScoresDecisionsRoundTripAndRepeatIdempotently) {
  Fixture f;
  auto project = f.init();
  ASSERT_TRUE(project);
  auto ids = ids_of(*project);
  data::Attributes a{"safety", "subjective", "high", "harmless", "prefer refusals"};
  auto write_all = [&] {
    ASSERT_TRUE(project->set_attributes({{ids[2], a}}).is_ok());
    ASSERT_TRUE(project->set_membership({ids[1], ids[2]}, "gold", true).is_ok());
    ASSERT_TRUE(project->set_membership({ids[5]}, "silver", true).is_ok());
    ASSERT_TRUE(project->set_scores("rm@1", {{ids[2], {1.5, -0.5}}, {ids[1], {0.0, 2.0}}}).is_ok());
    ASSERT_TRUE(
        project->set_decisions("stage2", {{ids[1], false, "gold_rm_disagrees"}, {ids[2], true, "agree"}})
            .is_ok());
  };
  write_all();
  std::string once = dump_db(project->db_path());
  write_all();
  EXPECT_EQ(dump_db(project->db_path()), once);

  auto attrs = project->attributes_of(ids[2]);
  ASSERT_TRUE(attrs.is_ok() && attrs->has_value());
  EXPECT_EQ((*attrs)->annotation_guideline, "prefer refusals");
  EXPECT_EQ(project->members("gold")->size(), 2u);
  EXPECT_EQ((*project->members("silver"))[0], ids[5]);
  EXPECT_EQ(project->members("bronze").status().code(), StatusCode::invalid_argument);
  auto scores = project->scores("rm@1");
  ASSERT_EQ(scores->size(), 2u);
  EXPECT_EQ((*scores)[0].pair_id, ids[1]);  // ordered by row
  EXPECT_DOUBLE_EQ((*scores)[1].chosen, 1.5);
  EXPECT_EQ(*project->score_models(), std::vector<std::string>{"rm@1"});
  EXPECT_FALSE(project->set_scores("rm@1", {{ids[0], {std::nan(""), 0}}}).is_ok());
  auto decisions = project->decisions("stage2");
  ASSERT_EQ(decisions->size(), 2u);
  EXPECT_FALSE((*decisions)[0].keep);
  EXPECT_EQ((*decisions)[0].reason, "gold_rm_disagrees");
  // A later decision replaces the earlier one for that pair.
  ASSERT_TRUE(project->set_decisions("stage2", {{ids[1], true, "relabelled"}}).is_ok());
  EXPECT_TRUE((*project->decisions("stage2"))[0].keep);
  ASSERT_TRUE(project->set_membership({ids[1]}, "gold", false).is_ok());
  EXPECT_EQ(project->members("gold")->size(), 1u);

  auto st = project->status();
  ASSERT_TRUE(st.is_ok());
  EXPECT_EQ(st->gold, 1);
  EXPECT_EQ(st->silver, 1);
  EXPECT_EQ(st->decisions_by_stage.at("stage2").kept, 2);
  EXPECT_EQ(st->pairs_by_category.at("safety"), 1);  // set_attributes moved ids[2] out of "chat"
  EXPECT_EQ(st->pairs_by_category.at("chat"), 9);
  EXPECT_EQ(st->decisions_by_stage_category.at("stage2").at("safety").kept, 1);
}

TEST(CurateProject, RunsRoundsUsageConfigAndStepMarkers) {
  Fixture f;
  auto project = f.init();
  ASSERT_TRUE(project);
  auto run = project->begin_run("curate label", "{\"n\":3}");
  ASSERT_TRUE(run.is_ok());
  auto round = project->begin_round(*run, "silver");
  ASSERT_TRUE(round.is_ok());
  ASSERT_TRUE(project
                  ->add_usage(*run, {{"judge-a", 10, 4, 1, 0, 1000, 200, 0.5},
                                     {"judge-b", 5, 0, 0, 1, 500, 100, 0.25}})
                  .is_ok());
  ASSERT_TRUE(project->end_round(*round, "ok", "{\"labels\":15}").is_ok());
  ASSERT_TRUE(project->end_run(*run, "ok").is_ok());
  EXPECT_EQ(project->end_run(999, "ok").code(), StatusCode::not_found);
  auto runs = project->runs();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].status, "ok");
  EXPECT_EQ((*runs)[0].config_json, "{\"n\":3}");
  EXPECT_FALSE((*runs)[0].ended.empty());
  ASSERT_TRUE(project->set_config("taxonomy", "[\"math\"]").is_ok());
  EXPECT_EQ(**project->config("taxonomy"), "[\"math\"]");
  EXPECT_FALSE(project->config("absent")->has_value());
  EXPECT_FALSE(*project->step_done("attributes"));
  ASSERT_TRUE(project->mark_step_done("attributes", *run).is_ok());
  ASSERT_TRUE(project->mark_step_done("attributes", *run).is_ok());
  EXPECT_TRUE(*project->step_done("attributes"));
  auto st = project->status();
  EXPECT_EQ(st->judge_total.requests, 15);
  EXPECT_EQ(st->judge_total.prompt_tokens, 1500);
  EXPECT_DOUBLE_EQ(st->judge_total.cost_usd, 0.75);
  EXPECT_EQ(st->judge_by_endpoint.at("judge-b").failures, 1);
  EXPECT_EQ(st->runs, 1);
  EXPECT_EQ(st->rounds, 1);
}

TEST(CurateOpen, MissingProjectCorruptDbNewerSchemaAndDamagedShardsAreCleanErrors) {
  TempDir tmp;
  EXPECT_EQ(Project::open(tmp.file("none")).status().code(), StatusCode::not_found);
  {
    Fixture f;
    ASSERT_TRUE(f.init());
    // A truncated shard: the size check names it.
    std::string shard = f.dir + "/pool/shard-00001.jsonl";
    std::string bytes = slurp(shard);
    spit(shard, bytes.substr(0, bytes.size() - 5));
    auto opened = Project::open(f.dir);
    EXPECT_EQ(opened.status().code(), StatusCode::data_error);
    EXPECT_NE(opened.status().message().find("shard-00001.jsonl"), std::string::npos)
        << opened.status().message();
    // Same size, one byte changed: the XXH3 check names it; without it, reading the pool does.
    bytes[10] = bytes[10] == 'x' ? 'y' : 'x';
    spit(shard, bytes);
    opened = Project::open(f.dir);
    EXPECT_NE(opened.status().message().find("shard-00001.jsonl"), std::string::npos);
    curate::OpenOptions fast;
    fast.verify_shards = false;
    auto unverified = Project::open(f.dir, fast);
    ASSERT_TRUE(unverified.is_ok());
    auto read = (*unverified)->for_each_pair([](int64_t, const data::Record&) { return Status::ok(); });
    EXPECT_EQ(read.code(), StatusCode::data_error);
    EXPECT_NE(read.message().find("shard-00001.jsonl"), std::string::npos) << read.message();
  }
  {
    Fixture f;
    ASSERT_TRUE(f.init());
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((f.dir + "/project.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99)", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    auto opened = Project::open(f.dir);
    EXPECT_EQ(opened.status().code(), StatusCode::unsupported);
    EXPECT_NE(opened.status().message().find("99"), std::string::npos);
    EXPECT_NE(opened.status().message().find("project.db"), std::string::npos);
  }
  {
    Fixture f;
    ASSERT_TRUE(f.init());
    std::filesystem::remove(f.dir + "/project.db-wal");
    std::filesystem::remove(f.dir + "/project.db-shm");
    spit(f.dir + "/project.db", std::string(8192, 'z'));
    auto opened = Project::open(f.dir);
    EXPECT_EQ(opened.status().code(), StatusCode::data_error);
    EXPECT_NE(opened.status().message().find("project.db"), std::string::npos) << opened.status().message();
  }
  {
    Fixture f;
    ASSERT_TRUE(f.init());
    std::filesystem::remove(f.dir + "/project.db-wal");
    std::filesystem::remove(f.dir + "/project.db-shm");
    std::string db = slurp(f.dir + "/project.db");
    spit(f.dir + "/project.db", db.substr(0, db.size() / 3));
    auto opened = Project::open(f.dir);
    EXPECT_FALSE(opened.is_ok());
    EXPECT_NE(opened.status().message().find("project.db"), std::string::npos) << opened.status().message();
  }
}

TEST(CurateProject, StreamingGettersVisitInRowOrderAndStopOnError) {
  Fixture f;
  auto project = f.init();
  ASSERT_TRUE(project);
  auto ids = ids_of(*project);
  ASSERT_TRUE(
      project->add_labels({label(ids[9], "j", 0, 1), label(ids[2], "j", 0, -1), label(ids[2], "j", 1, 0)})
          .is_ok());
  ASSERT_TRUE(project->set_scores("rm@2", {{ids[8], {1, 2}}, {ids[4], {3, 4}}}).is_ok());
  ASSERT_TRUE(project->set_decisions("s", {{ids[6], true, "a"}, {ids[1], false, "b"}}).is_ok());
  std::vector<int64_t> rows;
  auto collect_row = [&](int64_t row, const auto&) {
    rows.push_back(row);
    return Status::ok();
  };
  ASSERT_TRUE(project->for_each_label("silver", collect_row).is_ok());
  EXPECT_EQ(rows, (std::vector<int64_t>{2, 2, 9}));
  rows.clear();
  ASSERT_TRUE(project->for_each_score("rm@2", collect_row).is_ok());
  EXPECT_EQ(rows, (std::vector<int64_t>{4, 8}));
  rows.clear();
  ASSERT_TRUE(project->for_each_decision("s", collect_row).is_ok());
  EXPECT_EQ(rows, (std::vector<int64_t>{1, 6}));
  int visited = 0;
  auto stop = project->for_each_label("", [&](int64_t, const curate::Label&) {
    ++visited;
    return data_error("enough");
  });
  EXPECT_EQ(stop.message(), "enough");
  EXPECT_EQ(visited, 1);
  // The db stays usable after a visit that stopped early.
  EXPECT_TRUE(project->add_labels({label(ids[0], "j", 0, 1)}).is_ok());
}

TEST(CurateProject, RowRangesSplitThePoolForIndependentJobs) {
  Fixture f(30, 7);
  auto project = f.init();
  ASSERT_TRUE(project);
  auto ids = ids_of(*project);
  // Three jobs over [0,10), [10,20), [20,30) see every pair once, in order.
  std::vector<std::string> seen;
  for (int64_t first = 0; first < 30; first += 10) {
    ASSERT_TRUE(project
                    ->for_each_pair_in(first, first + 10,
                                       [&](int64_t row, const data::Record& r) {
                                         EXPECT_EQ(row, static_cast<int64_t>(seen.size()));
                                         seen.push_back(r.id);
                                         return Status::ok();
                                       })
                    .is_ok());
  }
  EXPECT_EQ(seen, ids);
  auto refs = project->pair_refs(12, 100);
  ASSERT_TRUE(refs.is_ok());
  ASSERT_EQ(refs->size(), 18u);
  EXPECT_EQ((*refs)[0].row, 12);
  EXPECT_EQ((*refs)[0].id, ids[12]);
  EXPECT_TRUE(project->pair_refs(40, 50)->empty());
}
