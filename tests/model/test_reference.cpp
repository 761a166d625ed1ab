// Correctness gate: our scores (and LM logits) against the PyTorch reference of transformers'
// modeling code (tests/oracles/model_reference.py, fp32) on random tiny models covering GQA, QK-norm, tied
// and untied embeddings, attention/MLP biases, llama3 and linear RoPE scaling, f32/bf16/f16
// checkpoints, and the last-non-pad-token rule. Gate: |ours - torch| <= 1e-4 * max(1, |torch|).
#include <cmath>

#include "model_test_util.h"

using namespace synpref::model;
using namespace synpref::model::testing;

namespace {

struct Variant {
  std::string name;
  ModelConfig config;
  DType dtype;
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  {
    ModelConfig c = tiny_config(Family::qwen3);  // GQA 4/2, head_dim 32 != 64/4, QK-norm
    c.tie_word_embeddings = true;
    v.push_back({"qwen3_tied_f32", c, DType::F32});
  }
  {
    ModelConfig c = tiny_config(Family::qwen3);
    c.attention_bias = true;
    c.n_head = 6, c.n_head_kv = 2, c.head_dim = 16;  // n_rep 3
    v.push_back({"qwen3_bias_rep3_bf16", c, DType::BF16});
  }
  {
    ModelConfig c = tiny_config(Family::llama);
    c.rope_scaling.type = RopeScaling::Type::llama3;
    c.rope_scaling.factor = 8.0;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 4.0;
    c.rope_scaling.original_max_position_embeddings = 64;  // small, so all three bands occur at these lengths
    c.rope_theta = 10000.0;
    c.tie_word_embeddings = true;
    v.push_back({"llama_llama3rope_tied_f32", c, DType::F32});
  }
  {
    ModelConfig c = tiny_config(Family::llama);
    c.rope_scaling.type = RopeScaling::Type::linear;
    c.rope_scaling.factor = 2.0;
    c.n_head_kv = 4;  // plain multi-head attention
    c.mlp_bias = true;
    c.attention_bias = true;
    c.intermediate_size = 70;  // odd sizes
    v.push_back({"llama_linear_mha_bias_f16", c, DType::F16});
  }
  {
    ModelConfig c = tiny_config(Family::llama);
    c.hidden_size = 48, c.n_head = 3, c.n_head_kv = 1, c.head_dim = 16;  // MQA, hidden not a multiple of 32
    c.pad_token_id.reset();
    v.push_back({"llama_mqa_nopad_f32", c, DType::F32});
  }
  return v;
}

}  // namespace

TEST(ModelVsTorch, ScoresMatchTransformersSemantics) {
  uint32_t seed = 1;
  for (const Variant& v : variants()) {
    SCOPED_TRACE(v.name);
    TempDir tmp;
    ASSERT_TRUE(write_random_model(v.config, test_init(seed, v.dtype), tmp.path()).is_ok());
    auto seqs = random_sequences(40, 1, 300, v.config.vocab_size, seed + 100);
    // A few sequences exercise the pooling rule: trailing pad tokens are skipped (and an all-pad one).
    if (v.config.pad_token_id) {
      const int32_t pad = static_cast<int32_t>(*v.config.pad_token_id);
      seqs[0].push_back(pad);
      seqs[1].insert(seqs[1].end(), {pad, pad, pad});
      seqs[2].insert(seqs[2].begin() + 1, pad);
      seqs[3] = {pad, pad};
    }
    seed += 7;
    auto model = Model::load(tmp.path(), {.n_threads = 2});
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    auto ours = (*model)->score_sequences(spans(seqs), {.max_tokens_per_batch = 700});
    ASSERT_TRUE(ours.is_ok()) << ours.status().message();
    const nlohmann::json ref = run_reference({"score", "--model", tmp.path()}, seqs, tmp);
    ASSERT_TRUE(ref.contains("scores"));
    ASSERT_EQ(ref["scores"].size(), seqs.size());
    double worst = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
      const double t = ref["scores"][i].get<double>();
      const double tol = 1e-4 * std::max(1.0, std::fabs(t));
      EXPECT_LE(std::fabs((*ours)[i] - t), tol)
          << "sequence " << i << " (length " << seqs[i].size() << "): ours " << (*ours)[i] << " torch " << t;
      worst = std::max(worst, std::fabs((*ours)[i] - t) / std::max(1.0, std::fabs(t)));
    }
    // Scores must vary across sequences: a model whose output ignores its input would pass trivially.
    double lo = 1e30, hi = -1e30;
    for (float s : *ours) lo = std::min<double>(lo, s), hi = std::max<double>(hi, s);
    EXPECT_GT(hi - lo, 0.05) << "scores barely vary; the test model is too weak";
    std::printf("[ %s ] 40 sequences, worst |diff|/max(1,|s|) = %.3g, score range [%.3f, %.3f]\n",
                v.name.c_str(), worst, lo, hi);
  }
}

TEST(ModelVsTorch, LmLogitsMatchForCausalLm) {
  for (Family family : {Family::qwen3, Family::llama}) {
    for (bool tie : {true, false}) {
      SCOPED_TRACE(std::string(family_spec(family).model_type) + (tie ? " tied" : " untied"));
      TempDir tmp;
      ModelConfig c = tiny_config(family, HeadKind::lm);
      c.tie_word_embeddings = tie;
      c.vocab_size = 300;
      ASSERT_TRUE(write_random_model(c, test_init(tie ? 11 : 12), tmp.path()).is_ok());
      auto model = Model::load(tmp.path());
      ASSERT_TRUE(model.is_ok()) << model.status().message();
      EXPECT_FALSE((*model)->has_score_head());
      const auto seqs = random_sequences(3, 1, 90, c.vocab_size, 5);
      const nlohmann::json ref = run_reference({"logits", "--model", tmp.path()}, seqs, tmp);
      ASSERT_TRUE(ref.contains("logits"));
      for (size_t s = 0; s < seqs.size(); ++s) {
        auto logits = (*model)->lm_logits(seqs[s]);
        ASSERT_TRUE(logits.is_ok()) << logits.status().message();
        ASSERT_EQ(logits->size(), ref["logits"][s].size());
        for (size_t i = 0; i < logits->size(); ++i) {
          const double t = ref["logits"][s][i].get<double>();
          ASSERT_LE(std::fabs((*logits)[i] - t), 1e-4 * std::max(1.0, std::fabs(t)))
              << "seq " << s << " index " << i;
        }
      }
    }
  }
}

// The reference's query-chunked attention (model_reference.py --attn-chunk, the path long sequences
// take) against its eager attention: the same softmax per query row, so the same scores up to the
// order of float additions. Chunks of 7 rows leave remainders; sequences shorter than a chunk stay eager.
TEST(ModelVsTorch, ChunkedReferenceAttentionEqualsEager) {
  TempDir tmp;
  ModelConfig c = tiny_config(Family::qwen3);  // GQA 4/2 (the chunk slices repeated k/v heads)
  ASSERT_TRUE(write_random_model(c, test_init(31), tmp.path()).is_ok());
  auto seqs = random_sequences(12, 1, 300, c.vocab_size, 32);
  seqs[0].resize(7);  // exactly one chunk: eager
  const nlohmann::json eager =
      run_reference({"score", "--model", tmp.path(), "--attn-chunk", "0"}, seqs, tmp);
  const nlohmann::json chunked =
      run_reference({"score", "--model", tmp.path(), "--attn-chunk", "7"}, seqs, tmp);
  ASSERT_TRUE(eager.contains("scores") && chunked.contains("scores"));
  ASSERT_EQ(eager["scores"].size(), seqs.size());
  ASSERT_EQ(chunked["scores"].size(), seqs.size());
  double worst = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    EXPECT_EQ(eager["attn_chunks"][i].get<int>(), 0);
    EXPECT_EQ(chunked["attn_chunks"][i].get<int>(), seqs[i].size() > 7 ? 7 : 0)
        << "length " << seqs[i].size();
    const double e = eager["scores"][i].get<double>(), ch = chunked["scores"][i].get<double>();
    EXPECT_LE(std::fabs(e - ch), 1e-5 * std::max(1.0, std::fabs(e)))
        << "sequence " << i << " (length " << seqs[i].size() << ")";
    worst = std::max(worst, std::fabs(e - ch) / std::max(1.0, std::fabs(e)));
  }
  std::printf("[ chunked vs eager reference ] 12 sequences, worst |diff|/max(1,|s|) = %.3g\n", worst);
}
