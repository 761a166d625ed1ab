// Black-box tests of `synpref tokenize` (the real binary).
#include <gtest/gtest.h>

#include "test_util.h"

namespace synpref::tokenizer::testing {
namespace {

CommandResult synpref(const std::string& args) {
  return run_command(std::string("'") + SYNPREF_BINARY + "' " + args + " 2>&1");
}

std::string dir(const std::string& name) {
  return "--tokenizer '" + shared_tokenizer_dir(name) + "'";
}

TEST(TokenizeCli, EncodesTextAsJsonArray) {
  const CommandResult r = synpref("tokenize " + dir("qwen3") + " --text 'Hello world'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "[9707,1879]\n");
}

TEST(TokenizeCli, SpecialTokensByDefaultAndNoSpecial) {
  EXPECT_EQ(synpref("tokenize " + dir("llama3") + " --text 'Hello world'").output, "[128000,9906,1917]\n");
  EXPECT_EQ(synpref("tokenize " + dir("llama3_1") + " --text 'Hello world' --no-special").output,
            "[9906,1917]\n");
  EXPECT_EQ(synpref("tokenize " + dir("llama3") + " --text ''").output, "[128000]\n");
}

TEST(TokenizeCli, EncodesFile) {
  TempDir tmp;
  write_file(tmp.file("in.txt"), "<|im_start|>user\nHello world<|im_end|>\n");
  const CommandResult r = synpref("tokenize " + dir("qwen3") + " --file '" + tmp.file("in.txt") + "'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.rfind("[151644,", 0), 0u) << r.output;
}

TEST(TokenizeCli, Decodes) {
  const CommandResult r = synpref("tokenize " + dir("qwen3") + " --decode '[151644, 9707, 1879]'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "<|im_start|>Hello world");
  EXPECT_EQ(synpref("tokenize " + dir("qwen3") + " --decode '[151644, 9707]' --skip-special").output,
            "Hello");
}

TEST(TokenizeCli, CleanErrors) {
  const CommandResult missing = synpref("tokenize --tokenizer /nonexistent/tok --text x");
  EXPECT_EQ(missing.status, 3);
  EXPECT_NE(missing.output.find("synpref: error: /nonexistent/tok: not a directory"), std::string::npos)
      << missing.output;

  TempDir tmp;
  write_file(tmp.file("bad.txt"), "ok\xff");
  const CommandResult bad_utf8 =
      synpref("tokenize " + dir("qwen3") + " --file '" + tmp.file("bad.txt") + "'");
  EXPECT_EQ(bad_utf8.status, 5);
  EXPECT_NE(bad_utf8.output.find("invalid UTF-8 at byte offset 2"), std::string::npos) << bad_utf8.output;

  const CommandResult bad_ids = synpref("tokenize " + dir("qwen3") + " --decode '[1, \"x\"]'");
  EXPECT_EQ(bad_ids.status, 2);
  EXPECT_NE(bad_ids.output.find("element 1"), std::string::npos) << bad_ids.output;

  const CommandResult unknown_id = synpref("tokenize " + dir("qwen3") + " --decode '[999999]'");
  EXPECT_EQ(unknown_id.status, 2);
  EXPECT_NE(unknown_id.output.find("999999"), std::string::npos) << unknown_id.output;

  const CommandResult nothing = synpref("tokenize " + dir("qwen3"));
  EXPECT_EQ(nothing.status, 2) << nothing.output;
}

}  // namespace
}  // namespace synpref::tokenizer::testing
