#include <gtest/gtest.h>

#include <random>
#include <set>

#include "synpref/data/ops.h"

using namespace synpref;
using namespace synpref::data;

TEST(KeySet, InsertsAndFindsAcrossGrowth) {
  KeySet set(16);
  std::mt19937_64 rng(3);
  std::vector<Hash128> keys;
  for (int i = 0; i < 100000; ++i) keys.push_back({rng(), rng()});
  for (auto& k : keys) EXPECT_TRUE(set.insert(k));
  for (auto& k : keys) EXPECT_FALSE(set.insert(k));
  EXPECT_EQ(set.size(), keys.size());
  EXPECT_TRUE(set.contains(keys[123]));
  EXPECT_FALSE(set.contains({1234567, 7654321}));
  // The all-zero key is a legal key too.
  EXPECT_TRUE(set.insert({0, 0}));
  EXPECT_FALSE(set.insert({0, 0}));
}

TEST(Ngrams, WordsAreCaseInsensitiveAndPunctuationSeparated) {
  std::vector<uint64_t> a, b;
  word_hashes("Hello, WORLD! it's 42", a);
  word_hashes("hello world it s 42", b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 5u);
}

TEST(Ngrams, ThirteenGramOverlapIsFoundAndTwelveIsNot) {
  NgramIndex index(13);
  std::string prompt = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen";
  index.add(prompt, "bench:1");
  ASSERT_NE(
      index.find("Prefix text. ONE two three four five six seven eight nine ten eleven twelve thirteen!"),
      nullptr);
  EXPECT_EQ(*index.find("two three four five six seven eight nine ten eleven twelve thirteen fourteen"),
            "bench:1");
  EXPECT_EQ(index.find("one two three four five six seven eight nine ten eleven twelve"), nullptr);
  EXPECT_EQ(index.find("one two three four five six seven eight nine ten eleven twelve fourteen"), nullptr);
}

TEST(UnitHash, DeterministicUniformAndSeedDependent) {
  double sum = 0;
  int below_tenth = 0;
  for (int i = 0; i < 100000; ++i) {
    double u = unit_hash("id-" + std::to_string(i), 0);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    below_tenth += u < 0.1;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.01);
  EXPECT_NEAR(below_tenth / 100000.0, 0.1, 0.005);
  EXPECT_EQ(unit_hash("x", 1), unit_hash("x", 1));
  EXPECT_NE(unit_hash("x", 1), unit_hash("x", 2));
}

TEST(Stats, CountsAndHistogramsAreExact) {
  Stats stats;
  Record r;
  r.kind = RecordKind::pair;
  r.context = {{Role::user, "12345678"}};
  r.responses.resize(2);
  r.responses[0].content = "abc";
  r.responses[1].content = "abcdefghijklmnop";
  r.source = "s1";
  r.attributes.task_category = "math";
  stats.add(r);
  r.source = "s2";
  r.attributes.task_category = "";
  stats.add(r);
  EXPECT_EQ(stats.records(), 2u);
  std::string json = stats.to_json();
  EXPECT_NE(json.find("\"by_source\":{\"s1\":1,\"s2\":1}"), std::string::npos) << json;
  EXPECT_NE(json.find("\"task_category\":{\"(empty)\":1,\"math\":1}"), std::string::npos) << json;
  EXPECT_NE(json.find("\"chosen_bytes\":{\"count\":2,\"mean\":3.00,\"min\":3"), std::string::npos) << json;
  Stats::Histogram h;
  for (uint64_t v : {0, 1, 2, 3, 4, 100}) h.add(v);
  EXPECT_EQ(h.buckets[0], 1u);
  EXPECT_EQ(h.buckets[2], 2u);  // 2, 3
  EXPECT_EQ(h.quantile(1.0), 100u);
}
