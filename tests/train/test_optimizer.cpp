// AdamW + clipping against torch.optim.AdamW and clip_grad_norm_, schedules against transformers'
// formulas, and the state file (round trip, corruption).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "common/thread_pool.h"
#include "synpref/train/checkpoint.h"
#include "synpref/train/optimizer.h"
#include "train_test_util.h"

using namespace synpref;
using namespace synpref::train;
using namespace synpref::train::testing;

namespace {

// A layout whose tensors include a matrix (decayed) and a norm (not decayed), plus frozen layers.
model::ModelConfig micro_config() {
  auto c = tiny_config(model::Family::llama);
  c.vocab_size = 5;
  c.hidden_size = 4;
  c.intermediate_size = 6;
  c.n_head = 2;
  c.n_head_kv = 1;
  c.head_dim = 2;
  c.n_layer = 2;
  return c;
}

}  // namespace

TEST(AdamW, MatchesTorchAdamWWithClippingAndDecay) {
  if (!have_torch()) GTEST_SKIP() << "/usr/bin/python3 has no torch";
  const ParamLayout layout(micro_config(), false, 0);
  const size_t n = layout.size();
  std::mt19937_64 rng(1);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> params(n);
  for (auto& p : params) p = nd(rng);
  const int steps = 5;
  std::vector<std::vector<float>> grads(steps, std::vector<float>(n));
  for (auto& g : grads)
    for (auto& x : g) x = 0.3f * nd(rng);
  grads[2][0] = 50.0f;  // one step with a large norm: clipping engages
  const std::vector<double> lrs = {1e-2, 2e-2, 3e-2, 2e-2, 1e-2};
  AdamWOptions o;
  o.beta1 = 0.9, o.beta2 = 0.95, o.eps = 1e-8, o.weight_decay = 0.1;
  const double max_norm = 1.0;

  // torch: decay applies to every parameter of the group; here only matrices decay, so give torch
  // the decayed tensors' elements only by running two groups is overkill: compare the matrix
  // elements against torch with decay and the norm elements against torch without.
  TempDir tmp;
  auto run_torch = [&](double wd) {
    nlohmann::json spec;
    spec["params"] = params;
    spec["grads"] = grads;
    spec["lr"] = lrs;
    spec["beta1"] = o.beta1, spec["beta2"] = o.beta2, spec["eps"] = o.eps;
    spec["weight_decay"] = wd;
    spec["max_norm"] = max_norm;
    std::ofstream(tmp.file("in.json")) << spec.dump();
    const std::string cmd = "/usr/bin/python3 " + std::string(SYNPREF_SOURCE_DIR) +
                            "/tests/oracles/train_reference.py adamw --input " + tmp.file("in.json") +
                            " --output " + tmp.file("out.json");
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    nlohmann::json out;
    std::ifstream(tmp.file("out.json")) >> out;
    return out;
  };
  const nlohmann::json with_decay = run_torch(o.weight_decay), without = run_torch(0.0);

  std::vector<float> p = params, m(n, 0.0f), v(n, 0.0f);
  for (int s = 0; s < steps; ++s) {
    std::vector<float> g = grads[static_cast<size_t>(s)];
    const double norm = grad_norm(g);
    EXPECT_NEAR(norm, with_decay["norms"][static_cast<size_t>(s)].get<double>(), 1e-4 * norm);
    clip_grads(g, norm, max_norm);
    adamw_step(layout, p, g, m, v, static_cast<uint64_t>(s + 1), lrs[static_cast<size_t>(s)], o);
  }
  int decayed = 0, plain = 0;
  for (const ParamTensor& t : layout.tensors()) {
    const auto& ref = t.decay ? with_decay["params"] : without["params"];
    (t.decay ? decayed : plain) += 1;
    for (size_t i = t.offset; i < t.offset + t.size; ++i)
      EXPECT_NEAR(p[i], ref[i].get<double>(), 2e-6 * (1 + std::abs(p[i])))
          << t.name << " [" << i - t.offset << "]";
  }
  EXPECT_GT(decayed, 0);
  EXPECT_GT(plain, 0);
}

TEST(AdamW, FrozenTensorsAreUntouched) {
  const ParamLayout layout(micro_config(), true, 1);
  EXPECT_TRUE(layout.embeddings_frozen());
  std::vector<float> p(layout.size(), 1.0f), g(layout.n_trainable(), 1.0f), m(g.size(), 0.0f),
      v(g.size(), 0.0f);
  AdamWOptions o;
  o.weight_decay = 0.5;
  adamw_step(layout, p, g, m, v, 1, 0.1, o);
  for (const ParamTensor& t : layout.tensors()) {
    for (size_t i = t.offset; i < t.offset + t.size; ++i) {
      if (layout.trainable(t))
        EXPECT_NE(p[i], 1.0f) << t.name;
      else
        EXPECT_EQ(p[i], 1.0f) << t.name;
    }
  }
}

TEST(Schedule, WarmupThenLinearDecayConstantAndCosine) {
  // transformers: get_linear_schedule_with_warmup(warmup=10, total=110), step = updates done.
  EXPECT_DOUBLE_EQ(schedule_lr(Schedule::linear, 1.0, 0, 10, 110), 0.0);
  EXPECT_DOUBLE_EQ(schedule_lr(Schedule::linear, 1.0, 5, 10, 110), 0.5);
  EXPECT_DOUBLE_EQ(schedule_lr(Schedule::linear, 1.0, 10, 10, 110), 1.0);
  EXPECT_DOUBLE_EQ(schedule_lr(Schedule::linear, 1.0, 60, 10, 110), 0.5);
  EXPECT_DOUBLE_EQ(schedule_lr(Schedule::linear, 1.0, 110, 10, 110), 0.0);
  EXPECT_DOUBLE_EQ(schedule_lr(Schedule::constant, 2.0, 3, 10, 110), 0.6);
  EXPECT_DOUBLE_EQ(schedule_lr(Schedule::constant, 2.0, 50, 10, 110), 2.0);
  EXPECT_NEAR(schedule_lr(Schedule::cosine, 1.0, 60, 10, 110), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(schedule_lr(Schedule::linear, 1.0, 0, 0, 4), 1.0);
  EXPECT_DOUBLE_EQ(schedule_lr(Schedule::linear, 1.0, 3, 0, 4), 0.25);
  EXPECT_FALSE(parse_schedule("exponential").is_ok());
}

TEST(Clip, ScalesOnlyAboveTheThreshold) {
  std::vector<float> g = {3.0f, 4.0f};
  EXPECT_DOUBLE_EQ(grad_norm(g), 5.0);
  clip_grads(g, 5.0, 10.0);
  EXPECT_EQ(g[0], 3.0f);
  clip_grads(g, 5.0, 1.0);
  EXPECT_NEAR(g[0], 0.6f, 1e-6);
  EXPECT_NEAR(g[1], 0.8f, 1e-6);
}

TEST(TrainState, RoundTripAndCorruptionIsRefused) {
  TempDir tmp;
  TrainState st;
  st.step = 17, st.epoch = 2, st.cursor = 5, st.rng_state = 0xfedcba9876543210ull;
  st.tokens_seen = 12345, st.pairs_seen = 99, st.best_metric = 0.875, st.best_step = 10;
  st.options_fingerprint = hash128("options");
  st.log_sums = {1.0, 0.1, 1e-300, 3.5};
  st.files = {{"config.json", 812, hash128("config")}, {"model.safetensors", 1u << 30, hash128("weights")}};
  st.adam_m = {1.0f, -2.0f, 3.5f};
  st.adam_v = {0.25f, 0.5f, 1e-20f};
  const std::string path = tmp.file("state.bin");
  ASSERT_TRUE(save_train_state(path, st).is_ok());
  auto back = load_train_state(path, 3);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->step, 17u);
  EXPECT_EQ(back->epoch, 2u);
  EXPECT_EQ(back->cursor, 5u);
  EXPECT_EQ(back->rng_state, st.rng_state);
  EXPECT_EQ(back->best_metric, 0.875);
  EXPECT_EQ(back->options_fingerprint, st.options_fingerprint);
  EXPECT_EQ(back->log_sums, st.log_sums);
  ASSERT_EQ(back->files.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back->files[i].name, st.files[i].name);
    EXPECT_EQ(back->files[i].bytes, st.files[i].bytes);
    EXPECT_EQ(back->files[i].xxh3, st.files[i].xxh3);
  }
  EXPECT_EQ(back->adam_m, st.adam_m);
  EXPECT_EQ(back->adam_v, st.adam_v);

  EXPECT_FALSE(load_train_state(path, 4).is_ok());  // another model
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string flipped = bytes;
  flipped[flipped.size() - 12] ^= 1;  // one bit of a moment
  std::ofstream(tmp.file("flipped.bin"), std::ios::binary) << flipped;
  auto bad = load_train_state(tmp.file("flipped.bin"), 3);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("checksum"), std::string::npos) << bad.status().message();
  std::ofstream(tmp.file("cut.bin"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_FALSE(load_train_state(tmp.file("cut.bin"), 3).is_ok());
  std::ofstream(tmp.file("junk.bin"), std::ios::binary) << "not a state file at all, just text";
  EXPECT_FALSE(load_train_state(tmp.file("junk.bin"), 3).is_ok());
  // Version 1 (no checksums of the checkpoint's files) is refused with what to do.
  std::string v1 = bytes;
  v1[8] = 1;
  std::ofstream(tmp.file("v1.bin"), std::ios::binary) << v1;
  auto old = load_train_state(tmp.file("v1.bin"), 3);
  ASSERT_FALSE(old.is_ok());
  EXPECT_NE(old.status().message().find("version 1"), std::string::npos) << old.status().message();
  EXPECT_NE(old.status().message().find("reads version 2"), std::string::npos) << old.status().message();
  EXPECT_NE(old.status().message().find("`model_init`"), std::string::npos) << old.status().message();
}

// The training path (threads, sparse embedding rows, clipping fused) gives bitwise the reference's
// norm and parameters: rows outside the list have zero gradient and (until touched) zero moments.
TEST(AdamW, SparseThreadedPathIsBitwiseTheDenseReference) {
  auto c = micro_config();
  c.vocab_size = 300;  // embedding 300 x 4: chunks of the norm straddle the end of the embedding
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.head_dim = 8;
  const ParamLayout layout(c, false, 0);
  const size_t n = layout.size();
  std::mt19937_64 rng(5);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> p_ref(n);
  for (auto& p : p_ref) p = nd(rng);
  std::vector<float> p_fast = p_ref, m_ref(n, 0.0f), v_ref(n, 0.0f);
  ThreadPool pool(3);
  for (double wd : {0.0, 0.1}) {
    AdamWOptions o;
    o.weight_decay = wd;
    AdamW fast(layout, o, &pool);
    std::fill(m_ref.begin(), m_ref.end(), 0.0f);
    std::fill(v_ref.begin(), v_ref.end(), 0.0f);
    for (int step = 1; step <= 4; ++step) {
      std::vector<float> g(n);
      for (auto& x : g) x = nd(rng);
      // Embedding rows: only a few are "touched" this step; the others are exactly zero.
      std::vector<int32_t> rows;
      for (int32_t r = 0; r < 300; ++r) {
        if ((r * 7 + step * 13) % 11 == 0)
          rows.push_back(r);
        else
          std::fill(g.begin() + r * 16, g.begin() + (r + 1) * 16, 0.0f);
      }
      const double norm_ref = grad_norm(g);
      EXPECT_EQ(fast.grad_norm(g, &rows), norm_ref) << "step " << step;
      EXPECT_EQ(fast.grad_norm(g, nullptr), norm_ref);
      std::vector<float> g_ref = g;
      clip_grads(g_ref, norm_ref, 5.0);
      adamw_step(layout, p_ref, g_ref, m_ref, v_ref, static_cast<uint64_t>(step), 1e-2, o);
      fast.step(p_fast, g, &rows, static_cast<uint64_t>(step), 1e-2, clip_scale(norm_ref, 5.0));
      ASSERT_TRUE(p_fast == p_ref) << "parameters differ at step " << step << " (wd " << wd << ")";
      ASSERT_TRUE(fast.m == m_ref && fast.v == v_ref);
    }
  }
}
