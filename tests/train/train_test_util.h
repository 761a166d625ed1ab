// Helpers shared by the training tests: tiny random models, random pairs, the PyTorch oracle.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "synpref/model/init.h"
#include "synpref/train/checkpoint.h"
#include "synpref/train/data.h"
#include "synpref/train/reward_model.h"
#include "test_util.h"

namespace synpref::train::testing {

using synpref::testing::TempDir;

// Tiny configs covering both families: GQA, QK-norm, tied/untied, biases, RoPE scaling.
inline model::ModelConfig tiny_config(model::Family family) {
  model::ModelConfig c;
  c.family = family;
  c.head = model::HeadKind::score;
  const model::FamilySpec& spec = model::family_spec(family);
  c.architecture = spec.arch_score;
  c.qk_norm = spec.qk_norm;
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = family == model::Family::qwen3 ? 16 : 8;
  c.rms_norm_eps = family == model::Family::qwen3 ? 1e-6 : 1e-5;
  c.rope_theta = family == model::Family::qwen3 ? 1000000.0 : 500000.0;
  c.max_position_embeddings = 4096;
  c.num_labels = 1;
  c.pad_token_id = 0;
  return c;
}

// A random model folder: weights normal(0, 0.2) (large enough for non-trivial attention), norm
// weights 1 + normal(0, 0.1), biases normal(0, 0.1).
inline void write_model(const model::ModelConfig& c, const std::string& dir, uint64_t seed = 7) {
  model::InitOptions init;
  init.seed = seed;
  init.init_std = 0.2;
  init.norm_jitter = 0.1;
  init.bias_std = 0.1;
  const Status s = model::write_random_model(c, init, dir);
  ASSERT_TRUE(s.is_ok()) << s.message();
}

struct TestPair {
  std::vector<int32_t> prefix, chosen, rejected;
  float margin = 0;
};

// Random pairs with prompts of 3..9 tokens and responses of 1..7 tokens, margins in {0, +-x};
// one response ends with pad tokens (pooling), one pair has an empty response (score read at the
// prompt's last token).
inline std::vector<TestPair> random_pairs(int n, int vocab, uint64_t seed, int32_t pad = 0) {
  std::mt19937_64 rng(seed);
  auto tokens = [&](int lo, int hi) {
    std::vector<int32_t> v(
        static_cast<size_t>(lo + static_cast<int>(rng() % static_cast<uint64_t>(hi - lo + 1))));
    for (auto& t : v) t = 1 + static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab - 1));
    return v;
  };
  std::vector<TestPair> pairs;
  for (int i = 0; i < n; ++i) {
    TestPair p{tokens(3, 9), tokens(1, 7), tokens(1, 7), 0.0f};
    if (i % 3 == 1) p.margin = 0.25f * static_cast<float>(1 + i % 4);
    if (i % 3 == 2) p.margin = -0.5f;
    pairs.push_back(std::move(p));
  }
  if (n > 1) pairs[1].chosen.insert(pairs[1].chosen.end(), {pad, pad});
  if (n > 2) pairs[2].rejected.clear();
  return pairs;
}

inline PairSet to_pair_set(const std::vector<TestPair>& pairs) {
  PairSet s;
  for (const auto& p : pairs) s.add(p.prefix, p.chosen, p.rejected, p.margin);
  return s;
}

inline std::vector<uint32_t> all_ids(size_t n) {
  std::vector<uint32_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = static_cast<uint32_t>(i);
  return ids;
}

inline std::unique_ptr<RewardModel> load_rm(const std::string& dir, int threads = 2,
                                            bool prune_last_layer = true) {
  auto config = read_reward_config(dir);
  EXPECT_TRUE(config.is_ok()) << config.status().message();
  RewardModel::Options o;
  o.n_threads = threads;
  o.prune_last_layer = prune_last_layer;
  auto rm = RewardModel::create(*config, o);
  EXPECT_TRUE(rm.is_ok()) << rm.status().message();
  bool score_init = false;
  const Status s = load_hf_weights(dir, **rm, 0, &score_init);
  EXPECT_TRUE(s.is_ok()) << s.message();
  return std::move(rm).value();
}

inline bool have_torch() {
  return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

}  // namespace synpref::train::testing
