#include <gtest/gtest.h>

#include <filesystem>

#include "synpref/common/io.h"
#include "synpref/data/reader.h"
#include "synpref/data/stream.h"
#include "synpref/data/writer.h"
#include "test_util.h"

using namespace synpref;
using namespace synpref::data;
using synpref::testing::shared_data;
using synpref::testing::source_path;

namespace {

struct ReadAll {
  std::vector<Record> records;
  std::vector<Reject> rejects;
  uint64_t empty_kept = 0;
};

ReadAll read_all(const std::string& path, ReadOptions options = {}) {
  ReadAll out;
  auto reader = RecordReader::open(path, options);
  EXPECT_TRUE(reader.is_ok()) << reader.status().message();
  if (!reader.is_ok()) return out;
  Record record;
  Reject reject;
  for (;;) {
    auto outcome = (*reader)->next(record, reject);
    EXPECT_TRUE(outcome.is_ok()) << outcome.status().message();
    if (!outcome.is_ok() || *outcome == RecordReader::Outcome::end) break;
    if (*outcome == RecordReader::Outcome::record)
      out.records.push_back(record);
    else
      out.rejects.push_back(reject);
  }
  out.empty_kept = (*reader)->empty_responses_kept();
  return out;
}

ReadAll parse_text(const std::string& text, ReadOptions options = {}) {
  auto dir = synpref::testing::temp_dir("reader");
  synpref::testing::spit(dir + "/in.jsonl", text);
  return read_all(dir + "/in.jsonl", options);
}

std::string fixture(const std::string& rel) {
  return source_path("tests/fixtures/data/" + rel);
}

}  // namespace

TEST(Formats, ChatMessageListsSplitIntoSharedContextAndFinalTurns) {
  auto r = read_all(fixture("good/chat.jsonl"));
  ASSERT_EQ(r.records.size(), 2u);
  ASSERT_TRUE(r.rejects.empty());
  const Record& rec = r.records[1];
  EXPECT_EQ(rec.id, "c2");
  EXPECT_EQ(rec.source, "skywork");
  ASSERT_EQ(rec.context.size(), 2u);
  EXPECT_EQ(rec.context[0].role, Role::system);
  EXPECT_EQ(rec.context[1].content, "2+2?");
  EXPECT_EQ(rec.chosen().content, "4");
  EXPECT_EQ(rec.rejected().content, "5");
  ASSERT_TRUE(rec.margin.has_value());
  EXPECT_DOUBLE_EQ(*rec.margin, 1.5);
  EXPECT_EQ(r.records[0].id.rfind("sp-", 0), 0u) << "records without id get a content hash";
}

TEST(Formats, TrlPromptWithStringsAndMessageLists) {
  auto r = read_all(fixture("good/prompt.jsonl"));
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].context[0].role, Role::user);
  EXPECT_EQ(r.records[0].context[0].content, "Capital of France?");
  EXPECT_EQ(r.records[0].chosen().content, "Paris.");
  EXPECT_EQ(r.records[1].id, "7") << "integer ids are kept as strings";
  EXPECT_EQ(r.records[1].rejected().content, "Seven");
}

TEST(Formats, HhTranscripts) {
  auto r = read_all(fixture("good/hh.jsonl"));
  ASSERT_EQ(r.records.size(), 1u);
  ASSERT_EQ(r.records[0].context.size(), 1u);
  EXPECT_EQ(r.records[0].context[0].content, "Hi there");
  EXPECT_EQ(r.records[0].chosen().content, "Hello! How can I help?");
  EXPECT_EQ(r.records[0].rejected().content, "What.");
}

TEST(Formats, HhMultiTurnAndInlineHumanArtifactsKeepEveryByteOfTheResponse) {
  auto r = parse_text(
      R"({"chosen": "\n\nHuman: A?\n\nAssistant: a1\n\nHuman: B?\n\nAssistant: yes.  Human: more?\n\nAssistant: and so on", )"
      R"("rejected": "\n\nHuman: A?\n\nAssistant: a1\n\nHuman: B?\n\nAssistant: no"})"
      "\n");
  ASSERT_EQ(r.records.size(), 1u) << (r.rejects.empty() ? "" : r.rejects[0].reason);
  ASSERT_EQ(r.records[0].context.size(), 3u);
  EXPECT_EQ(r.records[0].context[2].content, "B?");
  EXPECT_EQ(r.records[0].chosen().content, "yes.  Human: more?\n\nAssistant: and so on");
  EXPECT_EQ(r.records[0].rejected().content, "no");
}

TEST(Formats, RmbPairwiseAndBestOfNFromOneJsonArray) {
  auto r = read_all(fixture("good/rmb_pair.json"));
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].id, "p1");
  EXPECT_EQ(r.records[0].kind, RecordKind::pair);
  EXPECT_EQ(r.records[0].chosen().model, "A");
  EXPECT_EQ(r.records[0].attributes.task_category, "Pairwise_set/Helpfulness/Chat");
  EXPECT_EQ(r.records[1].id, "b1");
  EXPECT_EQ(r.records[1].kind, RecordKind::response_set);
  ASSERT_EQ(r.records[1].responses.size(), 3u);
  EXPECT_EQ(r.records[1].responses[0].content, "best");
  EXPECT_EQ(r.records[1].responses[0].rank, 1);
}

TEST(Formats, CanonicalRoundTripIsByteIdentical) {
  std::string original = synpref::testing::slurp(fixture("good/canonical.jsonl"));
  auto r = read_all(fixture("good/canonical.jsonl"));
  ASSERT_EQ(r.records.size(), 2u);
  std::string first;
  for (auto& rec : r.records) append_canonical(first, rec);
  // Our writer's output, read again and written again, must not change by a byte.
  auto again = parse_text(first, {});
  std::string second;
  for (auto& rec : again.records) append_canonical(second, rec);
  EXPECT_EQ(first, second);
  const Record& rec = r.records[0];
  EXPECT_EQ(rec.attributes.annotation_guideline, "check the sum");
  EXPECT_EQ(rec.provenance.source, "human");
  EXPECT_DOUBLE_EQ(rec.provenance.confidence, 0.875);
  EXPECT_EQ(rec.rejected().content, "bad\x01");
  EXPECT_EQ(*rec.rejected().rank, 2);
  EXPECT_EQ(rec.context[1].content, "Q \"quoted\" \\ tab\t ünïcödé 🤖");
}

TEST(Formats, ForcedFormatOverridesDetection) {
  ReadOptions options;
  options.format = Format::canonical;
  auto r = read_all(fixture("good/prompt.jsonl"), options);
  EXPECT_EQ(r.records.size(), 0u);
  ASSERT_EQ(r.rejects.size(), 2u);
  EXPECT_EQ(r.rejects[0].code, "unknown_field");
  EXPECT_FALSE(parse_format("nope").is_ok());
}

// One crafted bad file per validation rule: each holds a good record and then the bad one, which
// must be rejected with its own code and line number while the good one still comes through.
TEST(Validation, EveryRuleHasACraftedFileRejectedWithItsCodeAndLine) {
  const std::vector<std::string> codes = {
      "json", "utf8",       "type",          "missing_field", "unknown_field",  "unknown_format",
      "role", "no_context", "not_assistant", "multi_turn",    "empty_response", "identical_responses",
      "count"};
  for (const auto& code : codes) {
    auto r = read_all(fixture("bad/" + code + ".jsonl"));
    EXPECT_EQ(r.records.size(), 1u) << code;
    ASSERT_EQ(r.rejects.size(), 1u) << code;
    EXPECT_EQ(r.rejects[0].code, code) << r.rejects[0].reason;
    EXPECT_EQ(r.rejects[0].line, 2u) << code;
    EXPECT_FALSE(r.rejects[0].reason.empty());
    EXPECT_NE(r.rejects[0].file.find(code + ".jsonl"), std::string::npos);
  }
}

TEST(Validation, OverLongLinesAreRejectedWithoutStoppingTheFile) {
  ReadOptions options;
  options.max_line_bytes = 1000;
  auto r = read_all(fixture("bad/too_long.jsonl"), options);
  EXPECT_EQ(r.records.size(), 2u);
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].code, "too_long");
  EXPECT_EQ(r.rejects[0].line, 2u);
}

TEST(Validation, ReasonsNameTheFieldAndTheProblem) {
  auto r = parse_text(
      R"({"prompt": 42, "chosen": "a", "rejected": "b"})"
      "\n"
      R"({"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": 5}], "rejected": []})"
      "\n"
      "{\"prompt\": \"caf\xC3\", \"chosen\": \"a\", \"rejected\": \"b\"}\n");
  ASSERT_EQ(r.rejects.size(), 3u);
  EXPECT_EQ(r.rejects[0].reason, "field 'prompt' must be a string or a list of messages, found an integer");
  EXPECT_NE(r.rejects[1].reason.find("chosen[1].content"), std::string::npos) << r.rejects[1].reason;
  EXPECT_NE(r.rejects[2].reason.find("invalid UTF-8 at byte"), std::string::npos) << r.rejects[2].reason;
}

TEST(Validation, EmptyResponsePolicy) {
  const std::string line = R"({"prompt": "Q", "chosen": "", "rejected": "an answer"})"
                           "\n";
  EXPECT_EQ(parse_text(line).rejects.size(), 1u);
  ReadOptions keep;
  keep.empty_responses = EmptyPolicy::keep;
  auto kept = parse_text(line, keep);
  EXPECT_EQ(kept.records.size(), 1u);
  EXPECT_EQ(kept.empty_kept, 1u);
  // hh transcripts: an explicit empty final Assistant turn is a labelled outcome, kept by default.
  auto hh =
      parse_text(R"({"chosen": "\n\nHuman: Q\n\nAssistant: ", "rejected": "\n\nHuman: Q\n\nAssistant: A"})"
                 "\n");
  EXPECT_EQ(hh.records.size(), 1u);
  EXPECT_EQ(hh.empty_kept, 1u);
  ReadOptions reject;
  reject.empty_responses = EmptyPolicy::reject;
  EXPECT_EQ(
      parse_text(R"({"chosen": "\n\nHuman: Q\n\nAssistant: ", "rejected": "\n\nHuman: Q\n\nAssistant: A"})"
                 "\n",
                 reject)
          .rejects.size(),
      1u);
}

TEST(Validation, JsonArrayFilesRejectOneBadElementAndReportItsLine) {
  auto r = parse_text(
      "[\n  {\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"},\n  {\"prompt\": },\n"
      "  {\"prompt\": \"q2\", \"chosen\": \"a\", \"rejected\": \"c\"}\n]\n");
  EXPECT_EQ(r.records.size(), 2u);
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].line, 3u);
  EXPECT_EQ(r.rejects[0].code, "json");
}

TEST(Validation, UnterminatedJsonArrayIsAFileError) {
  auto dir = synpref::testing::temp_dir("reader_arr");
  synpref::testing::spit(dir + "/a.json",
                         "[{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}, {\"prompt\": \"x");
  auto reader = RecordReader::open(dir + "/a.json", {});
  ASSERT_TRUE(reader.is_ok());
  Record rec;
  Reject rej;
  auto first = (*reader)->next(rec, rej);
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(*first, RecordReader::Outcome::record);
  auto second = (*reader)->next(rec, rej);
  ASSERT_FALSE(second.is_ok());
  EXPECT_NE(second.status().message().find("a.json"), std::string::npos);
}

TEST(Ids, StableContentHashIgnoresSurroundingWhitespaceButNotContent) {
  auto a = parse_text(R"({"prompt": "Q", "chosen": "yes", "rejected": "no"})"
                      "\n");
  auto b = parse_text(R"({"prompt": " Q\r\n", "chosen": "yes ", "rejected": "no"})"
                      "\n");
  auto c = parse_text(R"({"prompt": "Q", "chosen": "no", "rejected": "yes"})"
                      "\n");
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].id, b.records[0].id);
  EXPECT_NE(a.records[0].id, c.records[0].id) << "swapping chosen and rejected is a different pair";
  EXPECT_EQ(a.records[0].id, "sp-" + content_hash(a.records[0]).hex());
}

TEST(Compressed, GzipAndZstdInputsReadTransparently) {
  std::string plain = synpref::testing::slurp(fixture("good/chat.jsonl"));
  auto dir = synpref::testing::temp_dir("reader_z");
  for (const char* ext : {".gz", ".zst"}) {
    auto w = io::Writer::open(dir + "/chat.jsonl" + std::string(ext));
    ASSERT_TRUE(w.is_ok());
    (*w)->append(plain);
    ASSERT_TRUE((*w)->close().is_ok());
    auto r = read_all(dir + "/chat.jsonl" + std::string(ext));
    EXPECT_EQ(r.records.size(), 2u) << ext;
  }
}

TEST(RealData, HhRlhfHarmlessTestConvertsAll2312PairsWithoutRejects) {
  auto r = read_all(shared_data("hh-rlhf/harmless-base/test.jsonl.gz"));
  EXPECT_EQ(r.records.size(), 2312u);
  EXPECT_EQ(r.rejects.size(), 0u);
  EXPECT_EQ(r.empty_kept, 4u);
  for (const auto& rec : r.records) {
    ASSERT_FALSE(rec.context.empty());
    EXPECT_EQ(rec.context.back().role, Role::user);
  }
}

TEST(RealData, EveryRmbFileConvertsAndOnlyTrulyIdenticalPairsAreRejected) {
  uint64_t files = 0, records = 0, identical = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(shared_data("rmb/RMB_dataset"))) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    auto r = read_all(entry.path().string());
    ++files;
    records += r.records.size();
    for (const auto& rej : r.rejects) {
      // RMB's released pairwise files hold a few pairs whose two answers are the same text.
      EXPECT_EQ(rej.code, "identical_responses") << entry.path() << ":" << rej.line << ": " << rej.reason;
      ++identical;
    }
    EXPECT_GT(r.records.size(), 0u) << entry.path();
  }
  EXPECT_GE(files, 21u);
  EXPECT_GT(records, 2000u);
  EXPECT_EQ(identical, 6u);
}

TEST(Stream, StrictStopsAtTheFirstBadRecordNamingFileAndLine) {
  StreamOptions options;
  options.strict = true;
  options.progress = false;
  auto stream = RecordStream::open({fixture("bad/role.jsonl")}, options);
  ASSERT_TRUE(stream.is_ok());
  Record rec;
  auto first = (*stream)->next(rec);
  ASSERT_TRUE(first.is_ok());
  auto second = (*stream)->next(rec);
  ASSERT_FALSE(second.is_ok());
  EXPECT_NE(second.status().message().find("role.jsonl:2"), std::string::npos) << second.status().message();
}

TEST(Stream, RejectsFileListsFileLineCodeReasonAndRaw) {
  auto dir = synpref::testing::temp_dir("stream");
  StreamOptions options;
  options.progress = false;
  options.rejects_path = dir + "/rejects.jsonl";
  auto stream = RecordStream::open(
      {fixture("bad/identical_responses.jsonl"), fixture("bad/no_context.jsonl")}, options);
  ASSERT_TRUE(stream.is_ok());
  Record rec;
  int n = 0;
  while (*(*stream)->next(rec)) ++n;
  ASSERT_TRUE((*stream)->close().is_ok());
  EXPECT_EQ(n, 2);
  EXPECT_EQ((*stream)->counters().rejects, 2u);
  std::string rejects = synpref::testing::slurp(dir + "/rejects.jsonl");
  EXPECT_EQ(synpref::testing::count_lines(rejects), 2u);
  EXPECT_NE(rejects.find("\"code\":\"identical_responses\""), std::string::npos);
  EXPECT_NE(rejects.find("\"line\":2"), std::string::npos);
  EXPECT_NE(rejects.find("no_context.jsonl"), std::string::npos);
  EXPECT_NE(rejects.find("\"raw\":"), std::string::npos);
}

TEST(Compressed, AUtf8ByteOrderMarkIsAcceptedInJsonlAndArraysPlainAndCompressed) {
  const std::string bom = "\xef\xbb\xbf";
  const std::string jsonl = R"({"prompt": "Q", "chosen": "yes", "rejected": "no"})"
                            "\n"
                            R"({"prompt": "R", "chosen": "yes", "rejected": "no"})"
                            "\n";
  const std::string array =
      " ["
      R"({"prompt": "Q", "chosen": "yes", "rejected": "no"},)"
      "\n"
      R"({"prompt": "R", "chosen": "yes", "rejected": "no"}])";
  auto dir = synpref::testing::temp_dir("reader_bom");
  for (const auto& [name, body] : {std::pair{"bom.jsonl", jsonl}, std::pair{"bom.json", array}}) {
    for (const char* ext : {"", ".gz", ".zst"}) {
      const std::string path = dir + "/" + name + ext;
      auto w = io::Writer::open(path);
      ASSERT_TRUE(w.is_ok());
      (*w)->append(bom + body);
      ASSERT_TRUE((*w)->close().is_ok());
      auto r = read_all(path);
      EXPECT_EQ(r.records.size(), 2u) << path;
      EXPECT_TRUE(r.rejects.empty()) << path << ": " << (r.rejects.empty() ? "" : r.rejects[0].reason);
      if (!r.records.empty()) {
        EXPECT_EQ(r.records[0].context[0].content, "Q") << path;
      }
    }
  }
}

TEST(Stream, NoUsableRecordIsAnErrorSayingHowManyWereRejectedAndWhere) {
  auto dir = synpref::testing::temp_dir("stream_usable");
  synpref::testing::spit(dir + "/all_bad.jsonl",
                         "{\"question\": \"q\", \"answer\": \"a\"}\n{\"prompt\": \"q\", \"chosen\": 1}\n");
  synpref::testing::spit(dir + "/empty.jsonl", "\n");
  StreamOptions options;
  options.progress = false;
  options.rejects_path = dir + "/rejects.jsonl";
  auto stream = RecordStream::open({dir + "/all_bad.jsonl"}, options);
  ASSERT_TRUE(stream.is_ok());
  Record rec;
  while (*(*stream)->next(rec)) {
  }
  ASSERT_TRUE((*stream)->close().is_ok());
  Status usable = (*stream)->check_usable();
  ASSERT_FALSE(usable.is_ok());
  EXPECT_NE(usable.message().find("all_bad.jsonl"), std::string::npos) << usable.message();
  EXPECT_NE(usable.message().find("all 2 were rejected"), std::string::npos) << usable.message();
  EXPECT_NE(usable.message().find(dir + "/rejects.jsonl"), std::string::npos) << usable.message();
  EXPECT_EQ(synpref::testing::count_lines(synpref::testing::slurp(dir + "/rejects.jsonl")), 2u);

  auto empty = RecordStream::open({dir + "/empty.jsonl"}, options);
  ASSERT_TRUE(empty.is_ok());
  EXPECT_FALSE(*(*empty)->next(rec));
  ASSERT_TRUE((*empty)->close().is_ok());
  EXPECT_FALSE((*empty)->check_usable().is_ok());
}

TEST(OutputFormats, TrlAndOpenRlhfLinesReadBackToTheSamePairs) {
  // Pairs from every source format, with a system turn, multi-turn context and a margin.
  std::vector<Record> originals;
  for (const char* f : {"good/chat.jsonl", "good/prompt.jsonl", "good/hh.jsonl", "good/canonical.jsonl"}) {
    for (auto& r : read_all(fixture(f)).records)
      if (r.kind == RecordKind::pair) originals.push_back(r);
  }
  ASSERT_GE(originals.size(), 6u);
  originals[0].margin = 1.5;
  for (OutputFormat format : {OutputFormat::trl, OutputFormat::openrlhf}) {
    std::string text;
    for (const auto& r : originals) ASSERT_TRUE(append_record(text, r, format).is_ok());
    auto back = parse_text(text);
    ASSERT_EQ(back.records.size(), originals.size()) << output_format_name(format);
    EXPECT_TRUE(back.rejects.empty());
    for (size_t i = 0; i < originals.size(); ++i) {
      const Record &a = originals[i], &b = back.records[i];
      ASSERT_EQ(a.context.size(), b.context.size()) << i;
      for (size_t t = 0; t < a.context.size(); ++t) {
        EXPECT_EQ(a.context[t].role, b.context[t].role) << i;
        EXPECT_EQ(a.context[t].content, b.context[t].content) << i;
      }
      EXPECT_EQ(a.chosen().content, b.chosen().content) << i;
      EXPECT_EQ(a.rejected().content, b.rejected().content) << i;
      EXPECT_EQ(a.margin, b.margin) << i;
      EXPECT_EQ(content_hash(a), content_hash(b)) << i;
    }
  }
  // A response set has no place in a pairs format: an error, never a silent drop.
  Record set;
  set.id = "bon-1";
  set.kind = RecordKind::response_set;
  set.context.push_back({Role::user, "Q"});
  set.responses.resize(3);
  std::string out;
  Status st = append_record(out, set, OutputFormat::trl);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("bon-1"), std::string::npos) << st.message();
}
