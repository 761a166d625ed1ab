// Request bodies of every endpoint -> scoring work, and scores -> response bodies, without HTTP or
// a model: shapes, prefix grouping (exact: prefix + suffix == the whole sequence), each limit as a
// 4xx naming the field, and hostile bodies (truncated, wrong types, deep nesting, invalid UTF-8)
// answered with a 400, never a crash.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "serve/requests.h"
#include "synpref/tokenizer/tokenizer.h"
#include "test_util.h"

using namespace synpref;
using namespace synpref::serve;

namespace {

const encode::RmInputBuilder& builder() {
  static const encode::RmInputBuilder b = [] {
    auto tok = tokenizer::load_tokenizer(synpref::testing::shared_data("tokenizers/qwen3"));
    EXPECT_TRUE(tok.is_ok()) << tok.status().message();
    auto built = encode::RmInputBuilder::create(std::move(tok).value());
    EXPECT_TRUE(built.is_ok()) << built.status().message();
    return std::move(built).value();
  }();
  return b;
}

RequestLimits limits() {
  return {.max_items = 8, .max_request_tokens = 4000, .max_length = 500, .vocab_size = 151669};
}

std::string rendered(const std::string& user, const std::string& answer) {
  return "<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n" + answer + "<|im_end|>\n";
}

// The whole sequence of item i: its group's prefix + its suffix.
std::vector<int32_t> sequence_of(const Work& work, size_t i) {
  const ItemRef& item = work.items[i];
  const Group& g = work.groups[static_cast<size_t>(item.group)];
  std::vector<int32_t> ids = g.prefix;
  ids.insert(ids.end(), g.suffixes[item.response].begin(), g.suffixes[item.response].end());
  return ids;
}

// `n` distinct words: at least n tokens.
std::string many_words(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += " w" + std::to_string(i);
  return text;
}

// Scores where item i of group g response r gets g * 10 + r.
Scores fake_scores(const Work& work) {
  Scores s(work.groups.size());
  for (size_t g = 0; g < work.groups.size(); ++g)
    for (size_t r = 0; r < work.groups[g].suffixes.size(); ++r) s[g].push_back(float(g * 10 + r));
  return s;
}

}  // namespace

TEST(GetReward, QueriesWithOnePromptShareTheirTokenPrefixExactly) {
  const std::vector<std::string> queries = {rendered("What is 2+2?", "4"), rendered("Name a colour.", "Blue"),
                                            rendered("What is 2+2?", "Five, I think."),
                                            rendered("What is 2+2?", "4")};
  const nlohmann::json body = {
      {"query", queries},
      {"prompts", {"What is 2+2?", "Name a colour.", "What is 2+2?", "What is 2+2?"}},
      {"labels", {"4", "blue", "4", "4"}}};
  Work work;
  auto error = parse_get_reward(body.dump(), builder(), limits(), work);
  ASSERT_FALSE(error) << error->message;
  ASSERT_EQ(work.items.size(), 4u);
  ASSERT_EQ(work.groups.size(), 2u);  // one per distinct prompt
  EXPECT_EQ(work.items[0].group, work.items[2].group);
  EXPECT_EQ(work.items[0].group, work.items[3].group);
  EXPECT_FALSE(work.groups[0].prefix.empty());
  for (size_t i = 0; i < queries.size(); ++i)
    EXPECT_EQ(sequence_of(work, i), builder().encode_rendered(queries[i])) << "query " << i;
  const nlohmann::json out = nlohmann::json::parse(render_get_reward(work, fake_scores(work)));
  ASSERT_EQ(out["rewards"].size(), 4u);
  EXPECT_EQ(out["rewards"], out["scores"]);
  EXPECT_EQ(out["rewards"][1].get<float>(), 10.0f);
  EXPECT_EQ(out["rewards"][3].get<float>(), 2.0f);
  EXPECT_EQ(out["extra_logs"]["rm_tokens"].size(), 4u);
}

TEST(GetReward, WithoutPromptsOnlyIdenticalQueriesGroupAndPaddingIsCut) {
  const std::string q = rendered("Hi", "Hello");
  // Qwen3's pad token (<|endoftext|>) is not its EOS: OpenRLHF's batch padding is cut.
  const nlohmann::json body = {{"query", {q, "<|endoftext|><|endoftext|>" + q + "<|endoftext|>"}}};
  Work work;
  auto error = parse_get_reward(body.dump(), builder(), limits(), work);
  ASSERT_FALSE(error) << error->message;
  ASSERT_EQ(work.groups.size(), 2u);
  EXPECT_EQ(sequence_of(work, 0), sequence_of(work, 1));
}

TEST(GetReward, ErrorsNameTheField) {
  struct Case {
    std::string body;
    int status;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"", 400, "not valid JSON"},
      {"[1]", 400, "must be a JSON object"},
      {"{}", 400, "'query' is required"},
      {R"({"query": 5})", 400, "'query' must be a string or a list of strings"},
      {R"({"query": ["a", 7]})", 400, "'query'[1] must be a string"},
      {R"({"query": []})", 400, "'query' is empty"},
      {R"({"query": ["a", "b"], "prompts": ["a"]})", 400,
       "'prompts' must be a list with one entry per query"},
      {R"({"query": [""]})", 400, "query[0] is empty"},
      {R"({"query": ["a","a","a","a","a","a","a","a","a"]})", 413, "max_items"},
      {nlohmann::json{{"query", {many_words(600)}}}.dump(), 413, "max_length"},
  };
  for (const Case& c : cases) {
    Work work;
    auto error = parse_get_reward(c.body, builder(), limits(), work);
    ASSERT_TRUE(error) << c.body.substr(0, 80);
    EXPECT_EQ(error->status, c.status) << c.body << ": " << error->message;
    EXPECT_NE(error->message.find(c.needle), std::string::npos) << c.body << ": " << error->message;
  }
}

TEST(Classify, TextOrIdsAnsweredInKind) {
  Work one;
  ASSERT_FALSE(parse_classify(R"({"text": "hello"})", builder(), limits(), one));
  EXPECT_TRUE(one.single);
  const nlohmann::json single = nlohmann::json::parse(render_classify(one, fake_scores(one)));
  ASSERT_TRUE(single.is_object());
  EXPECT_EQ(single["embedding"], nlohmann::json::array({0.0}));

  Work list;
  ASSERT_FALSE(parse_classify(R"({"text": ["hello", "world"]})", builder(), limits(), list));
  const nlohmann::json many = nlohmann::json::parse(render_classify(list, fake_scores(list)));
  ASSERT_TRUE(many.is_array());
  ASSERT_EQ(many.size(), 2u);
  EXPECT_EQ(many[1]["embedding"], nlohmann::json::array({10.0}));
  EXPECT_EQ(many[1]["index"], 1);

  Work ids;
  ASSERT_FALSE(parse_classify(R"({"input_ids": [[1, 2, 3], [4]]})", builder(), limits(), ids));
  ASSERT_EQ(ids.groups.size(), 2u);
  EXPECT_EQ(ids.groups[0].suffixes[0], (std::vector<int32_t>{1, 2, 3}));

  Work bad;
  auto e = parse_classify(R"({"input_ids": [[1, 151669]]})", builder(), limits(), bad);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("input_ids'[0]"), std::string::npos) << e->message;
  e = parse_classify(R"({"input_ids": [[1, -1]]})", builder(), limits(), bad);
  ASSERT_TRUE(e);
  e = parse_classify(R"({"input_ids": [[1, 2.5]]})", builder(), limits(), bad);
  ASSERT_TRUE(e);
  e = parse_classify(R"({"texts": ["a"]})", builder(), limits(), bad);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("'text'"), std::string::npos) << e->message;
}

TEST(Pooling, OpenAiListShape) {
  Work work;
  ASSERT_FALSE(parse_pooling(R"({"input": ["a b", "c"], "model": "rm"})", builder(), limits(), work));
  const nlohmann::json out = nlohmann::json::parse(render_pooling(work, fake_scores(work), "rm", 7));
  EXPECT_EQ(out["object"], "list");
  EXPECT_EQ(out["model"], "rm");
  ASSERT_EQ(out["data"].size(), 2u);
  EXPECT_EQ(out["data"][1]["object"], "pooling");
  EXPECT_EQ(out["data"][1]["data"], nlohmann::json::array({10.0}));
  EXPECT_EQ(out["usage"]["prompt_tokens"], work.tokens());
  Work ids;
  ASSERT_FALSE(parse_pooling(R"({"input": [5, 6, 7]})", builder(), limits(), ids));
  EXPECT_TRUE(ids.single);
  EXPECT_EQ(ids.groups[0].suffixes[0], (std::vector<int32_t>{5, 6, 7}));
}

TEST(Score, RecordsBecomeOneGroupEachAndSkippedOnesAreReported) {
  RequestLimits l = limits();
  const nlohmann::json body = {
      {"records",
       {{{"id", "p1"}, {"prompt", "What is 2+2?"}, {"chosen", "4"}, {"rejected", "5"}},
        {{"id", "s1"},
         {"kind", "response_set"},
         {"context", {{{"role", "user"}, {"content", "Pick"}}}},
         {"responses", {{{"content", "a"}}, {{"content", "b"}}, {{"content", "c"}}}}}}}};
  Work work;
  auto error = parse_score(body.dump(), builder(), l, work);
  ASSERT_FALSE(error) << error->message;
  ASSERT_EQ(work.groups.size(), 2u);
  EXPECT_EQ(work.groups[1].suffixes.size(), 3u);
  const nlohmann::json out = nlohmann::json::parse(render_score(work, fake_scores(work)));
  ASSERT_EQ(out["results"].size(), 2u);
  EXPECT_EQ(out["results"][0]["id"], "p1");
  EXPECT_EQ(out["results"][1]["scores"], nlohmann::json::array({10.0, 11.0, 12.0}));

  Work conv;
  error = parse_score(
      R"({"conversations": [[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]]})",
      builder(), l, conv);
  ASSERT_FALSE(error) << error->message;
  ASSERT_EQ(conv.groups.size(), 1u);
  auto ids = builder().encode({{data::Role::user, "Hi"}, {data::Role::assistant, "Yo"}});
  ASSERT_TRUE(ids.is_ok());
  EXPECT_EQ(sequence_of(conv, 0), *ids);
}

TEST(Score, ErrorsNameTheRecord) {
  struct Case {
    std::string body;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {R"({"records": {}})", "'records' must be a list"},
      {R"({"records": [{"prompt": "x", "chosen": "y"}]})", "records[0]"},
      {R"({"records": [], "conversations": []})", "either 'records' or 'conversations'"},
      {R"({"conversations": [[{"role": "user", "content": "Hi"}]]})", "conversations[0] must end with"},
      {R"({"conversations": [[{"role": "robot", "content": "Hi"}, {"role": "assistant", "content": "x"}]]})",
       "conversations[0]"},
      {R"({"records": [{"prompt": "x", "chosen": "y", "rejected": "z"}], "format": "nope"})", "'format'"},
  };
  for (const Case& c : cases) {
    Work work;
    auto error = parse_score(c.body, builder(), limits(), work);
    ASSERT_TRUE(error) << c.body;
    EXPECT_EQ(error->status, 400) << c.body;
    EXPECT_NE(error->message.find(c.needle), std::string::npos) << c.body << ": " << error->message;
  }
}

TEST(Requests, HostileBodiesAreCleanErrors) {
  std::vector<std::string> bodies = {"{",
                                     "{\"query\": [\"a\"",
                                     "\xff\xfe{}",
                                     "{\"query\": [\"\xc3\x28\"]}",
                                     "null",
                                     "\"query\"",
                                     std::string(100000, '['),
                                     "{\"text\": {\"a\": 1}}",
                                     "{\"input\": [[1], \"a\"]}",
                                     "{\"input\": [[[1]]]}",
                                     "{\"records\": [1, 2]}",
                                     "{\"conversations\": [1]}",
                                     "{\"query\": [\"a\"], \"prompts\": 3}"};
  for (const std::string& body : bodies) {
    for (auto parse : {parse_get_reward, parse_classify, parse_pooling, parse_score}) {
      Work work;
      auto error = parse(body, builder(), limits(), work);
      ASSERT_TRUE(error) << body.substr(0, 40);
      EXPECT_EQ(error->status, 400) << body.substr(0, 40);
      EXPECT_FALSE(error->message.empty());
    }
  }
}

TEST(Requests, TokenIdsOutsideTheModelsVocabularyAreTheRequestsOwnError) {
  RequestLimits small = limits();
  small.vocab_size = 100;  // a model smaller than its tokenizer
  using Parse = Parsed (*)(std::string_view, const encode::RmInputBuilder&, const RequestLimits&, Work&);
  const std::vector<std::pair<Parse, std::string>> cases = {
      {parse_get_reward, R"({"query": ["hello there"]})"},
      {parse_classify, R"({"text": ["hello there"]})"},
      {parse_pooling, R"({"input": "hello there"})"},
      {parse_score, R"({"records": [{"prompt": "a", "chosen": "b", "rejected": "c"}]})"}};
  for (const auto& [parse, body] : cases) {
    Work work;
    auto error = parse(body, builder(), small, work);
    ASSERT_TRUE(error) << body;
    EXPECT_EQ(error->status, 400);
    EXPECT_NE(error->message.find("outside the model's vocabulary of 100"), std::string::npos)
        << error->message;
  }
}
