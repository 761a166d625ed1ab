// Our one real pretrained model: stories260K (llama2.c) converted to a HF LlamaForCausalLM folder.
//  - LM logits at every position of fixed id sequences match a numpy forward of llama2.c's run.c
//    that reads the .bin directly (interleaved RoPE, no conversion), to 1e-4 * max(1, |logit|);
//  - the converted folder also matches the transformers-style torch reference (conversion is exact);
//  - greedy decoding from BOS=1 reproduces run.c's continuation recorded in shared/data/SOURCES.md;
//  - broken .bin files give errors, not crashes.
#include <cmath>
#include <fstream>

#include "model_test_util.h"
#include "synpref/model/safetensors.h"

using namespace synpref::model;
using namespace synpref::model::testing;

namespace {

// run.c -t 0 continuation from BOS=1 (shared/data/SOURCES.md).
const std::vector<int32_t> kGreedy = {461, 461, 401, 401, 401, 461, 378, 455, 473, 456, 435,
                                      299, 362, 409, 283, 264, 283, 452, 288, 13,  431, 431};

class Stories : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const synpref::Status s = convert_llama2c(stories260k_path(), dir_->path());
    ASSERT_TRUE(s.is_ok()) << s.message();
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static TempDir* dir_;
};
TempDir* Stories::dir_ = nullptr;

void expect_logits_close(const std::vector<float>& ours, const nlohmann::json& ref, const std::string& what) {
  ASSERT_EQ(ours.size(), ref.size()) << what;
  double worst = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    const double t = ref[i].get<double>();
    const double err = std::fabs(ours[i] - t) / std::max(1.0, std::fabs(t));
    worst = std::max(worst, err);
    ASSERT_LE(err, 1e-4) << what << " index " << i << " (position " << i / 512 << "): ours " << ours[i]
                         << " ref " << t;
  }
  std::printf("[ %s ] %zu logits, worst |diff|/max(1,|x|) = %.3g\n", what.c_str(), ours.size(), worst);
}

}  // namespace

TEST_F(Stories, ConvertedFolderIsAHuggingFaceLlama) {
  auto model = Model::load(dir_->path());
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  const ModelConfig& c = (*model)->config();
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.n_layer, 5);
  EXPECT_EQ(c.n_head, 8);
  EXPECT_EQ(c.n_head_kv, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE((*model)->has_lm_head());
  auto file = SafetensorsFile::open(dir_->file("model.safetensors"));
  ASSERT_TRUE(file.is_ok());
  EXPECT_NE(file.value()->header().find("model.layers.4.mlp.down_proj.weight"), nullptr);
  EXPECT_EQ(file.value()->header().find("lm_head.weight"), nullptr);  // tied: transformers omits it
}

TEST_F(Stories, LogitsMatchLlama2cForwardAtEveryPosition) {
  auto model = Model::load(dir_->path(), {.n_threads = 2});
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  std::vector<std::vector<int32_t>> seqs;
  std::vector<int32_t> greedy = {1};
  greedy.insert(greedy.end(), kGreedy.begin(), kGreedy.end());
  seqs.push_back(greedy);
  auto more = random_sequences(2, 40, 150, 512, 17);  // beyond one 64-key attention block
  for (auto& s : more) s[0] = 1;
  seqs.insert(seqs.end(), more.begin(), more.end());
  TempDir tmp;
  const nlohmann::json ref = run_reference({"llama2c", "--bin", stories260k_path()}, seqs, tmp);
  ASSERT_TRUE(ref.contains("logits"));
  const nlohmann::json torch_ref = run_reference({"logits", "--model", dir_->path()}, seqs, tmp);
  ASSERT_TRUE(torch_ref.contains("logits"));
  for (size_t s = 0; s < seqs.size(); ++s) {
    auto logits = (*model)->lm_logits(seqs[s]);
    ASSERT_TRUE(logits.is_ok()) << logits.status().message();
    expect_logits_close(*logits, ref["logits"][s], "llama2c numpy, sequence " + std::to_string(s));
    expect_logits_close(*logits, torch_ref["logits"][s],
                        "torch on converted folder, sequence " + std::to_string(s));
  }
}

TEST_F(Stories, GreedyDecodingReproducesRunC) {
  auto model = Model::load(dir_->path());
  ASSERT_TRUE(model.is_ok());
  std::vector<int32_t> ids = {1};
  for (size_t step = 0; step < kGreedy.size(); ++step) {
    auto logits = (*model)->lm_logits(ids);
    ASSERT_TRUE(logits.is_ok());
    const float* last = logits->data() + (ids.size() - 1) * 512;
    ids.push_back(static_cast<int32_t>(std::max_element(last, last + 512) - last));
  }
  const std::vector<int32_t> generated(ids.begin() + 1, ids.end());
  EXPECT_EQ(generated, kGreedy);
}

TEST(Llama2cHostile, BrokenCheckpointsAreRefused) {
  TempDir tmp;
  std::ifstream in(stories260k_path(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000u);
  auto write = [&](const std::string& name, const std::string& data) {
    std::ofstream(tmp.file(name), std::ios::binary) << data;
    return tmp.file(name);
  };
  auto expect_error = [&](const std::string& path, const std::string& needle) {
    const synpref::Status s = convert_llama2c(path, tmp.file("out"));
    EXPECT_FALSE(s.is_ok()) << path;
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  };
  expect_error(write("short.bin", bytes.substr(0, 20)), "too short");
  expect_error(write("truncated.bin", bytes.substr(0, bytes.size() - 4)), "truncated");
  std::string zero_heads = bytes;
  std::memset(zero_heads.data() + 12, 0, 4);
  expect_error(write("zero_heads.bin", zero_heads), "non-positive");
  std::string bad_kv = bytes;
  const int32_t kv = 3;
  std::memcpy(bad_kv.data() + 16, &kv, 4);
  expect_error(write("bad_kv.bin", bad_kv), "inconsistent");
  std::string huge = bytes;
  const int32_t big = 1 << 30;
  std::memcpy(huge.data(), &big, 4);
  expect_error(write("huge.bin", huge), "implausibly");
  expect_error(tmp.file("missing.bin"), "no such file");
}
