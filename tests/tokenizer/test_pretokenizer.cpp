// The hand-written Qwen / Llama 3 split against fixed expectations and against PCRE2 running the
// same pattern text (the slow reference).
#include <gtest/gtest.h>

#include <random>

#include "adversarial.h"
#include "test_util.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace synpref::tokenizer::testing {
namespace {

using Pieces = std::vector<std::string_view>;

PreTokenizer make(std::string_view pattern, bool force_regex = false) {
  auto pre = PreTokenizer::from_pattern(std::string(pattern), force_regex);
  SP_CHECK(pre.is_ok());
  return std::move(pre).value();
}

TEST(PreTokenizer, RecognisesKnownPatterns) {
  EXPECT_EQ(make(kQwenPattern).kind(), PreTokenizer::Kind::qwen);
  EXPECT_EQ(make(kLlama3Pattern).kind(), PreTokenizer::Kind::llama3);
  EXPECT_EQ(make(kGpt2Pattern).kind(), PreTokenizer::Kind::regex);
  EXPECT_FALSE(PreTokenizer::from_pattern("(unclosed").is_ok());
}

TEST(PreTokenizer, QwenSplits) {
  const PreTokenizer pre = make(kQwenPattern);
  EXPECT_EQ(pre.split_to_vector("Hello world123 it's"),
            (Pieces{"Hello", " world", "1", "2", "3", " it", "'s"}));
  EXPECT_EQ(pre.split_to_vector("a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(pre.split_to_vector("a   "), (Pieces{"a", "   "}));
  EXPECT_EQ(pre.split_to_vector("a\n\n b"), (Pieces{"a", "\n\n", " b"}));
  EXPECT_EQ(pre.split_to_vector("a \n  \n  b"), (Pieces{"a", " \n  \n", " ", " b"}));
  EXPECT_EQ(pre.split_to_vector("x !!!\n\ny"), (Pieces{"x", " !!!\n\n", "y"}));
  EXPECT_EQ(pre.split_to_vector("\t\tx"), (Pieces{"\t", "\tx"}));
  EXPECT_EQ(pre.split_to_vector("I'M YOU'RE 'Ll"), (Pieces{"I", "'M", " YOU", "'RE", " '", "Ll"}));
  EXPECT_EQ(pre.split_to_vector("x'ſa"), (Pieces{"x", "'ſ", "a"}));  // U+017F folds to 's'
  EXPECT_EQ(pre.split_to_vector("你好，世界"), (Pieces{"你好", "，世界"}));
  EXPECT_EQ(pre.split_to_vector(""), Pieces{});
}

TEST(PreTokenizer, Llama3GroupsDigitsByThree) {
  const PreTokenizer pre = make(kLlama3Pattern);
  EXPECT_EQ(pre.split_to_vector("1234567"), (Pieces{"123", "456", "7"}));
  EXPECT_EQ(pre.split_to_vector("x²³⁴⁵"), (Pieces{"x", "²³⁴", "⁵"}));
  EXPECT_EQ(pre.split_to_vector(" 12"), (Pieces{" ", "12"}));
}

TEST(PreTokenizer, WhiteSpaceIsUnicodeWhiteSpace) {
  // U+0085 is White_Space (HF/Oniguruma, Rust regex); U+FEFF is not (JavaScript's \s disagrees).
  const PreTokenizer pre = make(kLlama3Pattern);
  EXPECT_EQ(pre.split_to_vector("a\u0085\u0085b"), (Pieces{"a", "\u0085", "\u0085b"}));
  EXPECT_EQ(pre.split_to_vector("a \ufeff c"), (Pieces{"a", " \ufeff", " c"}));
}

// Random strings over characters that exercise every alternative; U+0085 is left out because
// PCRE2's \s (Unicode Z + ASCII space) lacks it where Oniguruma and Rust include it.
std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> alphabet = {
      " ",       " ",      " ",          "\n",     "\r",     "\t",     "a",      "Z",      "s",
      "S",       "t",      "r",          "e",      "v",      "m",      "l",      "L",      "d",
      "'",       "'",      "1",          "7",      "\u0663", "\u00b2", "!",      ".",      "\u00e9",
      "e\u0301", "\u4e2d", "\U0001F600", "\u00a0", "\u3000", "\u200d", "\u017f", "\ufeff", "<",
      "|",       ">",      "\u2028",     "_",      "-"};
  std::string s;
  const size_t n = rng() % 24;
  for (size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
  return s;
}

void check_against_pcre2(std::string_view pattern) {
  const PreTokenizer fast = make(pattern), slow = make(pattern, /*force_regex=*/true);
  ASSERT_NE(fast.kind(), PreTokenizer::Kind::regex);
  ASSERT_EQ(slow.kind(), PreTokenizer::Kind::regex);
  std::mt19937 rng(42);
  for (int trial = 0; trial < 50000; ++trial) {
    const std::string text = random_text(rng);
    ASSERT_EQ(fast.split_to_vector(text), slow.split_to_vector(text)) << "text: " << text;
  }
  for (const std::string& text : adversarial_strings()) {
    if (text.find("\u0085") != std::string::npos) continue;
    ASSERT_EQ(fast.split_to_vector(text), slow.split_to_vector(text)) << "text: " << text.substr(0, 80);
  }
}

TEST(PreTokenizer, QwenMatchesPcre2) {
  check_against_pcre2(kQwenPattern);
}

TEST(PreTokenizer, Llama3MatchesPcre2) {
  check_against_pcre2(kLlama3Pattern);
}

TEST(PreTokenizer, PiecesTileTheText) {
  const PreTokenizer pre = make(kQwenPattern);
  for (const std::string& text : adversarial_strings()) {
    std::string joined;
    for (std::string_view piece : pre.split_to_vector(text)) {
      EXPECT_FALSE(piece.empty());
      joined += piece;
    }
    EXPECT_EQ(joined, text);
  }
}

TEST(Unicode, CharacterClasses) {
  using namespace unicode;
  EXPECT_EQ(char_class('a'), kLetter);
  EXPECT_EQ(char_class(0x4E2D), kLetter);  // 中
  EXPECT_EQ(char_class(0x0663), kNumber);  // Arabic-Indic three
  EXPECT_EQ(char_class(0x2167), kNumber);  // Roman numeral eight (Nl)
  EXPECT_EQ(char_class(0x00B2), kNumber);  // superscript two (No)
  EXPECT_EQ(char_class(' '), kSpace);
  EXPECT_EQ(char_class(0x0085), kSpace);
  EXPECT_EQ(char_class(0x3000), kSpace);
  EXPECT_EQ(char_class('\n'), kNewline);
  EXPECT_EQ(char_class(0xFEFF), kOther);
  EXPECT_EQ(char_class(0x0301), kOther);   // combining acute (Mn)
  EXPECT_EQ(char_class(0x1F600), kOther);  // emoji
  EXPECT_EQ(char_class(0x10FFFF), kOther);
}

}  // namespace
}  // namespace synpref::tokenizer::testing
