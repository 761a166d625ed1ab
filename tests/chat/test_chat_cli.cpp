// Black-box: `synpref tokenize --chat FILE.json [--render]` on the real Qwen3 and Llama 3.1 folders.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "synpref/encode/rm_input.h"
#include "test_util.h"

using namespace synpref::testing;

namespace {
const char* kChat =
    R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Ünïcode \"quotes\"\n2+2?"},)"
    R"({"role":"assistant","content":"4"}])";
}

TEST(TokenizeChatCli, RenderPrintsTheTemplateTextByteForByteAndIdsAreItsEncoding) {
  auto dir = temp_dir("chat_cli");
  spit(dir + "/chat.json", kChat);
  for (const char* name : {"qwen3", "llama3_1"}) {
    std::string tok_dir = shared_data(std::string("tokenizers/") + name);
    auto render = run_synpref("tokenize --tokenizer " + tok_dir + " --chat " + dir + "/chat.json --render");
    ASSERT_EQ(render.exit_code, 0) << render.err;
    auto tok = synpref::tokenizer::load_tokenizer(tok_dir);
    ASSERT_TRUE(tok.is_ok());
    auto builder = synpref::encode::RmInputBuilder::create(*tok);
    ASSERT_TRUE(builder.is_ok());
    auto turns = synpref::encode::turns_from_json(kChat);
    ASSERT_TRUE(turns.is_ok());
    EXPECT_EQ(render.out, *builder->render(*turns)) << name;

    auto ids = run_synpref("tokenize --tokenizer " + tok_dir + " --chat " + dir + "/chat.json");
    ASSERT_EQ(ids.exit_code, 0) << ids.err;
    auto parsed = nlohmann::json::parse(ids.out).get<std::vector<int32_t>>();
    EXPECT_EQ(parsed, *builder->encode(*turns)) << name;
    // Exactly one BOS where the model uses one.
    if (auto bos = tok->bos_id()) {
      EXPECT_EQ(std::count(parsed.begin(), parsed.end(), *bos), 1) << name;
      EXPECT_EQ(parsed[0], *bos);
    }
  }
}

TEST(TokenizeChatCli, BadChatFilesAreClearErrors) {
  auto dir = temp_dir("chat_cli_bad");
  std::string tok_dir = shared_data("tokenizers/qwen3");
  spit(dir + "/notjson.json", "[{\"role\": ");
  spit(dir + "/badrole.json", R"([{"role":"narrator","content":"x"}])");
  spit(dir + "/user_last.json", R"([{"role":"user","content":"x"}])");
  auto a = run_synpref("tokenize --tokenizer " + tok_dir + " --chat " + dir + "/notjson.json");
  EXPECT_NE(a.exit_code, 0);
  EXPECT_NE(a.err.find("invalid JSON"), std::string::npos) << a.err;
  auto b = run_synpref("tokenize --tokenizer " + tok_dir + " --chat " + dir + "/badrole.json");
  EXPECT_NE(b.exit_code, 0);
  EXPECT_NE(b.err.find("messages[0].role"), std::string::npos) << b.err;
  auto c = run_synpref("tokenize --tokenizer " + tok_dir + " --chat " + dir + "/user_last.json");
  EXPECT_NE(c.exit_code, 0);
  EXPECT_NE(c.err.find("assistant"), std::string::npos) << c.err;
  auto d = run_synpref("tokenize --tokenizer " + tok_dir + " --chat " + dir + "/missing.json");
  EXPECT_NE(d.exit_code, 0);
  EXPECT_NE(d.err.find("missing.json"), std::string::npos) << d.err;
}
