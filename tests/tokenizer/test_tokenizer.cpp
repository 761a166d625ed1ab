// The Tokenizer API on the real Qwen3 / Llama 3 files: special tokens, post-processing, decode
// round trips, hostile inputs, batch encoding, fingerprints, and corrupt tokenizer files.
#include <gtest/gtest.h>

#include "adversarial.h"
#include "synpref/common/io.h"
#include "test_util.h"

// Fingerprints of the shared Qwen3 tokenizer.json and Llama 3 tokenizer.model (recipe v1).
#define QWEN3_FINGERPRINT "f6c87023fa91eb965968f35119b02f0f"
#define LLAMA3_FINGERPRINT "f5cb158ff87a1c3ae1f9f006b716c3ff"

namespace synpref::tokenizer::testing {
namespace {

const Tokenizer& qwen() {
  return shared_tokenizer("qwen3");
}
const Tokenizer& llama_json() {
  return shared_tokenizer("llama3_1");
}
const Tokenizer& llama_model() {
  return shared_tokenizer("llama3");
}

TEST(Tokenizer, LoadsRealFilesWithTheirMetadata) {
  EXPECT_EQ(qwen().vocab_size(), 151669);
  EXPECT_EQ(qwen().source_format(), "tokenizer.json");
  EXPECT_EQ(qwen().eos_id(), 151645);  // <|im_end|>
  EXPECT_EQ(qwen().pad_id(), 151643);  // <|endoftext|>
  EXPECT_FALSE(qwen().bos_id().has_value());
  EXPECT_NE(qwen().chat_template().find("<|im_start|>"), std::string::npos);
  EXPECT_EQ(qwen().added_tokens().size(), 26u);

  EXPECT_EQ(llama_json().vocab_size(), 128256);
  EXPECT_EQ(llama_json().bos_id(), 128000);
  EXPECT_EQ(llama_json().eos_id(), 128009);  // tokenizer_config.json: <|eot_id|>
  EXPECT_EQ(llama_json().bos_token(), "<|begin_of_text|>");
  EXPECT_NE(llama_json().chat_template().find("<|start_header_id|>"), std::string::npos);

  EXPECT_EQ(llama_model().vocab_size(), 128256);
  EXPECT_EQ(llama_model().source_format(), "tokenizer.model");
  EXPECT_EQ(llama_model().bos_id(), 128000);
  EXPECT_EQ(llama_model().eos_id(), 128001);
  EXPECT_EQ(llama_model().pad_id(), 128004);
  EXPECT_EQ(llama_model().token_to_id("<|eot_id|>"), 128009);
  EXPECT_EQ(llama_model().token_to_id("<|eom_id|>"), 128008);
  EXPECT_EQ(llama_model().token_to_id("<|python_tag|>"), 128010);
  EXPECT_EQ(llama_model().token_to_id("<|reserved_special_token_247|>"), 128255);
  EXPECT_EQ(llama_model().chat_template(), "");
}

TEST(Tokenizer, KnownIds) {
  EXPECT_EQ(qwen().encode("Hello world"), (std::vector<int32_t>{9707, 1879}));
  EXPECT_EQ(llama_model().encode("Hello world"), (std::vector<int32_t>{128000, 9906, 1917}));
  EXPECT_EQ(llama_json().encode("Hello world", false), (std::vector<int32_t>{9906, 1917}));
}

TEST(Tokenizer, PostProcessorAddsBosOnlyForLlama) {
  for (const Tokenizer* tok : {&llama_json(), &llama_model()}) {
    EXPECT_EQ(tok->encode("", true), std::vector<int32_t>{128000});
    EXPECT_EQ(tok->encode("", false), std::vector<int32_t>{});
    const auto with = tok->encode("x", true), without = tok->encode("x", false);
    ASSERT_EQ(with.size(), without.size() + 1);
    EXPECT_EQ(with[0], 128000);
  }
  EXPECT_EQ(qwen().encode("x", true), qwen().encode("x", false));
  EXPECT_EQ(qwen().encode("", true), std::vector<int32_t>{});
}

TEST(Tokenizer, AddedTokensMatchedBeforeBpe) {
  const auto ids = qwen().encode("<|im_start|>user\nhi<|im_end|>", false);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 151644);
  EXPECT_EQ(ids.back(), 151645);
  // Non-special added tokens (<think>) are matched too.
  EXPECT_EQ(qwen().encode("<think></think>", false), (std::vector<int32_t>{151667, 151668}));
  // Look-alikes are text.
  for (const char* text : {"<|im_start", "<|im_start|", "im_start|>", "<|IM_START|>"}) {
    for (int32_t id : qwen().encode(text, false)) EXPECT_LT(id, 151643) << text;
  }
  EXPECT_EQ(llama_model().encode("a<|eot_id|>b", false)[1], 128009);
  // The 3.0 table of lenml's llama3_1 tokenizer.json names 128008 <|reserved_special_token_4|>.
  EXPECT_EQ(llama_json().token_to_id("<|reserved_special_token_4|>"), 128008);
  EXPECT_EQ(llama_model().token_to_id("<|reserved_special_token_4|>"), 128012);
}

TEST(Tokenizer, DecodeRoundTripsAdversarialStrings) {
  for (const std::string& s : adversarial_strings()) {
    for (const Tokenizer* tok : {&llama_json(), &llama_model()}) {
      const auto decoded = tok->decode(tok->encode(s, false));
      ASSERT_TRUE(decoded.is_ok());
      EXPECT_EQ(*decoded, s) << s.substr(0, 60);
    }
    // Qwen normalizes to NFC first; decoding gives the NFC text, which re-encodes to itself.
    const auto once = qwen().decode(qwen().encode(s)).value();
    EXPECT_EQ(qwen().decode(qwen().encode(once)).value(), once);
    EXPECT_EQ(qwen().encode(once), qwen().encode(s));
  }
  EXPECT_EQ(qwen().decode(qwen().encode("e\u0301")).value(), "\u00e9");
  EXPECT_EQ(qwen().decode(qwen().encode("\u212b")).value(), "\u00c5");  // ANGSTROM SIGN -> Å
}

TEST(Tokenizer, DecodeSkipsSpecialTokensOnRequest) {
  const auto ids = qwen().encode("<|im_start|>hi<think>x</think><|im_end|>");
  EXPECT_EQ(qwen().decode(ids, true).value(), "hi<think>x</think>");  // <think> is not special
  EXPECT_EQ(qwen().decode(ids, false).value(), "<|im_start|>hi<think>x</think><|im_end|>");
  EXPECT_EQ(llama_model().decode(llama_model().encode("x"), true).value(), "x");
}

TEST(Tokenizer, DecodeRejectsUnknownIds) {
  const std::vector<int32_t> ids = {9707, 151669};
  const auto decoded = qwen().decode(ids);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.status().message().find("151669"), std::string::npos);
  EXPECT_NE(decoded.status().message().find("position 1"), std::string::npos);
  EXPECT_FALSE(qwen().decode(std::vector<int32_t>{-1}).is_ok());
}

TEST(Tokenizer, TokenStringsAndBytes) {
  const auto id = qwen().token_to_id("\u0120the");  // "Ġthe"
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(qwen().id_to_token(*id), "\u0120the");
  EXPECT_EQ(qwen().token_bytes(*id), " the");
  EXPECT_EQ(qwen().id_to_token(151644), "<|im_start|>");
  EXPECT_FALSE(qwen().id_to_token(151669).has_value());
  EXPECT_FALSE(qwen().token_to_id("not a token at all").has_value());
}

TEST(Tokenizer, InvalidUtf8IsReplacedLikePython) {
  // Expected strings from Python: bytes.decode("utf-8", "replace").
  EXPECT_EQ(repair_utf8("a\xff"
                        "b"),
            "a\ufffd"
            "b");
  EXPECT_EQ(repair_utf8("\xe4\xbd"), "\ufffd");
  EXPECT_EQ(repair_utf8("\xe4\xbdx"), "\ufffdx");
  EXPECT_EQ(repair_utf8("\xed\xa0\x80"), "\ufffd\ufffd\ufffd");
  EXPECT_EQ(repair_utf8("\xc0\xaf"), "\ufffd\ufffd");
  EXPECT_EQ(repair_utf8("\xf0\x9f\x98"), "\ufffd");
  EXPECT_EQ(repair_utf8("\xf4\x90\x80\x80"), "\ufffd\ufffd\ufffd\ufffd");
  EXPECT_EQ(repair_utf8("\x80\x80"), "\ufffd\ufffd");
  EXPECT_EQ(repair_utf8("ok \xf0\x9f\x98\x80"), "ok \xf0\x9f\x98\x80");
  for (const Tokenizer* tok : {&qwen(), &llama_model()}) {
    EXPECT_EQ(tok->encode("a\xff"
                          "b"),
              tok->encode("a\ufffd"
                          "b"));
    EXPECT_EQ(tok->encode("\xe4\xbd\xe5\xa5\xbd"), tok->encode("\ufffd\xe5\xa5\xbd"));
  }
}

TEST(Tokenizer, HostileInputs) {
  // NUL bytes are ordinary characters.
  const std::string nul("a\0b", 3);
  EXPECT_EQ(llama_model().decode(llama_model().encode(nul, false)).value(), nul);
  // A 1 MiB single word and a 1 MiB run of spaces (the heap merge path).
  const std::string word = repeat("ab", 1 << 19), spaces = repeat(" ", 1 << 20);
  for (const Tokenizer* tok : {&qwen(), &llama_model()}) {
    const auto ids = tok->encode(word, false);
    EXPECT_LE(ids.size(), word.size() / 2);
    EXPECT_EQ(tok->decode(ids).value(), word);
    EXPECT_EQ(tok->decode(tok->encode(spaces, false)).value(), spaces);
  }
}

TEST(Tokenizer, BatchEqualsSingle) {
  std::vector<std::string> texts = adversarial_strings();
  std::vector<std::string_view> views(texts.begin(), texts.end());
  for (int n_threads : {1, 3, 0}) {
    const EncodedBatch batch = llama_json().encode_batch(views, true, n_threads);
    ASSERT_EQ(batch.size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      const auto single = llama_json().encode(texts[i], true);
      EXPECT_TRUE(std::equal(single.begin(), single.end(), batch[i].begin(), batch[i].end())) << i;
    }
  }
  EXPECT_EQ(qwen().encode_batch({}, true).size(), 0u);
}

TEST(Tokenizer, FingerprintIsStableAndDistinguishes) {
  auto again = load_tokenizer(shared_tokenizer_dir("qwen3"));
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->fingerprint(), qwen().fingerprint());
  EXPECT_NE(qwen().fingerprint(), llama_json().fingerprint());
  EXPECT_NE(llama_json().fingerprint(), llama_model().fingerprint());
  EXPECT_EQ(qwen().fingerprint().hex().size(), 32u);
  // Pinned: a change here silently invalidates every tokenized shard; bump the recipe's version
  // string in finish_tokenizer() instead of editing these values casually.
  EXPECT_EQ(qwen().fingerprint().hex(), QWEN3_FINGERPRINT);
  EXPECT_EQ(llama_model().fingerprint().hex(), LLAMA3_FINGERPRINT);
}

// ---- corrupt files ----

struct Loaded {
  bool ok;
  std::string message;
};

Loaded load_files(const std::map<std::string, std::string>& files) {
  TempDir dir;
  for (const auto& [name, content] : files) write_file(dir.file(name), content);
  auto tok = load_tokenizer(dir.path.string());
  return {tok.is_ok(), tok.is_ok() ? "" : tok.status().message()};
}

const std::string kTiny = R"({"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]},
  "added_tokens":[],"normalizer":null,"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},
  "post_processor":null,"decoder":{"type":"ByteLevel"}})";

TEST(CorruptFiles, TinyTokenizerLoads) {
  const Loaded r = load_files({{"tokenizer.json", kTiny}});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(CorruptFiles, TruncatedJson) {
  const Loaded r = load_files({{"tokenizer.json", kTiny.substr(0, kTiny.size() / 2)}});
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.message.find("tokenizer.json"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("not valid JSON"), std::string::npos) << r.message;
}

TEST(CorruptFiles, MissingVocab) {
  std::string json = kTiny;
  json.replace(json.find("\"vocab\""), 7, "\"vocabulary\"");
  const Loaded r = load_files({{"tokenizer.json", json}});
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.message.find("tokenizer.json: missing object 'model.vocab'"), std::string::npos) << r.message;
}

TEST(CorruptFiles, MergeOutsideVocabulary) {
  std::string json = kTiny;
  json.replace(json.find("\"a b\""), 5, "\"b a\"");
  const Loaded r = load_files({{"tokenizer.json", json}});
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.message.find("model.merges[0]"), std::string::npos) << r.message;
}

TEST(CorruptFiles, UnsupportedModelType) {
  std::string json = kTiny;
  json.replace(json.find("\"BPE\""), 5, "\"WordPiece\"");
  const Loaded r = load_files({{"tokenizer.json", json}});
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.message.find("WordPiece"), std::string::npos) << r.message;
}

TEST(CorruptFiles, CorruptConfig) {
  const Loaded r = load_files({{"tokenizer.json", kTiny}, {"tokenizer_config.json", "{\"bos_token\": "}});
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.message.find("tokenizer_config.json"), std::string::npos) << r.message;
  const Loaded unknown =
      load_files({{"tokenizer.json", kTiny}, {"tokenizer_config.json", R"({"eos_token": "<eos>"})"}});
  ASSERT_FALSE(unknown.ok);
  EXPECT_NE(unknown.message.find("eos_token '<eos>'"), std::string::npos) << unknown.message;
}

std::string io_read(const std::string& path) {
  auto text = io::read_file(path);
  SP_CHECK(text.is_ok());
  return std::move(text).value();
}

std::string tiktoken_lines(size_t n) {
  const std::string real = io_read(shared_tokenizer_dir("llama3") + "/tokenizer.model");
  size_t pos = 0;
  for (size_t i = 0; i < n; ++i) pos = real.find('\n', pos) + 1;
  return real.substr(0, pos);
}

TEST(CorruptFiles, TiktokenBadBase64Line) {
  std::string text = tiktoken_lines(300);
  const size_t line_start = [&] {
    size_t pos = 0;
    for (int i = 0; i < 299; ++i) pos = text.find('\n', pos) + 1;
    return pos;
  }();
  text.replace(line_start, 2, "*!");  // line 300
  const Loaded r = load_files({{"tokenizer.model", text}});
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.message.find("tokenizer.model:300: token"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("not valid base64"), std::string::npos) << r.message;
}

TEST(CorruptFiles, TiktokenBadRankAndMissingBytes) {
  const Loaded bad_rank = load_files({{"tokenizer.model", tiktoken_lines(10) + "IQ== x\n"}});
  ASSERT_FALSE(bad_rank.ok);
  EXPECT_NE(bad_rank.message.find("tokenizer.model:11: rank 'x'"), std::string::npos) << bad_rank.message;
  const Loaded no_space = load_files({{"tokenizer.model", "IQ==\n"}});
  ASSERT_FALSE(no_space.ok);
  EXPECT_NE(no_space.message.find("tokenizer.model:1:"), std::string::npos) << no_space.message;
  const Loaded truncated = load_files({{"tokenizer.model", tiktoken_lines(100)}});
  ASSERT_FALSE(truncated.ok);
  EXPECT_NE(truncated.message.find("has no token"), std::string::npos) << truncated.message;
}

TEST(CorruptFiles, MissingFiles) {
  const Loaded empty = load_files({});
  ASSERT_FALSE(empty.ok);
  EXPECT_NE(empty.message.find("neither tokenizer.json nor tokenizer.model"), std::string::npos);
  auto missing = load_tokenizer("/nonexistent/synpref-tokenizer");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::not_found);
  EXPECT_NE(missing.status().message().find("/nonexistent/synpref-tokenizer"), std::string::npos);
}

}  // namespace
}  // namespace synpref::tokenizer::testing
