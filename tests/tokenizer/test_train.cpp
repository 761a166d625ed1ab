// The small BPE trainer: its output is a valid HF tokenizer folder that round-trips text.
#include <gtest/gtest.h>

#include "../test_util.h"
#include "synpref/common/io.h"
#include "synpref/data/synthetic.h"
#include "synpref/tokenizer/tokenizer.h"
#include "synpref/tokenizer/train.h"

using namespace synpref;

TEST(TrainBpe, WritesALoadableDeterministicTokenizerThatCompressesAndRoundTrips) {
  // Training text: synthetic preference data (mixed scripts, punctuation, code).
  std::string corpus;
  data::SyntheticOptions gen;
  for (uint64_t i = 0; i < 300; ++i) data::append_synthetic_record(corpus, gen, i);
  std::vector<std::string_view> texts = {corpus};
  auto dir = synpref::testing::temp_dir("train_bpe");
  tokenizer::BpeTrainOptions options;
  options.vocab_size = 600;
  ASSERT_TRUE(tokenizer::train_bpe_tokenizer(texts, options, dir + "/a").is_ok());
  ASSERT_TRUE(tokenizer::train_bpe_tokenizer(texts, options, dir + "/b").is_ok());
  EXPECT_EQ(synpref::testing::slurp(dir + "/a/tokenizer.json"),
            synpref::testing::slurp(dir + "/b/tokenizer.json"));

  auto tok = tokenizer::load_tokenizer(dir + "/a");
  ASSERT_TRUE(tok.is_ok()) << tok.status().message();
  EXPECT_EQ(tok->vocab_size(), 603);
  EXPECT_EQ(tok->eos_token(), "<|im_end|>");
  EXPECT_FALSE(tok->bos_id().has_value());
  EXPECT_FALSE(tok->chat_template().empty());

  std::string held_out;
  for (uint64_t i = 1000; i < 1010; ++i) data::append_synthetic_record(held_out, gen, i);
  auto ids = tok->encode(held_out, true);
  EXPECT_LT(ids.size() * 2, held_out.size()) << "merges must compress well below one token per byte";
  auto back = tok->decode(ids);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, held_out);
  // Special tokens are single ids.
  auto chat = tok->encode("<|im_start|>user\nhi<|im_end|>", true);
  EXPECT_EQ(chat.front(), 601);
  EXPECT_EQ(chat.back(), 602);
  EXPECT_FALSE(tokenizer::train_bpe_tokenizer(texts, {100, 2}, dir + "/c").is_ok());
}
