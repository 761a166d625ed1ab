// Data order, token-budget batching, and loading canonical JSONL through the chat template. (The
// synthetic verifiable pairs are tested in tests/data/test_synthetic.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "synpref/data/reader.h"
#include "test_util.h"
#include "train_test_util.h"

using namespace synpref;
using namespace synpref::train;
using namespace synpref::train::testing;

TEST(DataOrder, EveryEpochIsAPermutationAndThePositionIsTheWholeState) {
  DataOrder order(10, 42, true);
  uint64_t epoch = 0, cursor = 0;
  std::vector<uint32_t> all;
  for (int i = 0; i < 7; ++i) {
    auto b = order.next(3, &epoch, &cursor);
    ASSERT_EQ(b.size(), 3u);
    all.insert(all.end(), b.begin(), b.end());
  }
  EXPECT_EQ(epoch, 2u);
  EXPECT_EQ(cursor, 1u);
  std::vector<uint32_t> e0(all.begin(), all.begin() + 10), e1(all.begin() + 10, all.begin() + 20);
  std::sort(e0.begin(), e0.end());
  std::sort(e1.begin(), e1.end());
  for (uint32_t i = 0; i < 10; ++i) {
    EXPECT_EQ(e0[i], i);
    EXPECT_EQ(e1[i], i);
  }
  EXPECT_NE(std::vector<uint32_t>(all.begin(), all.begin() + 10),
            std::vector<uint32_t>(all.begin() + 10, all.begin() + 20));
  // A fresh order resumed at (epoch 1, cursor 4) continues identically.
  DataOrder resumed(10, 42, true);
  uint64_t e = 1, c = 4;
  auto rest = resumed.next(6, &e, &c);
  EXPECT_EQ(rest, std::vector<uint32_t>(all.begin() + 14, all.begin() + 20));
  DataOrder plain(4, 1, false);
  e = 0, c = 0;
  EXPECT_EQ(plain.next(6, &e, &c), (std::vector<uint32_t>{0, 1, 2, 3, 0, 1}));
}

TEST(Batching, TokenBudgetSplitsInOrderAndLongPairsRunAlone) {
  PairSet s;
  std::vector<int32_t> a(10, 1), b(3, 2), big(100, 3);
  s.add(a, b, b, 0);    // 16 rows shared, 26 unshared
  s.add(a, b, b, 0);    // 16
  s.add(big, b, b, 0);  // 106
  s.add(a, b, b, 0);    // 16
  EXPECT_EQ(s.rows(0, true), 16u);
  EXPECT_EQ(s.rows(0, false), 26u);
  const std::vector<uint32_t> ids = {0, 1, 2, 3};
  auto mbs = split_by_tokens(s, ids, 40, true);
  ASSERT_EQ(mbs.size(), 3u);
  EXPECT_EQ(mbs[0], (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(mbs[1], (std::vector<uint32_t>{2}));
  EXPECT_EQ(mbs[2], (std::vector<uint32_t>{3}));
  EXPECT_EQ(split_by_tokens(s, ids, 40, false).size(), 4u);
}

TEST(LoadPairs, CanonicalJsonlThroughTheQwen3TemplateWithMargins) {
  TempDir tmp;
  const std::string path = tmp.file("pairs.jsonl");
  std::ofstream(path)
      << R"({"id":"a","kind":"pair","context":[{"role":"user","content":"What is 2+2?"}],"chosen":{"content":"4"},"rejected":{"content":"5"},"margin":0.5})"
      << "\n"
      << R"({"id":"b","kind":"response_set","context":[{"role":"user","content":"Hi"}],"responses":[{"content":"a"},{"content":"b"},{"content":"c"}]})"
      << "\n"
      << "not json\n";
  PairLoadReport report;
  PairLoadOptions o;
  auto pairs = load_pairs({path}, synpref::testing::shared_data("tokenizers/qwen3"), o,
                          tmp.file("rejects.jsonl"), &report);
  ASSERT_TRUE(pairs.is_ok()) << pairs.status().message();
  ASSERT_EQ(pairs->size(), 1u);
  EXPECT_EQ(report.response_sets, 1u);
  EXPECT_EQ(report.rejects, 1u);
  const PairView p = pairs->pair(0);
  EXPECT_FLOAT_EQ(p.margin, 0.5f);
  EXPECT_GT(p.prefix.size(), 5u);
  EXPECT_FALSE(p.chosen.empty());
  EXPECT_NE(std::vector<int32_t>(p.chosen.begin(), p.chosen.end()),
            std::vector<int32_t>(p.rejected.begin(), p.rejected.end()));
  // The same file through `synpref data tokenize`: the shard keeps the margin (and category), so
  // training from it sees exactly the pairs and margins of the JSONL.
  auto shard = synpref::testing::run_synpref("data tokenize " + path + " --tokenizer " +
                                             synpref::testing::shared_data("tokenizers/qwen3") + " -o " +
                                             tmp.file("pairs.shard"));
  ASSERT_EQ(shard.exit_code, 0) << shard.err;
  PairLoadReport shard_report;
  auto from_shard = load_pairs({tmp.file("pairs.shard")}, synpref::testing::shared_data("tokenizers/qwen3"),
                               o, "", &shard_report);
  ASSERT_TRUE(from_shard.is_ok()) << from_shard.status().message();
  ASSERT_EQ(from_shard->size(), 1u);
  EXPECT_EQ(shard_report.response_sets, 1u);
  const PairView q = from_shard->pair(0);
  EXPECT_EQ(q.margin, p.margin);
  EXPECT_EQ(std::vector<int32_t>(q.prefix.begin(), q.prefix.end()),
            std::vector<int32_t>(p.prefix.begin(), p.prefix.end()));
  EXPECT_EQ(std::vector<int32_t>(q.rejected.begin(), q.rejected.end()),
            std::vector<int32_t>(p.rejected.begin(), p.rejected.end()));
  // max_length skips what does not fit.
  o.max_length = 5;
  auto none = load_pairs({path}, synpref::testing::shared_data("tokenizers/qwen3"), o, "", &report);
  ASSERT_TRUE(none.is_ok());
  EXPECT_EQ(none->size(), 0u);
  EXPECT_EQ(report.too_long, 1u);
}
