// BPE on tiny hand-made vocabularies (tokenizer.json and tiktoken formats), and the quadratic
// merge loop against the heap-based one on the real Qwen3 / Llama 3 merge tables.
#include <gtest/gtest.h>

#include <random>

#include "test_util.h"
#include "tokenizer/tokenizer_impl.h"

namespace synpref::tokenizer::testing {
namespace {

// A JSON string literal for ASCII or byte-level text (no escapes needed but '"' and '\\').
std::string nlohmann_free_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A byte-level tokenizer.json whose vocabulary is the 256 bytes plus `extra` tokens (plain ASCII,
// so their byte-level form is themselves) and the given merges.
std::string tiny_json(const std::vector<std::string>& extra, const std::string& merges_json,
                      bool ignore_merges = false) {
  std::string vocab;
  int id = 0;
  for (int b = 0; b < 256; ++b) {
    if (id) vocab += ",";
    vocab += nlohmann_free_quote(byte_level_encode(std::string(1, static_cast<char>(b)))) + ":" +
             std::to_string(id++);
  }
  for (const std::string& t : extra) vocab += "," + nlohmann_free_quote(t) + ":" + std::to_string(id++);
  return R"({"version":"1.0","added_tokens":[],"normalizer":null,
    "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":true},
    "post_processor":null,"decoder":{"type":"ByteLevel"},
    "model":{"type":"BPE","ignore_merges":)" +
         std::string(ignore_merges ? "true" : "false") + R"(,"vocab":{)" + vocab + R"(},"merges":)" +
         merges_json + "}}";
}

std::vector<int32_t> ids_of(const Tokenizer& tok, const std::vector<std::string>& tokens) {
  std::vector<int32_t> ids;
  for (const std::string& t : tokens) ids.push_back(tok.token_to_id(t).value());
  return ids;
}

TEST(Bpe, MergesApplyInRankOrder) {
  auto tok = load_tokenizer_json(tiny_json({"ab", "bc", "abc"}, R"(["a b", "ab c", "b c"])"), "");
  ASSERT_TRUE(tok.is_ok()) << tok.status().message();
  EXPECT_EQ(tok->encode("abc", false), ids_of(*tok, {"abc"}));
  EXPECT_EQ(tok->encode("bc", false), ids_of(*tok, {"bc"}));
  // "b c" ranks first here, and no merge makes "abc" from "a" + "bc".
  auto other = load_tokenizer_json(tiny_json({"ab", "bc", "abc"}, R"(["b c", "a b", "ab c"])"), "");
  ASSERT_TRUE(other.is_ok()) << other.status().message();
  EXPECT_EQ(other->encode("abc", false), ids_of(*other, {"a", "bc"}));
}

TEST(Bpe, MergePairsAsArraysEqualStrings) {
  auto as_strings = load_tokenizer_json(tiny_json({"ab", "abc"}, R"(["a b", "ab c"])"), "");
  auto as_pairs = load_tokenizer_json(tiny_json({"ab", "abc"}, R"([["a","b"], ["ab","c"]])"), "");
  ASSERT_TRUE(as_strings.is_ok() && as_pairs.is_ok());
  EXPECT_EQ(as_strings->encode("abcab", false), as_pairs->encode("abcab", false));
  EXPECT_EQ(as_strings->fingerprint(), as_pairs->fingerprint());
}

TEST(Bpe, EqualRanksMergeLeftmostFirst) {
  auto tok = load_tokenizer_json(tiny_json({"aa"}, R"(["a a"])"), "");
  ASSERT_TRUE(tok.is_ok());
  EXPECT_EQ(tok->encode("aaa", false), ids_of(*tok, {"aa", "a"}));
  EXPECT_EQ(tok->encode("aaaa", false), ids_of(*tok, {"aa", "aa"}));
}

TEST(Bpe, IgnoreMergesTakesWholeWordFromVocabulary) {
  // "abc" is in the vocabulary but no merge reaches it.
  auto plain = load_tokenizer_json(tiny_json({"ab", "abc"}, R"(["a b"])", false), "");
  auto ignore = load_tokenizer_json(tiny_json({"ab", "abc"}, R"(["a b"])", true), "");
  ASSERT_TRUE(plain.is_ok() && ignore.is_ok());
  EXPECT_EQ(plain->encode("abc", false), ids_of(*plain, {"ab", "c"}));
  EXPECT_EQ(ignore->encode("abc", false), ids_of(*ignore, {"abc"}));
  EXPECT_NE(plain->fingerprint(), ignore->fingerprint());
}

std::string base64(std::string_view bytes) {
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int k = 3; k >= 0; --k) out += alphabet[(v >> (6 * k)) & 63];
  }
  if (bytes.size() - i == 1) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += "==";
  } else if (bytes.size() - i == 2) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += "=";
  }
  return out;
}

std::string tiny_tiktoken(const std::vector<std::string>& extra) {
  std::string text;
  int rank = 0;
  for (int b = 0; b < 256; ++b)
    text += base64(std::string(1, static_cast<char>(b))) + " " + std::to_string(rank++) + "\n";
  for (const std::string& t : extra) text += base64(t) + " " + std::to_string(rank++) + "\n";
  return text;
}

TEST(Bpe, TiktokenRanksDriveMerges) {
  // Ranks: bc 256, ab 257, abc 258, abcd 259. In "xabc", "bc" (256) merges before "ab" (257),
  // then "a" + "bc" makes "abc"; a piece that is itself a rank is taken whole.
  auto tok = load_tiktoken_model(tiny_tiktoken({"bc", "ab", "abc", "abcd"}));
  ASSERT_TRUE(tok.is_ok()) << tok.status().message();
  const int32_t bos = tok->bos_id().value();
  EXPECT_EQ(bos, 256 + 4);
  EXPECT_EQ(tok->encode("ab", false), std::vector<int32_t>{257});
  EXPECT_EQ(tok->encode("abc", false), std::vector<int32_t>{258});
  EXPECT_EQ(tok->encode("xabc", false), (std::vector<int32_t>{'x', 258}));
  EXPECT_EQ(tok->encode("xab", false), (std::vector<int32_t>{'x', 257}));
  EXPECT_EQ(tok->encode("abcd", true), (std::vector<int32_t>{bos, 259}));
  EXPECT_EQ(tok->encode("<|eot_id|>", false), std::vector<int32_t>{bos + 9});
  EXPECT_EQ(tok->vocab_size(), 256 + 4 + 256);
}

// The quadratic merge loop and the heap one agree on random byte strings, with the real tables.
void check_merge_loops_agree(const Tokenizer& tok, uint32_t seed) {
  const BpeModel& bpe = tok.impl().bpe;
  std::mt19937 rng(seed);
  const std::string alphabet = "aeinorst ETAO.,'\n0123\xe4\xbd\xa0\xe5\xa5\xbd";
  for (int trial = 0; trial < 3000; ++trial) {
    const size_t n = 2 + rng() % (BpeModel::kSmallPiece - 1);
    std::vector<int32_t> symbols;
    for (size_t i = 0; i < n; ++i)
      symbols.push_back(bpe.byte_id[static_cast<uint8_t>(alphabet[rng() % alphabet.size()])]);
    std::vector<int32_t> small = symbols, heap = symbols;
    bpe.merge_small(small);
    bpe.merge_heap(heap);
    ASSERT_EQ(small, heap) << "trial " << trial;
  }
}

TEST(Bpe, SmallAndHeapMergeAgreeQwen3) {
  check_merge_loops_agree(shared_tokenizer("qwen3"), 1);
}

TEST(Bpe, SmallAndHeapMergeAgreeLlama3) {
  check_merge_loops_agree(shared_tokenizer("llama3"), 2);
}

}  // namespace
}  // namespace synpref::tokenizer::testing
