// Batch invariance and exact prefix sharing, asserted bitwise.
//  - A sequence's score is the same bits whatever it is batched/packed with, in any order, with any
//    max_tokens_per_batch, thread count, or kernel build (avx512/avx2/generic).
//  - score(context, responses)[i] is the same bits as scoring context + responses[i] alone.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "kernels/kernels.h"
#include "model_test_util.h"

using namespace synpref::model;
using namespace synpref::model::testing;

namespace {

bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, 4) == 0;
}

std::vector<int32_t> concat(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  std::vector<int32_t> out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

class Invariance : public ::testing::TestWithParam<Family> {
 protected:
  void SetUp() override {
    ModelConfig c = tiny_config(GetParam());
    c.n_layer = 3;
    if (GetParam() == Family::llama) {
      c.rope_scaling.type = RopeScaling::Type::llama3;
      c.rope_scaling.factor = 8.0;
      c.rope_scaling.original_max_position_embeddings = 64;
    }
    config_ = c;
    ASSERT_TRUE(write_random_model(c, test_init(77), dir_.path()).is_ok());
  }
  std::unique_ptr<Model> load(int threads, const std::string& kernels = "auto") {
    auto m = Model::load(dir_.path(), {.n_threads = threads, .kernels = kernels});
    EXPECT_TRUE(m.is_ok()) << m.status().message();
    return m.is_ok() ? std::move(m).value() : nullptr;
  }
  TempDir dir_;
  ModelConfig config_;
};

}  // namespace

TEST_P(Invariance, ScoreDoesNotDependOnBatchCompanionsOrderOrThreads) {
  auto seqs = random_sequences(24, 1, 200, config_.vocab_size, 3);
  seqs.push_back(std::vector<int32_t>(300, 5));  // longer than several attention blocks
  auto model = load(1);
  ASSERT_TRUE(model);
  // Reference: each sequence alone, one thread.
  std::vector<float> alone;
  for (const auto& s : seqs) {
    auto r = model->score_sequences({s});
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    alone.push_back((*r)[0]);
  }
  const auto fillers = random_sequences(10, 1, 150, config_.vocab_size, 4);
  std::mt19937 rng(9);
  for (int threads : {1, 2, 3}) {
    auto m = load(threads);
    ASSERT_TRUE(m);
    for (int64_t max_tokens : {int64_t{64}, int64_t{333}, int64_t{100000}}) {
      // Shuffled, interleaved with filler sequences.
      std::vector<size_t> order(seqs.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      std::vector<std::vector<int32_t>> batch;
      std::vector<int> which;
      for (size_t k = 0; k < order.size(); ++k) {
        batch.push_back(seqs[order[k]]);
        which.push_back(static_cast<int>(order[k]));
        if (k % 3 == 0) {
          batch.push_back(fillers[k % fillers.size()]);
          which.push_back(-1);
        }
      }
      auto r = m->score_sequences(spans(batch), {.max_tokens_per_batch = max_tokens});
      ASSERT_TRUE(r.is_ok()) << r.status().message();
      for (size_t k = 0; k < batch.size(); ++k) {
        if (which[k] < 0) continue;
        ASSERT_TRUE(same_bits((*r)[k], alone[static_cast<size_t>(which[k])]))
            << "threads " << threads << " max_tokens " << max_tokens << " sequence " << which[k] << ": "
            << (*r)[k] << " vs alone " << alone[static_cast<size_t>(which[k])];
      }
    }
  }
}

// The pooled hidden state (curation embeddings) is the row the score head reads: hidden_size
// floats, the same bits whatever it is batched with, and different for different sequences.
TEST_P(Invariance, PooledHiddenIsBatchInvariant) {
  auto seqs = random_sequences(12, 1, 120, config_.vocab_size, 5);
  auto model = load(2);
  ASSERT_TRUE(model);
  std::vector<std::span<const int32_t>> all(seqs.begin(), seqs.end());
  auto together = model->pooled_hidden(all, {.max_tokens_per_batch = 200});
  ASSERT_TRUE(together.is_ok()) << together.status().message();
  ASSERT_EQ(together->size(), seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    auto alone = model->pooled_hidden({seqs[i]});
    ASSERT_TRUE(alone.is_ok());
    ASSERT_EQ((*alone)[0].size(), size_t(config_.hidden_size));
    ASSERT_EQ((*together)[i].size(), size_t(config_.hidden_size));
    EXPECT_EQ(std::memcmp((*alone)[0].data(), (*together)[i].data(), 4 * (*alone)[0].size()), 0)
        << "sequence " << i;
    if (i > 0 && seqs[i] != seqs[i - 1]) {
      EXPECT_NE((*together)[i], (*together)[i - 1]);
    }
  }
}

TEST_P(Invariance, KernelBuildsGiveIdenticalScores) {
  const auto seqs = random_sequences(12, 1, 180, config_.vocab_size, 8);
  std::vector<float> first;
  for (const auto& name : synpref::kernels::supported_kernels()) {
    auto m = load(2, name);
    ASSERT_TRUE(m);
    auto r = m->score_sequences(spans(seqs));
    ASSERT_TRUE(r.is_ok());
    if (first.empty()) first = *r;
    for (size_t i = 0; i < seqs.size(); ++i)
      ASSERT_TRUE(same_bits((*r)[i], first[i])) << name << " sequence " << i;
  }
}

TEST_P(Invariance, PrefixSharingEqualsFullSequencesBitwise) {
  auto model = load(2);
  ASSERT_TRUE(model);
  std::mt19937 rng(21);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(config_.vocab_size - 2));
  auto make = [&](int n) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (auto& t : v) t = tok(rng);
    return v;
  };
  for (int ctx_len : {0, 1, 17, 63, 64, 65, 150}) {
    const auto context = make(ctx_len);
    std::vector<std::vector<int32_t>> responses;
    for (int r_len : {1, 5, 64, 100, 0}) {
      if (ctx_len == 0 && r_len == 0) continue;
      responses.push_back(make(r_len));
    }
    auto shared = model->score(context, spans(responses));
    ASSERT_TRUE(shared.is_ok()) << shared.status().message();
    for (size_t i = 0; i < responses.size(); ++i) {
      auto full = model->score_sequences({concat(context, responses[i])});
      ASSERT_TRUE(full.is_ok());
      ASSERT_TRUE(same_bits((*shared)[i], (*full)[0]))
          << "context " << ctx_len << " response " << responses[i].size() << ": shared " << (*shared)[i]
          << " full " << (*full)[0];
    }
    // A group split across batches (max_tokens smaller than the group) recomputes the context: same bits.
    auto split = model->score(context, spans(responses), {.max_tokens_per_batch = ctx_len + 70});
    ASSERT_TRUE(split.is_ok());
    for (size_t i = 0; i < responses.size(); ++i) ASSERT_TRUE(same_bits((*split)[i], (*shared)[i]));
  }
}

TEST_P(Invariance, GroupsPackedTogetherKeepTheirScores) {
  auto model = load(2);
  ASSERT_TRUE(model);
  const auto contexts = random_sequences(5, 1, 120, config_.vocab_size, 31);
  const auto responses = random_sequences(15, 1, 60, config_.vocab_size, 32);
  std::vector<ScoreGroup> groups;
  for (size_t g = 0; g < contexts.size(); ++g) {
    ScoreGroup grp{contexts[g], {}};
    for (size_t r = 0; r < 3; ++r) grp.responses.push_back(responses[g * 3 + r]);
    groups.push_back(grp);
  }
  for (int64_t max_tokens : {int64_t{50}, int64_t{200}, int64_t{10000}}) {
    auto all = model->score_groups(groups, {.max_tokens_per_batch = max_tokens});
    ASSERT_TRUE(all.is_ok());
    for (size_t g = 0; g < groups.size(); ++g) {
      for (size_t r = 0; r < 3; ++r) {
        auto full = model->score_sequences({concat(contexts[g], responses[g * 3 + r])});
        ASSERT_TRUE(same_bits((*all)[g][r], (*full)[0]))
            << "group " << g << " response " << r << " max " << max_tokens;
      }
    }
  }
}

TEST_P(Invariance, ConcurrentCallersGetTheSameScores) {
  auto model = load(2);
  ASSERT_TRUE(model);
  const auto seqs = random_sequences(6, 10, 120, config_.vocab_size, 41);
  auto expected = model->score_sequences(spans(seqs));
  ASSERT_TRUE(expected.is_ok());
  std::vector<std::thread> callers;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep) {
        auto r = model->score_sequences({seqs[static_cast<size_t>((t + rep) % 6)]});
        if (!r.is_ok() || !same_bits((*r)[0], (*expected)[static_cast<size_t>((t + rep) % 6)])) ++mismatches;
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(mismatches.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Families, Invariance, ::testing::Values(Family::qwen3, Family::llama),
                         [](const auto& info) { return std::string(family_spec(info.param).model_type); });

TEST(LongContext, PrefixSharingAt16kTokensIsExact) {
  // Positions up to 16383 (RoPE tables grow, many attention blocks): a 16,384-token sequence scored
  // whole equals its 16,000-token context + 384-token response scored with prefix sharing.
  TempDir dir;
  ModelConfig c = tiny_config(Family::qwen3);
  c.n_layer = 1;
  c.max_position_embeddings = 40960;
  ASSERT_TRUE(write_random_model(c, test_init(5), dir.path()).is_ok());
  auto model = Model::load(dir.path(), {.n_threads = 2});
  ASSERT_TRUE(model.is_ok());
  const auto seq = random_sequences(1, 16384, 16384, c.vocab_size - 1, 6)[0];
  auto whole = (*model)->score_sequences({seq}, {.max_tokens_per_batch = 16384});
  ASSERT_TRUE(whole.is_ok()) << whole.status().message();
  const std::vector<int32_t> context(seq.begin(), seq.begin() + 16000),
      response(seq.begin() + 16000, seq.end());
  auto shared = (*model)->score(context, {response}, {.max_tokens_per_batch = 16384});
  ASSERT_TRUE(shared.is_ok());
  EXPECT_TRUE(same_bits((*whole)[0], (*shared)[0])) << (*whole)[0] << " vs " << (*shared)[0];
  EXPECT_TRUE(std::isfinite((*whole)[0]));
}
