// Parallel, in-order building: the consumer sees records in input order with the inputs a single
// thread builds, whatever the thread count and batch size; a failing record is located and stops
// the run exactly there.
#include <gtest/gtest.h>

#include "synpref/encode/ordered_build.h"
#include "test_util.h"

using namespace synpref;
using namespace synpref::encode;
using synpref::testing::shared_data;

namespace {

RmInputBuilder qwen_builder(RmInputOptions options = {}) {
  auto tok = tokenizer::load_tokenizer(shared_data("tokenizers/qwen3"));
  EXPECT_TRUE(tok.is_ok()) << tok.status().message();
  auto builder = RmInputBuilder::create(std::move(tok).value(), std::move(options));
  EXPECT_TRUE(builder.is_ok()) << builder.status().message();
  return std::move(builder).value();
}

// Records of very different lengths, so threads finish out of order.
std::vector<data::Record> records(int n) {
  std::vector<data::Record> out;
  for (int i = 0; i < n; ++i) {
    data::Record r;
    r.id = "r" + std::to_string(i);
    std::string question = "Question " + std::to_string(i) + ":";
    for (int w = 0; w < (i * 37) % 90; ++w) question += " word" + std::to_string(w);
    r.context = {{data::Role::user, question}};
    r.responses.resize(2);
    r.responses[0].content = "Answer " + std::to_string(i);
    r.responses[1].content = "No " + std::to_string(i * 7);
    r.kind = i % 5 == 4 ? data::RecordKind::response_set : data::RecordKind::pair;
    out.push_back(std::move(r));
  }
  return out;
}

OrderedBuilder::Next from(const std::vector<data::Record>& input, const std::string& file = "in.jsonl") {
  auto pos = std::make_shared<size_t>(0);
  return [&input, pos, file](data::Record& record, Origin& origin) -> Result<bool> {
    if (*pos == input.size()) return false;
    record = input[*pos];
    origin.file = file;
    origin.line = *pos + 1;
    ++*pos;
    return true;
  };
}

}  // namespace

TEST(OrderedBuild, OrderAndInputsDoNotDependOnThreadsOrBatchSize) {
  const RmInputBuilder builder = qwen_builder();
  const auto input = records(97);
  std::vector<RmInput> expected;
  for (const auto& r : input) expected.push_back(*builder.build(r));

  for (int threads : {1, 3, 8}) {
    for (size_t batch : {1, 7, 512}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", batch " + std::to_string(batch));
      OrderedBuilder ordered(builder, {.n_threads = threads, .batch_records = batch});
      size_t seen = 0;
      Status st = ordered.run(from(input), [&](BuiltRecord& b) -> Status {
        EXPECT_EQ(b.index, seen);
        EXPECT_EQ(b.record.id, input[seen].id);
        EXPECT_EQ(b.origin.line, seen + 1);
        EXPECT_TRUE(b.input.has_value());
        EXPECT_EQ(b.input->prefix, expected[seen].prefix);
        EXPECT_EQ(b.input->suffixes, expected[seen].suffixes);
        ++seen;
        return Status::ok();
      });
      ASSERT_TRUE(st.is_ok()) << st.message();
      EXPECT_EQ(seen, input.size());
    }
  }
}

TEST(OrderedBuild, WantedFilterLeavesOtherRecordsUnbuiltButInOrder) {
  const RmInputBuilder builder = qwen_builder();
  const auto input = records(23);
  OrderedBuilder ordered(builder, {.n_threads = 4, .batch_records = 5});
  std::vector<std::string> ids;
  Status st = ordered.run(
      from(input),
      [&](BuiltRecord& b) -> Status {
        EXPECT_EQ(b.input.has_value(), b.record.kind == data::RecordKind::pair) << b.record.id;
        ids.push_back(b.record.id);
        return Status::ok();
      },
      [](const data::Record& r) { return r.kind == data::RecordKind::pair; });
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_EQ(ids.size(), input.size());
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], input[i].id);
}

TEST(OrderedBuild, AFailingRecordIsLocatedAndStopsTheRunThere) {
  RmInputOptions options;
  options.max_length = 60;  // truncation = error: the long records fail
  const RmInputBuilder builder = qwen_builder(options);
  auto input = records(40);
  // Record 13 (line 14) is the first over the limit; several later ones fail too.
  for (auto& r : input) r.context[0].content = "short";
  std::string long_question;
  for (int w = 0; w < 200; ++w) long_question += " word" + std::to_string(w);
  for (size_t i : {13, 14, 30}) input[i].context[0].content = long_question;
  for (int threads : {1, 6}) {
    OrderedBuilder ordered(builder, {.n_threads = threads, .batch_records = 8});
    std::vector<uint64_t> consumed;
    Status st = ordered.run(from(input, "data.jsonl"), [&](BuiltRecord& b) -> Status {
      consumed.push_back(b.index);
      return Status::ok();
    });
    ASSERT_FALSE(st.is_ok());
    EXPECT_NE(st.message().find("data.jsonl:14: record r13: "), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("over the maximum of 60"), std::string::npos) << st.message();
    ASSERT_EQ(consumed.size(), 13u) << "every record before the failure, none after";
    for (uint64_t i = 0; i < 13; ++i) EXPECT_EQ(consumed[i], i);
  }
}

TEST(OrderedBuild, ReaderAndConsumerErrorsStopTheRunAsTheyAre) {
  const RmInputBuilder builder = qwen_builder();
  const auto input = records(10);
  OrderedBuilder ordered(builder, {.n_threads = 2, .batch_records = 3});
  auto base = from(input);
  size_t reads = 0;
  Status st = ordered.run(
      [&](data::Record& r, Origin& o) -> Result<bool> {
        if (++reads == 6) return io_error("in.jsonl: disk on fire");
        return base(r, o);
      },
      [](BuiltRecord&) { return Status::ok(); });
  EXPECT_EQ(st.message(), "in.jsonl: disk on fire");
  size_t consumed = 0;
  st = ordered.run(from(input), [&](BuiltRecord& b) -> Status {
    if (++consumed == 4) return data_error("sink full at " + b.record.id);
    return Status::ok();
  });
  EXPECT_EQ(st.message(), "sink full at r3");
  EXPECT_EQ(consumed, 4u);
}

TEST(OrderedBuild, OriginDescribesWhatIsKnown) {
  EXPECT_EQ((Origin{"a.jsonl", 7}.describe(3)), "a.jsonl:7");
  EXPECT_EQ((Origin{"a.jsonl", 0}.describe(3)), "a.jsonl, record 4");
  EXPECT_EQ((Origin{"", 0}.describe(3)), "record 4");
}
