// Data order, token-budget batching, loading canonical JSONL through the chat template, and the
// synthetic verifiable pairs (labels correct by construction, noise, clean held-out split).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "synpref/data/reader.h"
#include "synpref/train/synth.h"
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

namespace {

std::vector<data::Record> read_all(const std::string& path) {
  data::ReadOptions ro;
  auto reader = data::RecordReader::open(path, ro);
  EXPECT_TRUE(reader.is_ok()) << reader.status().message();
  std::vector<data::Record> out;
  data::Record rec;
  data::Reject rej;
  while (true) {
    auto o = (*reader)->next(rec, rej);
    EXPECT_TRUE(o.is_ok());
    if (*o == data::RecordReader::Outcome::end) break;
    EXPECT_EQ(*o, data::RecordReader::Outcome::record) << rej.reason;
    out.push_back(rec);
  }
  return out;
}

// The label of a synthetic pair checked by an independent verifier (parsing the text).
bool chosen_is_correct(const data::Record& r) {
  const std::string& prompt = r.context.back().content;
  const std::string& c = r.responses[0].content;
  const std::string& x = r.responses[1].content;
  const std::string& cat = r.attributes.task_category;
  std::smatch m;
  if (cat == "math") {
    EXPECT_TRUE(std::regex_search(prompt, m, std::regex(R"((\d+) ([+-]) (\d+))"))) << prompt;
    const long a = std::stol(m[1]), b = std::stol(m[3]);
    const long want = m[2] == "+" ? a + b : a - b;
    auto value = [](const std::string& s) {
      std::smatch mm;
      std::regex_search(s, mm, std::regex(R"(= (-?\d+)\.)"));
      return std::stol(mm[1]);
    };
    return value(c) == want && value(x) != want;
  }
  if (cat == "comparison") {
    EXPECT_TRUE(std::regex_search(prompt, m, std::regex(R"((\d+) or (\d+))")));
    const long a = std::stol(m[1]), b = std::stol(m[2]);
    return std::stol(c) == std::max(a, b) && std::stol(x) == std::min(a, b);
  }
  if (cat == "sorting") {
    auto nums = [](const std::string& s) {
      static const std::regex number(R"(\d+)");
      std::vector<long> v;
      for (std::sregex_iterator it(s.begin(), s.end(), number), end; it != end; ++it)
        v.push_back(std::stol(it->str()));
      return v;
    };
    auto given = nums(prompt.substr(prompt.find(':'))), vc = nums(c), vx = nums(x);
    std::sort(given.begin(), given.end());
    return vc == given && vx != given && std::is_permutation(vx.begin(), vx.end(), given.begin());
  }
  if (cat == "safety") {
    const bool harmful =
        prompt.find("bomb") != std::string::npos || prompt.find("poison") != std::string::npos ||
        prompt.find("steal") != std::string::npos || prompt.find("ransomware") != std::string::npos ||
        prompt.find("stalk") != std::string::npos || prompt.find("fake passport") != std::string::npos ||
        prompt.find("untraceable") != std::string::npos || prompt.find("launder") != std::string::npos ||
        prompt.find("hack") != std::string::npos || prompt.find("bioweapon") != std::string::npos ||
        prompt.find("hurt someone") != std::string::npos ||
        prompt.find("cheat elderly") != std::string::npos || prompt.find("virus") != std::string::npos ||
        prompt.find("stolen personal") != std::string::npos ||
        prompt.find("methamphetamine") != std::string::npos;
    const bool c_refuses = c.rfind("Sure!", 0) != 0, x_refuses = x.rfind("Sure!", 0) != 0;
    return harmful ? (c_refuses && !x_refuses) : (!c_refuses && x_refuses);
  }
  if (cat == "instruction_following") {
    if (std::regex_search(prompt, m, std::regex(R"(only uppercase letters)"))) {
      auto all_upper = [](const std::string& s) {
        return std::none_of(s.begin(), s.end(),
                            [](char ch) { return std::islower(static_cast<unsigned char>(ch)); });
      };
      return all_upper(c) && !all_upper(x);
    }
    if (std::regex_search(prompt, m, std::regex(R"(List exactly (\d+))"))) {
      auto items = [](const std::string& s) { return 1 + std::count(s.begin(), s.end(), ','); };
      return items(c) == std::stol(m[1]) && items(x) != std::stol(m[1]);
    }
    if (std::regex_search(prompt, m, std::regex(R"(is (\d+) an even number)"))) {
      const std::string want = std::stol(m[1]) % 2 == 0 ? "yes" : "no";
      return c == want && x != want;
    }
    if (std::regex_search(prompt, m, std::regex(R"(key \"(\w+)\" has the value (\d+))"))) {
      const std::string want = "{\"" + m[1].str() + "\": " + m[2].str() + "}";
      return c == want && x != want;
    }
    if (std::regex_search(prompt, m, std::regex(R"(starts with the word \"(\w+)\")"))) {
      return c.rfind(m[1].str() + " ", 0) == 0 && x.rfind(m[1].str() + " ", 0) != 0;
    }
    ADD_FAILURE() << "unrecognized instruction: " << prompt;
  }
  return false;
}

}  // namespace

TEST(Synth, LabelsAreCorrectByConstructionAndAttributesFilled) {
  TempDir tmp;
  SynthOptions o;
  o.train_pairs = 600;
  o.test_pairs = 200;
  auto r = write_synth(o, tmp.file("train.jsonl"), tmp.file("test.jsonl"), tmp.file("flipped.txt"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->flipped, 0u);
  const auto train = read_all(tmp.file("train.jsonl"));
  const auto test = read_all(tmp.file("test.jsonl"));
  ASSERT_EQ(train.size(), 600u);
  ASSERT_EQ(test.size(), 200u);
  std::map<std::string, int> cats;
  std::set<std::string> train_keys;
  for (const auto& rec : train) {
    EXPECT_TRUE(chosen_is_correct(rec)) << rec.id << ": " << rec.context.back().content << " | "
                                        << rec.responses[0].content << " | " << rec.responses[1].content;
    EXPECT_FALSE(rec.attributes.objectivity.empty());
    EXPECT_FALSE(rec.attributes.controversiality.empty());
    EXPECT_EQ(rec.split, "train");
    ++cats[rec.attributes.task_category];
    train_keys.insert(data::content_hash(rec).hex());
  }
  EXPECT_EQ(cats.size(), 5u);
  for (const auto& [c, n] : cats) EXPECT_EQ(n, 120) << c;
  for (const auto& rec : test) {
    EXPECT_TRUE(chosen_is_correct(rec)) << rec.id;
    EXPECT_EQ(rec.split, "test");
    EXPECT_FALSE(train_keys.count(data::content_hash(rec).hex())) << rec.id << " repeats a training pair";
  }
  // Deterministic: the same options give the same bytes.
  ASSERT_TRUE(write_synth(o, tmp.file("again.jsonl"), tmp.file("again_test.jsonl"), "").is_ok());
  EXPECT_EQ(synpref::testing::slurp(tmp.file("train.jsonl")),
            synpref::testing::slurp(tmp.file("again.jsonl")));
}

TEST(Synth, UniformAndConcentratedNoiseFlipTheRightPairs) {
  TempDir tmp;
  SynthOptions o;
  o.train_pairs = 2000;
  o.test_pairs = 100;
  o.noise = 0.4;
  auto r = write_synth(o, tmp.file("u.jsonl"), tmp.file("u_test.jsonl"), tmp.file("u_flipped.txt"));
  ASSERT_TRUE(r.is_ok());
  EXPECT_NEAR(static_cast<double>(r->flipped) / 2000.0, 0.4, 0.04);
  const auto train = read_all(tmp.file("u.jsonl"));
  std::set<std::string> flipped;
  {
    std::ifstream in(tmp.file("u_flipped.txt"));
    for (std::string line; std::getline(in, line);) flipped.insert(line);
  }
  EXPECT_EQ(flipped.size(), r->flipped);
  for (const auto& rec : train) EXPECT_EQ(chosen_is_correct(rec), !flipped.count(rec.id)) << rec.id;
  for (const auto& rec : read_all(tmp.file("u_test.jsonl")))
    EXPECT_TRUE(chosen_is_correct(rec)) << "test split must be clean";

  o.noise = 0.2;
  o.noise_categories = {"math", "safety"};
  auto rc = write_synth(o, tmp.file("c.jsonl"), tmp.file("c_test.jsonl"), "");
  ASSERT_TRUE(rc.is_ok());
  EXPECT_NEAR(static_cast<double>(rc->flipped) / 2000.0, 0.2, 0.03);
  for (const auto& rec : read_all(tmp.file("c.jsonl"))) {
    const auto& cat = rec.attributes.task_category;
    if (cat != "math" && cat != "safety") {
      EXPECT_TRUE(chosen_is_correct(rec)) << "noise outside its categories: " << rec.id;
    }
  }
  o.noise = 0.9;
  EXPECT_FALSE(write_synth(o, tmp.file("x.jsonl"), tmp.file("x_test.jsonl"), "").is_ok())
      << "0.9 cannot fit in 2 of 5 categories";
  o.noise_categories = {"poetry"};
  EXPECT_FALSE(write_synth(o, tmp.file("x.jsonl"), tmp.file("x_test.jsonl"), "").is_ok());
}
