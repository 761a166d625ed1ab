// Whole model at Skywork-Reward-V2's 16,384 tokens against the PyTorch reference
// (tests/oracles/model_reference.py; above 2048 tokens it computes attention a chunk of query rows at a
// time, the same softmax per row as its eager path: ModelVsTorch.ChunkedReferenceAttentionEqualsEager).
// A tiny random Qwen3 (GQA, QK-norm) whose RoPE runs to position 16,383 and whose last row attends over
// all 16,384 keys. Gate: test_reference.cpp's, |ours - torch| <= 1e-4 * max(1, |torch|).
#include <chrono>
#include <cmath>

#include "model_test_util.h"

using namespace synpref::model;
using namespace synpref::model::testing;

TEST(ModelVsTorchLong, Qwen3ScoresAt16KTokens) {
  constexpr int kTokens = 16384;
  TempDir tmp;
  ModelConfig c = tiny_config(Family::qwen3);
  c.max_position_embeddings = 32768;
  ASSERT_TRUE(write_random_model(c, test_init(41), tmp.path()).is_ok());
  // One 16,384-token sequence, and a 4,096-token one so that the scores can be seen to vary.
  auto seqs = random_sequences(2, kTokens, kTokens, c.vocab_size, 42);
  seqs[1].resize(4096);
  for (auto& s : seqs) s.back() = 7;  // not the pad id: the score reads the last row

  const auto t0 = std::chrono::steady_clock::now();
  auto model = Model::load(tmp.path(), {.n_threads = 2});
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto ours = (*model)->score_sequences(spans(seqs), {.max_tokens_per_batch = kTokens});
  ASSERT_TRUE(ours.is_ok()) << ours.status().message();

  const auto t1 = std::chrono::steady_clock::now();
  const nlohmann::json ref = run_reference({"score", "--model", tmp.path()}, seqs, tmp);
  const auto t2 = std::chrono::steady_clock::now();
  std::printf("[ 16K tokens ] synpref %.1f s, reference %.1f s\n",
              std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count());
  ASSERT_TRUE(ref.contains("scores"));
  ASSERT_EQ(ref["scores"].size(), seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    EXPECT_GT(ref["attn_chunks"][i].get<int>(), 0) << "the reference did not take its chunked path";
    const double t = ref["scores"][i].get<double>();
    EXPECT_LE(std::fabs((*ours)[i] - t), 1e-4 * std::max(1.0, std::fabs(t)))
        << "sequence " << i << ": ours " << (*ours)[i] << " torch " << t;
    std::printf(
        "[ 16K tokens ] sequence %zu (%zu tokens): ours %.6f torch %.6f |diff| %.3g (reference chunk %d "
        "rows)\n",
        i, seqs[i].size(), (*ours)[i], t, std::fabs((*ours)[i] - t), ref["attn_chunks"][i].get<int>());
  }
  // Different inputs must give different scores (a model whose output ignored its input would pass).
  EXPECT_GT(std::fabs((*ours)[0] - (*ours)[1]), 1e-3);
}
