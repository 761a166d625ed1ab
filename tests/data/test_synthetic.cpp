// The synthetic verifiable pairs (`synpref data synth`): labels correct by construction (checked
// by an independent verifier that parses the text), label noise, a clean held-out split.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "synpref/data/reader.h"
#include "synpref/data/synthetic.h"
#include "test_util.h"

using namespace synpref;
using namespace synpref::data;
using synpref::testing::TempDir;

namespace {

std::vector<Record> read_all(const std::string& path) {
  ReadOptions ro;
  auto reader = RecordReader::open(path, ro);
  EXPECT_TRUE(reader.is_ok()) << reader.status().message();
  std::vector<Record> out;
  Record rec;
  Reject rej;
  while (true) {
    auto o = (*reader)->next(rec, rej);
    EXPECT_TRUE(o.is_ok());
    if (*o == RecordReader::Outcome::end) break;
    EXPECT_EQ(*o, RecordReader::Outcome::record) << rej.reason;
    out.push_back(rec);
  }
  return out;
}

// The label of a synthetic pair checked by an independent verifier (parsing the text).
bool chosen_is_correct(const Record& r) {
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
    train_keys.insert(content_hash(rec).hex());
  }
  EXPECT_EQ(cats.size(), 5u);
  for (const auto& [c, n] : cats) EXPECT_EQ(n, 120) << c;
  for (const auto& rec : test) {
    EXPECT_TRUE(chosen_is_correct(rec)) << rec.id;
    EXPECT_EQ(rec.split, "test");
    EXPECT_FALSE(train_keys.count(content_hash(rec).hex())) << rec.id << " repeats a training pair";
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
