// RM input builder and tokenized shards, on the real Qwen3 and Llama 3.1 tokenizers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "synpref/encode/rm_input.h"
#include "synpref/encode/shard.h"
#include "test_util.h"

using namespace synpref;
using namespace synpref::encode;
using synpref::testing::shared_data;

namespace {

tokenizer::Tokenizer load(const std::string& name) {
  auto tok = tokenizer::load_tokenizer(shared_data("tokenizers/" + name));
  EXPECT_TRUE(tok.is_ok()) << tok.status().message();
  return std::move(tok).value();
}

data::Record pair(std::vector<data::Turn> context, std::string chosen, std::string rejected,
                  std::string id = "r1") {
  data::Record r;
  r.id = std::move(id);
  r.context = std::move(context);
  r.responses.resize(2);
  r.responses[0].content = std::move(chosen);
  r.responses[1].content = std::move(rejected);
  return r;
}

std::vector<int32_t> concat(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  std::vector<int32_t> out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

}  // namespace

TEST(RmInput, Qwen3PrefixPlusSuffixIsExactlyTheFullConversationsIds) {
  auto builder = RmInputBuilder::create(load("qwen3"));
  ASSERT_TRUE(builder.is_ok()) << builder.status().message();
  auto rec =
      pair({{data::Role::system, "Be brief."}, {data::Role::user, "What is 2+2?"}}, "4", "It is five.");
  auto input = builder->build(rec);
  ASSERT_TRUE(input.is_ok()) << input.status().message();
  ASSERT_EQ(input->suffixes.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    auto conv = rec.context;
    conv.push_back({data::Role::assistant, rec.responses[i].content});
    auto full = builder->encode(conv);
    ASSERT_TRUE(full.is_ok());
    EXPECT_EQ(concat(input->prefix, input->suffixes[i]), *full);
  }
  // The Qwen3 template renders the final assistant turn with an empty think block.
  auto text = builder->render({{data::Role::user, "Hi"}, {data::Role::assistant, "Hello"}});
  ASSERT_TRUE(text.is_ok());
  EXPECT_EQ(
      *text,
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello<|im_end|>\n");
  EXPECT_NE(input->prefix.front(), 151643) << "Qwen has no BOS";
}

TEST(RmInput, Llama31HasExactlyOneBosThoughTheTemplateAndTokenizerBothAddOne) {
  auto tok = load("llama3_1");
  ASSERT_TRUE(tok.bos_id().has_value());
  auto builder = RmInputBuilder::create(tok);
  ASSERT_TRUE(builder.is_ok()) << builder.status().message();
  auto text = builder->render({{data::Role::user, "Hi"}, {data::Role::assistant, "Hello"}});
  ASSERT_TRUE(text.is_ok());
  ASSERT_EQ(text->rfind("<|begin_of_text|>", 0), 0u) << "the template writes BOS itself: " << *text;
  // What a naive pipeline gets: render, then encode with special tokens -> two BOS.
  auto naive = tok.encode(*text, true);
  ASSERT_GE(naive.size(), 2u);
  EXPECT_EQ(naive[0], *tok.bos_id());
  EXPECT_EQ(naive[1], *tok.bos_id());
  auto ids = builder->encode({{data::Role::user, "Hi"}, {data::Role::assistant, "Hello"}});
  ASSERT_TRUE(ids.is_ok());
  EXPECT_EQ((*ids)[0], *tok.bos_id());
  EXPECT_NE((*ids)[1], *tok.bos_id());
  EXPECT_EQ(std::vector<int32_t>(ids->begin() + 1, ids->end()),
            std::vector<int32_t>(naive.begin() + 2, naive.end()));
}

TEST(RmInput, TruncationModes) {
  auto tok = load("qwen3");
  std::string long_context;
  for (int i = 0; i < 200; ++i) long_context += "word" + std::to_string(i) + " ";
  auto rec = pair({{data::Role::user, long_context}}, "short answer", "another answer", "long-1");
  RmInputOptions options;
  options.max_length = 100;
  auto err = RmInputBuilder::create(tok, options)->build(rec);
  ASSERT_FALSE(err.is_ok());
  EXPECT_NE(err.status().message().find("record long-1"), std::string::npos) << err.status().message();

  options.truncation = Truncation::skip;
  auto skipped = RmInputBuilder::create(tok, options)->build(rec);
  ASSERT_TRUE(skipped.is_ok());
  EXPECT_TRUE(skipped->skipped);

  options.truncation = Truncation::truncate_left;
  auto full = RmInputBuilder::create(tok, {})->build(rec);
  auto cut = RmInputBuilder::create(tok, options)->build(rec);
  ASSERT_TRUE(cut.is_ok() && full.is_ok());
  EXPECT_FALSE(cut->skipped);
  EXPECT_EQ(cut->longest(), 100u);
  EXPECT_EQ(cut->suffixes, full->suffixes) << "responses and their end tokens are never cut";
  // The kept context is the newest part of the original prefix.
  ASSERT_LE(cut->prefix.size(), full->prefix.size());
  EXPECT_TRUE(std::equal(cut->prefix.begin(), cut->prefix.end(), full->prefix.end() - cut->prefix.size()));
  EXPECT_EQ(cut->truncated_tokens, full->longest() - 100);

  // A response longer than the limit cannot be scored: skipped, never cut.
  auto huge = pair({{data::Role::user, "q"}}, long_context, "b", "huge");
  auto h = RmInputBuilder::create(tok, options)->build(huge);
  ASSERT_TRUE(h.is_ok());
  EXPECT_TRUE(h->skipped);
}

TEST(RmInput, ChatTemplateIsRequired) {
  auto tok = load("llama3");  // tokenizer.model carries no template
  auto b = RmInputBuilder::create(tok);
  ASSERT_FALSE(b.is_ok());
  EXPECT_NE(b.status().message().find("chat_template"), std::string::npos);
}

namespace {

std::string write_shard(const std::string& path, const tokenizer::Tokenizer& tok, int records) {
  auto builder = RmInputBuilder::create(tok);
  auto w = ShardWriter::open(path, tok.fingerprint(), 16384);
  EXPECT_TRUE(w.is_ok());
  for (int i = 0; i < records; ++i) {
    auto rec = pair({{data::Role::user, "Question number " + std::to_string(i) + "?"}},
                    "Yes " + std::to_string(i), "No", "id-" + std::to_string(i));
    auto in = builder->build(rec);
    EXPECT_TRUE(in.is_ok());
    std::vector<float> labels = {1.0f, 0.0f};
    if (i % 2)
      (*w)->add(rec.id, rec.kind, *in, labels, 0.5f * static_cast<float>(i), i % 3 ? "math" : "chat/open");
    else
      (*w)->add(rec.id, rec.kind, *in);
  }
  EXPECT_TRUE((*w)->close().is_ok());
  return path;
}

std::vector<std::string> read_ids(const std::string& path, std::vector<std::string>* problems = nullptr) {
  auto r = ShardReader::open(path);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  std::vector<std::string> ids;
  if (!r.is_ok()) return ids;
  ShardRecord rec;
  while ((*r)->next(rec)) ids.emplace_back(rec.id);
  if (problems) *problems = (*r)->problems();
  return ids;
}

}  // namespace

TEST(Shard, RoundTripKeepsPrefixSuffixesAndLabels) {
  auto tok = load("qwen3");
  auto dir = synpref::testing::temp_dir("shard_rt");
  write_shard(dir + "/a.shard", tok, 10);
  auto builder = RmInputBuilder::create(tok);
  auto r = ShardReader::open(dir + "/a.shard", nullptr);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ((*r)->records_expected(), 10u);
  ShardRecord rec;
  int i = 0;
  while ((*r)->next(rec)) {
    auto expect = builder->build(pair({{data::Role::user, "Question number " + std::to_string(i) + "?"}},
                                      "Yes " + std::to_string(i), "No"));
    EXPECT_EQ(rec.id, "id-" + std::to_string(i));
    EXPECT_EQ(std::vector<int32_t>(rec.prefix.begin(), rec.prefix.end()), expect->prefix);
    ASSERT_EQ(rec.suffixes.size(), 2u);
    EXPECT_EQ(std::vector<int32_t>(rec.suffixes[1].begin(), rec.suffixes[1].end()), expect->suffixes[1]);
    if (i % 2) {
      EXPECT_EQ(rec.labels[0], 1.0f);
      EXPECT_EQ(rec.margin, 0.5f * static_cast<float>(i));
      EXPECT_EQ(rec.task_category, i % 3 ? "math" : "chat/open");
    } else {
      EXPECT_TRUE(std::isnan(rec.labels[0]));
      EXPECT_TRUE(std::isnan(rec.margin));
      EXPECT_TRUE(rec.task_category.empty());
    }
    ++i;
  }
  EXPECT_EQ(i, 10);
  EXPECT_TRUE((*r)->problems().empty());
}

TEST(Shard, CorruptRecordIsReportedAndSkippedTheRestIsRead) {
  auto tok = load("qwen3");
  auto dir = synpref::testing::temp_dir("shard_corrupt");
  std::string path = write_shard(dir + "/a.shard", tok, 10);
  std::string bytes = synpref::testing::slurp(path);
  // Flip a byte inside the 4th record's token ids.
  size_t pos = 64;
  for (int k = 0; k < 3; ++k) {
    uint32_t n;
    std::memcpy(&n, bytes.data() + pos + 4, 4);
    pos += 16 + n;
  }
  bytes[pos + 40] ^= 0x01;
  synpref::testing::spit(path, bytes);
  std::vector<std::string> problems;
  auto ids = read_ids(path, &problems);
  EXPECT_EQ(ids.size(), 9u);
  EXPECT_EQ(std::find(ids.begin(), ids.end(), "id-3"), ids.end());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("checksum mismatch"), std::string::npos) << problems[0];
}

TEST(Shard, TruncatedFileKeepsTheIntactRecordsAndSaysSo) {
  auto tok = load("qwen3");
  auto dir = synpref::testing::temp_dir("shard_trunc");
  std::string path = write_shard(dir + "/a.shard", tok, 10);
  std::string bytes = synpref::testing::slurp(path);
  synpref::testing::spit(path, bytes.substr(0, bytes.size() * 2 / 3));
  std::vector<std::string> problems;
  auto ids = read_ids(path, &problems);
  EXPECT_GE(ids.size(), 5u);
  EXPECT_LT(ids.size(), 10u);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("truncated"), std::string::npos) << problems[0];
}

TEST(Shard, MismatchedTokenizerVersionAndHeaderAreRefusedWithWhatToRerun) {
  auto qwen = load("qwen3");
  auto llama = load("llama3_1");
  auto dir = synpref::testing::temp_dir("shard_fp");
  std::string path = write_shard(dir + "/a.shard", qwen, 2);
  Hash128 other = llama.fingerprint();
  auto r = ShardReader::open(path, &other);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("re-run `synpref data tokenize"), std::string::npos)
      << r.status().message();
  Hash128 same = qwen.fingerprint();
  EXPECT_TRUE(ShardReader::open(path, &same).is_ok());

  std::string bytes = synpref::testing::slurp(path);
  std::string v2 = bytes;
  v2[8] = 1;  // version 1 (no margins): refused, not read with margins silently missing
  synpref::testing::spit(dir + "/v1.shard", v2);
  auto rv = ShardReader::open(dir + "/v1.shard");
  ASSERT_FALSE(rv.is_ok());
  EXPECT_NE(rv.status().message().find("version 1"), std::string::npos) << rv.status().message();

  std::string bad = bytes;
  bad[40] ^= 0x7f;  // inside the checksummed header
  synpref::testing::spit(dir + "/bad.shard", bad);
  EXPECT_FALSE(ShardReader::open(dir + "/bad.shard").is_ok());
  synpref::testing::spit(dir + "/tiny.shard", "SPSHARD1");
  EXPECT_FALSE(ShardReader::open(dir + "/tiny.shard").is_ok());
  synpref::testing::spit(dir + "/junk.shard", std::string(200, 'x'));
  EXPECT_FALSE(ShardReader::open(dir + "/junk.shard").is_ok());
}

TEST(RmInput, AConversationAndItsResponsesBuildLikeTheRecordHoldingThem) {
  auto builder = RmInputBuilder::create(load("llama3_1"));
  ASSERT_TRUE(builder.is_ok()) << builder.status().message();
  auto rec = pair({{data::Role::system, "Be brief."}, {data::Role::user, "2+2?"}}, "4", "5", "p7");
  const std::vector<std::string> responses = {"4", "5"};
  auto from_record = builder->build(rec);
  auto from_item = builder->build(rec.context, responses, "item 7");
  ASSERT_TRUE(from_record.is_ok() && from_item.is_ok());
  EXPECT_EQ(from_item->prefix, from_record->prefix);
  EXPECT_EQ(from_item->suffixes, from_record->suffixes);
  auto none = builder->build(rec.context, {}, "item 8");
  ASSERT_FALSE(none.is_ok());
  EXPECT_EQ(none.status().message(), "item 8: no responses");
}

TEST(RmInput, SettingsErrorsNameTheField) {
  RmInputSettings settings;
  settings.tokenizer_dir = shared_data("tokenizers/qwen3");
  EXPECT_TRUE(open_builder(settings).is_ok());
  auto expect_error = [](const RmInputSettings& s, const std::string& start) {
    auto b = open_builder(s);
    ASSERT_FALSE(b.is_ok()) << start;
    EXPECT_EQ(b.status().message().rfind(start, 0), 0u) << b.status().message();
  };
  RmInputSettings bad = settings;
  bad.truncation = "middle";
  expect_error(bad, "truncation: unknown truncation 'middle'");
  bad = settings;
  bad.date = "yesterday";
  expect_error(bad, "date: ");
  bad = settings;
  bad.max_length = 0;
  expect_error(bad, "max_length must be >= 1");
  bad = settings;
  bad.chat_template_file = "/nonexistent/template.jinja";
  expect_error(bad, "chat_template_file: ");
  bad = settings;
  bad.tokenizer_dir = "";
  expect_error(bad, "tokenizer_dir is required");
  bad.tokenizer_dir = "/nonexistent/tokenizer";
  expect_error(bad, "tokenizer_dir: ");
}

TEST(RmInput, SettingsReachTheBuilder) {
  const std::string dir = synpref::testing::temp_dir("rm_input_settings");
  synpref::testing::spit(dir + "/t.jinja",
                         "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}");
  RmInputSettings settings;
  settings.tokenizer_dir = shared_data("tokenizers/qwen3");
  settings.chat_template_file = dir + "/t.jinja";
  settings.max_length = 77;
  settings.truncation = "truncate-left";
  settings.date = "2025-02-03";
  auto b = open_builder(settings);
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ(b->options().max_length, 77u);
  EXPECT_EQ(b->options().truncation, Truncation::truncate_left);
  ASSERT_TRUE(b->options().date.has_value());
  EXPECT_EQ(b->options().date->day, 3);
  auto text = b->render({{data::Role::user, "Hi"}, {data::Role::assistant, "Yo"}});
  ASSERT_TRUE(text.is_ok()) << text.status().message();
  EXPECT_EQ(*text, "[user] Hi\n[assistant] Yo\n");
}

TEST(RmInput, ExtraTemplateVariablesAreAJsonObject) {
  RmInputOptions options;
  options.chat_template = "{{ greeting }} {{ messages[0].content }}";
  options.extra_json = R"({"greeting": "Hello"})";
  auto b = RmInputBuilder::create(load("qwen3"), options);
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ(*b->render({{data::Role::user, "there"}}), "Hello there");
  options.extra_json = "[1, 2]";
  auto bad = RmInputBuilder::create(load("qwen3"), options);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("extra_json"), std::string::npos);
}

TEST(RmInput, TurnsFromJsonText) {
  auto turns =
      turns_from_json(R"([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])");
  ASSERT_TRUE(turns.is_ok());
  ASSERT_EQ(turns->size(), 2u);
  EXPECT_EQ((*turns)[1].content, "b");
  EXPECT_EQ(turns_from_json("[{").status().message(), "invalid JSON");
  EXPECT_EQ(turns_from_json("{}").status().message(), "expected a JSON list of messages");
}
