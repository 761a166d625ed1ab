// The engine's pruned last layer (ScoreOptions::prune_last_layer, on by default): only the scored
// rows leave the last layer, and their scores are bitwise those of the full computation, for both
// families, shared-prefix groups with several responses, score rows inside the prompt (empty and
// all-pad responses: transformers' pooling picks the last non-pad token), several scores on one
// row, batches split by max_tokens_per_batch, and any thread count.
#include <cstring>

#include "model_test_util.h"

using namespace synpref::model;
using namespace synpref::model::testing;

namespace {

bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, 4) == 0;
}

class Pruning : public ::testing::TestWithParam<Family> {
 protected:
  void SetUp() override {
    ModelConfig c = tiny_config(GetParam());
    c.n_layer = 3;
    // Biases on the projections the pruned layer splits (q vs k/v columns of the fused qkv).
    c.attention_bias = true;
    if (GetParam() == Family::llama) c.mlp_bias = true;
    config_ = c;
    ASSERT_TRUE(write_random_model(c, test_init(91), dir_.path()).is_ok());
  }
  std::unique_ptr<Model> load(int threads) {
    auto m = Model::load(dir_.path(), {.n_threads = threads});
    EXPECT_TRUE(m.is_ok()) << m.status().message();
    return m.is_ok() ? std::move(m).value() : nullptr;
  }
  TempDir dir_;
  ModelConfig config_;
};

}  // namespace

TEST_P(Pruning, ScoresEqualTheFullComputationBitwise) {
  const int32_t pad = static_cast<int32_t>(*config_.pad_token_id);
  // Ids below the pad id, so that only the responses built with pads below contain it.
  const auto contexts = random_sequences(6, 1, 120, pad, 11);
  const auto bodies = random_sequences(12, 1, 90, pad, 12);
  std::vector<std::vector<int32_t>> owned;  // responses, kept alive for the spans
  owned.reserve(64);
  std::vector<std::vector<size_t>> group_responses(contexts.size() + 1);
  auto add = [&](size_t g, std::vector<int32_t> r) {
    owned.push_back(std::move(r));
    group_responses[g].push_back(owned.size() - 1);
  };
  for (size_t g = 0; g < contexts.size(); ++g) {
    add(g, bodies[g]);
    add(g, bodies[g + 6]);
    add(g, {});                             // empty: the score row is the prompt's last
    add(g, {pad, pad});                     // all pad: the same row again (two scores on one row)
    add(g, {bodies[g][0], pad, pad, pad});  // trailing pads: the score row is inside the response
  }
  // One group without context: independent sequences.
  const size_t no_ctx = contexts.size();
  add(no_ctx, bodies[0]);
  add(no_ctx, {bodies[1][0], pad});

  std::vector<ScoreGroup> groups;
  for (size_t g = 0; g < group_responses.size(); ++g) {
    ScoreGroup grp;
    if (g < contexts.size()) grp.context = contexts[g];
    for (size_t i : group_responses[g]) grp.responses.push_back(owned[i]);
    groups.push_back(grp);
  }

  auto full_model = load(1);
  ASSERT_TRUE(full_model);
  auto full = full_model->score_groups(groups, {.max_tokens_per_batch = 100000, .prune_last_layer = false});
  ASSERT_TRUE(full.is_ok()) << full.status().message();
  // The unpruned scores are also the scores of each context + response scored alone.
  for (size_t g = 0; g < contexts.size(); ++g) {
    std::vector<int32_t> seq = contexts[g];
    const auto& r0 = owned[group_responses[g][0]];
    seq.insert(seq.end(), r0.begin(), r0.end());
    auto alone = full_model->score_sequences({seq}, {.prune_last_layer = false});
    ASSERT_TRUE(alone.is_ok());
    EXPECT_TRUE(same_bits((*alone)[0], (*full)[g][0])) << "group " << g;
  }

  for (int threads : {1, 3}) {
    auto model = load(threads);
    ASSERT_TRUE(model);
    for (int64_t max_tokens : {int64_t{100000}, int64_t{150}, int64_t{40}}) {
      auto pruned =
          model->score_groups(groups, {.max_tokens_per_batch = max_tokens, .prune_last_layer = true});
      ASSERT_TRUE(pruned.is_ok()) << pruned.status().message();
      ASSERT_EQ(pruned->size(), full->size());
      for (size_t g = 0; g < groups.size(); ++g) {
        ASSERT_EQ((*pruned)[g].size(), (*full)[g].size());
        for (size_t i = 0; i < (*full)[g].size(); ++i) {
          EXPECT_TRUE(same_bits((*pruned)[g][i], (*full)[g][i]))
              << "threads " << threads << " max_tokens " << max_tokens << " group " << g << " response " << i
              << ": " << (*pruned)[g][i] << " vs " << (*full)[g][i];
        }
      }
      // The default is the pruned path.
      auto by_default = model->score_groups(groups, {.max_tokens_per_batch = max_tokens});
      ASSERT_TRUE(by_default.is_ok());
      EXPECT_EQ(*by_default, *pruned);
    }
  }
  // Scores on a row inside the prompt are the prompt's own score (empty response) for both paths.
  for (size_t g = 0; g < contexts.size(); ++g) EXPECT_TRUE(same_bits((*full)[g][2], (*full)[g][3]));
}

INSTANTIATE_TEST_SUITE_P(Families, Pruning, ::testing::Values(Family::qwen3, Family::llama),
                         [](const auto& info) { return std::string(family_spec(info.param).model_type); });
