// The trainable reward model: whole-model gradients against PyTorch autograd, prefix sharing,
// determinism, freezing, the training GEMMs against the reference, and checkpoints that the
// inference engine scores bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "synpref/model/model.h"
#include "synpref/model/safetensors.h"
#include "train_test_util.h"

using namespace synpref;
using namespace synpref::train;
using namespace synpref::train::testing;

namespace {

struct Named {
  const char* name;
  model::ModelConfig config;
};

std::vector<Named> oracle_configs() {
  std::vector<Named> out;
  {
    auto c = tiny_config(model::Family::qwen3);  // GQA 4/2, QK-norm, tied embeddings
    c.tie_word_embeddings = true;
    out.push_back({"qwen3_gqa_qknorm_tied", c});
  }
  {
    auto c = tiny_config(model::Family::qwen3);  // one kv head, q/k/v/o biases, untied
    c.n_head_kv = 1;
    c.attention_bias = true;
    c.tie_word_embeddings = false;
    out.push_back({"qwen3_mqa_bias_untied", c});
  }
  {
    auto c = tiny_config(model::Family::llama);  // GQA 4/2, llama3 RoPE scaling
    c.rope_scaling.type = model::RopeScaling::Type::llama3;
    c.rope_scaling.factor = 32.0;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 4.0;
    c.rope_scaling.original_max_position_embeddings = 8192;
    c.tie_word_embeddings = true;
    out.push_back({"llama_gqa_llama3rope_tied", c});
  }
  {
    auto c = tiny_config(model::Family::llama);  // MHA, attention + MLP biases, linear RoPE scaling, untied
    c.n_head_kv = 4;
    c.attention_bias = true;
    c.mlp_bias = true;
    c.rope_scaling.type = model::RopeScaling::Type::linear;
    c.rope_scaling.factor = 2.5;
    c.tie_word_embeddings = false;
    c.n_layer = 3;
    out.push_back({"llama_mha_biases_linearrope_untied", c});
  }
  return out;
}

void run_pairs(RewardModel& rm, const std::vector<TestPair>& pairs, bool share, PairOutputs* out) {
  const PairSet set = to_pair_set(pairs);
  PackedBatch batch;
  pack_pairs(batch, set, all_ids(set.size()), share, rm.config().pad_token_id);
  rm.zero_grad();
  rm.forward_backward(batch, 1.0f / static_cast<float>(pairs.size()), out);
}

double max_abs(std::span<const float> v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::abs(x)));
  return m;
}

}  // namespace

class TorchOracle : public ::testing::TestWithParam<int> {};

// The loss to 1e-5 and every parameter's gradient to 1e-4 (max abs difference over max abs value of
// the tensor's reference gradient), with and without prefix sharing.
TEST_P(TorchOracle, LossAndEveryGradientMatchAutograd) {
  if (!have_torch()) GTEST_SKIP() << "/usr/bin/python3 has no torch (apt-get install python3-torch)";
  const Named cfg = oracle_configs()[static_cast<size_t>(GetParam())];
  SCOPED_TRACE(cfg.name);
  TempDir tmp;
  const std::string dir = tmp.file("model");
  write_model(cfg.config, dir, 11 + static_cast<uint64_t>(GetParam()));
  const auto pairs =
      random_pairs(6, static_cast<int>(cfg.config.vocab_size), 100 + static_cast<uint64_t>(GetParam()));
  nlohmann::json jp;
  for (const auto& p : pairs)
    jp["pairs"].push_back(
        {{"prefix", p.prefix}, {"chosen", p.chosen}, {"rejected", p.rejected}, {"margin", p.margin}});
  std::ofstream(tmp.file("pairs.json")) << jp.dump();
  const std::string cmd = "/usr/bin/python3 " + std::string(SYNPREF_SOURCE_DIR) +
                          "/tests/oracles/train_reference.py grad --model " + dir + " --pairs " +
                          tmp.file("pairs.json") + " --output " + tmp.file("ref.json");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  nlohmann::json ref;
  std::ifstream(tmp.file("ref.json")) >> ref;

  auto rm = load_rm(dir);
  for (bool share : {true, false}) {
    SCOPED_TRACE(share ? "prefix shared" : "unshared");
    PairOutputs out;
    run_pairs(*rm, pairs, share, &out);
    double loss = 0;
    for (double l : out.losses) loss += l;
    loss /= static_cast<double>(pairs.size());
    const double ref_loss = ref["loss"].get<double>();
    EXPECT_NEAR(loss, ref_loss, 1e-5 * std::max(1.0, std::abs(ref_loss)));
    for (size_t p = 0; p < pairs.size(); ++p) {
      EXPECT_NEAR(out.r_chosen[p], ref["r_chosen"][p].get<double>(), 1e-5) << "pair " << p;
      EXPECT_NEAR(out.r_rejected[p], ref["r_rejected"][p].get<double>(), 1e-5) << "pair " << p;
    }
    const size_t base = rm->layout().trainable_begin();
    size_t checked = 0;
    for (const ParamTensor& t : rm->layout().tensors()) {
      ASSERT_TRUE(ref["grads"].contains(t.name)) << t.name;
      const auto& g_ref = ref["grads"][t.name];
      ASSERT_EQ(g_ref.size(), t.size) << t.name;
      double ref_max = 0, diff_max = 0;
      for (size_t i = 0; i < t.size; ++i) {
        const double r = g_ref[i].get<double>();
        const double g = rm->grads()[t.offset - base + i];
        ref_max = std::max(ref_max, std::abs(r));
        diff_max = std::max(diff_max, std::abs(g - r));
      }
      ASSERT_GT(ref_max, 0.0) << t.name << ": reference gradient is zero; the comparison would be vacuous";
      EXPECT_LE(diff_max / ref_max, 1e-4) << t.name << " max |diff| " << diff_max << " max |ref| " << ref_max;
      ++checked;
    }
    EXPECT_EQ(checked, rm->layout().tensors().size());
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, TorchOracle, ::testing::Range(0, 4));

// Prefix sharing computes the prompt once for both responses; rewards are bitwise those of the
// unshared computation (the forward is batch-invariant) and gradients agree to rounding.
TEST(RewardModel, PrefixSharingEqualsUnsharedComputation) {
  TempDir tmp;
  for (const auto& cfg : oracle_configs()) {
    SCOPED_TRACE(cfg.name);
    const std::string dir = tmp.file(cfg.name);
    write_model(cfg.config, dir);
    auto rm = load_rm(dir);
    const auto pairs = random_pairs(8, static_cast<int>(cfg.config.vocab_size), 5);
    PairOutputs shared, unshared;
    run_pairs(*rm, pairs, true, &shared);
    const std::vector<float> g_shared(rm->grads().begin(), rm->grads().end());
    run_pairs(*rm, pairs, false, &unshared);
    EXPECT_EQ(shared.r_chosen, unshared.r_chosen);
    EXPECT_EQ(shared.r_rejected, unshared.r_rejected);
    const double scale = max_abs(g_shared);
    ASSERT_GT(scale, 0.0);
    double diff = 0;
    for (size_t i = 0; i < g_shared.size(); ++i)
      diff = std::max(diff, std::abs(static_cast<double>(g_shared[i]) - rm->grads()[i]));
    EXPECT_LE(diff / scale, 1e-5);
  }
}

// Only the scored rows leave the last layer: the pruned computation gives the full computation's
// rewards bit for bit and its gradients to rounding, also when a score row lies in the shared
// prompt (empty or all-pad response) or two scores read the same row; it executes fewer FLOPs.
TEST(RewardModel, LastLayerPruningEqualsFullComputation) {
  TempDir tmp;
  for (const auto& cfg : oracle_configs()) {
    SCOPED_TRACE(cfg.name);
    const std::string dir = tmp.file(cfg.name);
    write_model(cfg.config, dir);
    auto pruned = load_rm(dir, 2, true);
    auto full = load_rm(dir, 2, false);
    const int32_t pad = static_cast<int32_t>(cfg.config.pad_token_id.value_or(0));
    auto pairs = random_pairs(7, static_cast<int>(cfg.config.vocab_size), 9, pad);
    pairs[4].chosen.clear();  // both scores of pair 4 read the prompt's last row
    pairs[4].rejected.clear();
    pairs[5].rejected.assign(3, pad);  // all pads: the score row falls back into the prompt
    for (bool share : {true, false}) {
      SCOPED_TRACE(share ? "prefix shared" : "unshared");
      PairOutputs out_pruned, out_full;
      run_pairs(*pruned, pairs, share, &out_pruned);
      run_pairs(*full, pairs, share, &out_full);
      EXPECT_EQ(out_pruned.r_chosen, out_full.r_chosen);
      EXPECT_EQ(out_pruned.r_rejected, out_full.r_rejected);
      const double scale = max_abs(full->grads());
      ASSERT_GT(scale, 0.0);
      double diff = 0;
      for (size_t i = 0; i < full->grads().size(); ++i)
        diff = std::max(diff, std::abs(static_cast<double>(pruned->grads()[i]) - full->grads()[i]));
      EXPECT_LE(diff / scale, 1e-6);
      const PairSet set = to_pair_set(pairs);
      PackedBatch batch;
      pack_pairs(batch, set, all_ids(set.size()), share, cfg.config.pad_token_id);
      EXPECT_LT(pruned->forward_flops(batch), full->forward_flops(batch));
    }
  }
}

// Fewer rows: the shared batch holds each prompt once.
TEST(RewardModel, SharedBatchHoldsThePromptOnce) {
  const auto pairs = random_pairs(4, 50, 3);
  const PairSet set = to_pair_set(pairs);
  PackedBatch shared, unshared;
  pack_pairs(shared, set, all_ids(4), true, 0);
  pack_pairs(unshared, set, all_ids(4), false, 0);
  int64_t prompt_rows = 0;
  for (const auto& p : pairs) prompt_rows += static_cast<int64_t>(p.prefix.size());
  EXPECT_EQ(unshared.n_rows() - shared.n_rows(), prompt_rows);
  EXPECT_EQ(shared.n_pairs(), 4);
  // Pair 1's chosen response ends with two pads: it is scored at the token before them.
  const int64_t row = shared.score_rows[2];
  EXPECT_NE(shared.ids[static_cast<size_t>(row)], 0);
  EXPECT_EQ(shared.ids[static_cast<size_t>(row + 1)], 0);
  // Pair 2's rejected response is empty: it is scored at the prompt's last token.
  EXPECT_EQ(shared.score_rows[5], shared.seqs[static_cast<size_t>(shared.groups[2].seq_begin)].row0 +
                                      static_cast<int64_t>(pairs[2].prefix.size()) - 1);
}

// Every gradient element is one fixed sequence of operations: the thread count and repetition do
// not change a single bit (resume and MPI equivalence rest on this).
TEST(RewardModel, GradientsAreBitwiseIndependentOfThreadCount) {
  TempDir tmp;
  const auto cfg = oracle_configs()[0];
  write_model(cfg.config, tmp.file("m"));
  const auto pairs = random_pairs(7, 97, 9);
  std::vector<float> first;
  for (int threads : {1, 2, 3, 2}) {
    auto rm = load_rm(tmp.file("m"), threads);
    PairOutputs out;
    run_pairs(*rm, pairs, true, &out);
    std::vector<float> g(rm->grads().begin(), rm->grads().end());
    if (first.empty())
      first = g;
    else
      EXPECT_TRUE(first == g) << threads << " threads";
  }
}

// Frozen lowest layers and embeddings: no gradient memory for them, and the trainable tensors'
// gradients are bitwise those of the unfrozen model.
TEST(RewardModel, FreezingLowestLayersKeepsUpperGradients) {
  TempDir tmp;
  auto c = oracle_configs()[3].config;  // 3 layers
  write_model(c, tmp.file("m"));
  const auto pairs = random_pairs(5, 97, 4);
  auto full = load_rm(tmp.file("m"));
  PairOutputs out_full, out_frozen;
  run_pairs(*full, pairs, true, &out_full);

  auto config = read_reward_config(tmp.file("m"));
  ASSERT_TRUE(config.is_ok());
  RewardModel::Options o;
  o.n_threads = 2;
  o.n_frozen_layers = 2;
  auto frozen = std::move(RewardModel::create(*config, o)).value();
  bool init = false;
  ASSERT_TRUE(load_hf_weights(tmp.file("m"), *frozen, 0, &init).is_ok());
  run_pairs(*frozen, pairs, true, &out_frozen);
  EXPECT_EQ(out_full.r_chosen, out_frozen.r_chosen);
  EXPECT_LT(frozen->grads().size(), full->grads().size());
  const ParamTensor* first_trainable = frozen->layout().find("model.layers.2.input_layernorm.weight");
  ASSERT_NE(first_trainable, nullptr);
  EXPECT_EQ(frozen->layout().trainable_begin(), first_trainable->offset);
  for (const ParamTensor& t : frozen->layout().tensors()) {
    if (!frozen->layout().trainable(t)) {
      EXPECT_TRUE(t.layer < 2) << t.name;
      continue;
    }
    for (size_t i = 0; i < t.size; ++i) {
      ASSERT_EQ(frozen->grads()[t.offset - frozen->layout().trainable_begin() + i],
                full->grads()[t.offset - full->layout().trainable_begin() + i])
          << t.name << "[" << i << "]";
    }
  }
  // Every layer frozen (the pruned last layer runs forward only): only the final norm and the score
  // head train, with the same gradients.
  o.n_frozen_layers = 3;
  auto head_only = std::move(RewardModel::create(*config, o)).value();
  ASSERT_TRUE(load_hf_weights(tmp.file("m"), *head_only, 0, &init).is_ok());
  PairOutputs out_head;
  run_pairs(*head_only, pairs, true, &out_head);
  EXPECT_EQ(out_full.r_chosen, out_head.r_chosen);
  EXPECT_EQ(out_full.r_rejected, out_head.r_rejected);
  size_t checked = 0;
  for (const ParamTensor& t : head_only->layout().tensors()) {
    if (!head_only->layout().trainable(t)) continue;
    ++checked;
    for (size_t i = 0; i < t.size; ++i)
      ASSERT_EQ(head_only->grads()[t.offset - head_only->layout().trainable_begin() + i],
                full->grads()[t.offset - full->layout().trainable_begin() + i])
          << t.name << "[" << i << "]";
  }
  EXPECT_EQ(checked, 2u);  // model.norm.weight, score.weight
}

// A checkpoint is a transformers folder the inference engine loads and scores bit for bit as the
// trainer does; loading it back restores every parameter bit for bit.
TEST(RewardModel, CheckpointRoundTripScoresIdenticallyInTheInferenceEngine) {
  TempDir tmp;
  for (const auto& cfg : oracle_configs()) {
    SCOPED_TRACE(cfg.name);
    write_model(cfg.config, tmp.file(std::string(cfg.name) + "_in"));
    auto rm = load_rm(tmp.file(std::string(cfg.name) + "_in"));
    // Perturb every parameter so the saved model is not the initial one.
    for (size_t i = 0; i < rm->params().size(); ++i)
      rm->params()[i] += 1e-3f * static_cast<float>((i * 7919) % 13) - 6e-3f;
    const std::string out = tmp.file(std::string(cfg.name) + "_out");
    ASSERT_TRUE(save_hf_folder(out, *rm, "").is_ok());
    nlohmann::json config;
    std::ifstream(out + "/config.json") >> config;
    EXPECT_EQ(config["architectures"][0], model::family_spec(cfg.config.family).arch_score);
    EXPECT_EQ(config["num_labels"], 1);
    EXPECT_EQ(config["pad_token_id"], 0);

    const auto pairs = random_pairs(6, static_cast<int>(cfg.config.vocab_size), 21);
    PairOutputs ours;
    const PairSet set = to_pair_set(pairs);
    PackedBatch batch;
    pack_pairs(batch, set, all_ids(set.size()), true, rm->config().pad_token_id);
    rm->forward(batch, &ours);

    for (int threads : {1, 2}) {
      model::LoadOptions lo;
      lo.n_threads = threads;
      auto engine = model::Model::load(out, lo);
      ASSERT_TRUE(engine.is_ok()) << engine.status().message();
      for (size_t p = 0; p < pairs.size(); ++p) {
        auto s = (*engine)->score(pairs[p].prefix, {pairs[p].chosen, pairs[p].rejected});
        ASSERT_TRUE(s.is_ok()) << s.status().message();
        EXPECT_EQ((*s)[0], ours.r_chosen[p]) << "pair " << p;
        EXPECT_EQ((*s)[1], ours.r_rejected[p]) << "pair " << p;
      }
    }
    auto back = load_rm(out);
    ASSERT_EQ(back->params().size(), rm->params().size());
    EXPECT_TRUE(std::equal(back->params().begin(), back->params().end(), rm->params().begin()));
  }
}

// A causal-LM folder gets the score head transformers would create: normal(0, initializer_range),
// the same stream the inference engine uses for init_score_head (so both score identically).
TEST(RewardModel, CausalLmInitializationCreatesTheScoreHead) {
  TempDir tmp;
  auto c = tiny_config(model::Family::llama);
  c.head = model::HeadKind::lm;
  c.architecture = model::family_spec(c.family).arch_lm;
  c.initializer_range = 0.02;
  model::InitOptions init;
  init.seed = 3;
  init.init_std = 0.02;
  ASSERT_TRUE(model::write_random_model(c, init, tmp.file("lm")).is_ok());
  auto config = read_reward_config(tmp.file("lm"));
  ASSERT_TRUE(config.is_ok());
  EXPECT_EQ(config->architecture, "LlamaForSequenceClassification");
  EXPECT_EQ(config->num_labels, 1);
  auto rm = std::move(RewardModel::create(*config, {})).value();
  bool score_init = false;
  ASSERT_TRUE(load_hf_weights(tmp.file("lm"), *rm, 42, &score_init).is_ok());
  EXPECT_TRUE(score_init);
  const ParamTensor* score = rm->layout().find("score.weight");
  ASSERT_NE(score, nullptr);
  double ss = 0;
  for (size_t i = 0; i < score->size; ++i) ss += std::pow(rm->params()[score->offset + i], 2);
  const double std_dev = std::sqrt(ss / static_cast<double>(score->size));
  EXPECT_GT(std_dev, 0.01);
  EXPECT_LT(std_dev, 0.04);

  model::LoadOptions lo;
  lo.init_score_head = true;
  lo.score_head_seed = 42;
  auto engine = model::Model::load(tmp.file("lm"), lo);
  ASSERT_TRUE(engine.is_ok()) << engine.status().message();
  const auto pairs = random_pairs(3, 97, 8);
  PairOutputs ours;
  const PairSet set = to_pair_set(pairs);
  PackedBatch batch;
  pack_pairs(batch, set, all_ids(set.size()), true, rm->config().pad_token_id);
  rm->forward(batch, &ours);
  for (size_t p = 0; p < pairs.size(); ++p) {
    auto s = (*engine)->score(pairs[p].prefix, {pairs[p].chosen, pairs[p].rejected});
    ASSERT_TRUE(s.is_ok());
    EXPECT_EQ((*s)[0], ours.r_chosen[p]);
    EXPECT_EQ((*s)[1], ours.r_rejected[p]);
  }
}

TEST(RewardModel, LoadRefusesMismatchedCheckpoints) {
  TempDir tmp;
  auto c = tiny_config(model::Family::qwen3);
  write_model(c, tmp.file("m"));
  auto bigger = c;
  bigger.hidden_size = 48;
  auto rm = std::move(RewardModel::create(bigger, {})).value();
  bool init = false;
  const Status s = load_hf_weights(tmp.file("m"), *rm, 0, &init);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("model.embed_tokens.weight"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("shape"), std::string::npos) << s.message();
  const Status missing = load_hf_weights(tmp.file("nowhere"), *rm, 0, &init);
  EXPECT_FALSE(missing.is_ok());
}

// A base-model folder (LlamaModel.save_pretrained: no "model." prefix, no head) initializes the
// same body, with a new score head.
TEST(RewardModel, BaseModelFolderWithoutPrefixLoads) {
  TempDir tmp;
  auto c = tiny_config(model::Family::llama);
  write_model(c, tmp.file("rm"));
  // Rewrite the weights without the "model." prefix and without score.weight; config: LlamaModel.
  auto file = model::SafetensorsFile::open(tmp.file("rm") + "/model.safetensors");
  ASSERT_TRUE(file.is_ok());
  std::vector<model::TensorToWrite> tensors;
  for (const auto& t : (*file)->header().tensors) {
    if (t.name == "score.weight") continue;
    tensors.push_back(
        {t.name.substr(6), t.dtype, t.shape,
         std::string_view(reinterpret_cast<const char*>((*file)->tensor_data(t)), t.end - t.begin)});
  }
  std::filesystem::create_directories(tmp.file("base"));
  ASSERT_TRUE(model::write_safetensors(tmp.file("base") + "/model.safetensors", tensors).is_ok());
  auto base_config = c;
  base_config.head = model::HeadKind::none;
  base_config.architecture = "LlamaModel";
  std::ofstream(tmp.file("base") + "/config.json") << model::model_config_to_json(base_config);

  auto config = read_reward_config(tmp.file("base"));
  ASSERT_TRUE(config.is_ok()) << config.status().message();
  auto rm = std::move(RewardModel::create(*config, {})).value();
  bool score_init = false;
  const Status s = load_hf_weights(tmp.file("base"), *rm, 5, &score_init);
  ASSERT_TRUE(s.is_ok()) << s.message();
  EXPECT_TRUE(score_init);
  auto full = load_rm(tmp.file("rm"));
  for (const ParamTensor& t : rm->layout().tensors()) {
    if (t.role == model::TensorRole::score) continue;
    EXPECT_TRUE(std::equal(rm->params().begin() + t.offset, rm->params().begin() + t.offset + t.size,
                           full->params().begin() + t.offset))
        << t.name;
  }
}
