// config.json parsing: real configs (as published for Qwen3-0.6B, Llama-3.2-1B, Skywork-style RMs),
// transformers' defaults, and contradictory or unsupported configs refused with the field named.
#include <gtest/gtest.h>

#include "synpref/model/config.h"

using namespace synpref::model;

namespace {

const char* kQwen3_0_6B = R"({
  "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
  "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3072,
  "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
  "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.51.0",
  "use_cache": true, "use_sliding_window": false, "vocab_size": 151936})";

const char* kLlama32_1B_RM = R"({
  "architectures": ["LlamaForSequenceClassification"], "attention_bias": false, "bos_token_id": 128000,
  "eos_token_id": [128001, 128008, 128009], "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048,
  "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 16, "num_key_value_heads": 8, "pad_token_id": 128256, "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "vocab_size": 128257})";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

void expect_refused(const std::string& json, const std::string& needle) {
  auto r = parse_model_config(json, "dir/config.json");
  ASSERT_FALSE(r.is_ok()) << "accepted config; expected: " << needle;
  EXPECT_NE(r.status().message().find("dir/config.json"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

}  // namespace

TEST(Config, Qwen3_0_6B) {
  auto r = parse_model_config(kQwen3_0_6B, "config.json");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const ModelConfig& c = *r;
  EXPECT_EQ(c.family, Family::qwen3);
  EXPECT_EQ(c.head, HeadKind::lm);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.q_dim(), 2048);
  EXPECT_EQ(c.kv_dim(), 1024);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::none);
  EXPECT_EQ(c.n_matmul_params(), 28LL * (1024 * 4096 + 2048 * 1024 + 3 * 1024 * 3072));
}

TEST(Config, Llama32RewardModel) {
  auto r = parse_model_config(kLlama32_1B_RM, "config.json");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->head, HeadKind::score);
  EXPECT_FALSE(r->qk_norm);
  EXPECT_EQ(r->num_labels, 1);
  EXPECT_EQ(r->pad_token_id, 128256);
  EXPECT_EQ(r->eos_token_id, 128001);  // first of the list
  EXPECT_EQ(r->rope_scaling.type, RopeScaling::Type::llama3);
  EXPECT_EQ(r->rope_scaling.factor, 32.0);
  EXPECT_EQ(r->rope_scaling.original_max_position_embeddings, 8192);
}

TEST(Config, DefaultsFollowTransformers) {
  auto r = parse_model_config(R"({"model_type": "llama", "hidden_size": 256, "num_attention_heads": 8})",
                              "c.json");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->architecture, "LlamaModel");
  EXPECT_EQ(r->head, HeadKind::none);
  EXPECT_EQ(r->head_dim, 32);       // hidden / heads
  EXPECT_EQ(r->n_head_kv, 8);       // = heads
  EXPECT_EQ(r->vocab_size, 32000);  // LlamaConfig default
  EXPECT_EQ(r->num_labels, 2);      // PretrainedConfig default without id2label
  EXPECT_FALSE(r->tie_word_embeddings);
  auto q = parse_model_config(
      R"({"architectures": ["Qwen3ForSequenceClassification"], "hidden_size": 64, "num_attention_heads": 2, "num_labels": 1})",
      "c.json");
  ASSERT_TRUE(q.is_ok()) << q.status().message();
  EXPECT_EQ(q->head_dim, 128);  // Qwen3Config default, independent of hidden_size
}

TEST(Config, NewStyleRopeParameters) {
  auto r = parse_model_config(
      R"({"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_attention_heads":4,
          "rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,"low_freq_factor":1.0,
                             "high_freq_factor":4.0,"original_max_position_embeddings":8192}})",
      "c.json");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->rope_theta, 500000.0);
  EXPECT_EQ(r->rope_scaling.type, RopeScaling::Type::llama3);
}

TEST(Config, ContradictionsAndUnsupportedFeaturesAreRefused) {
  const std::string q = kQwen3_0_6B, l = kLlama32_1B_RM;
  expect_refused("{", "not valid JSON");
  expect_refused("[]", "not a JSON object");
  expect_refused("{}", "neither");
  expect_refused(replace(q, "Qwen3ForCausalLM", "MistralForCausalLM"), "not supported");
  expect_refused(replace(q, "\"model_type\": \"qwen3\"", "\"model_type\": \"llama\""), "contradictory");
  expect_refused(replace(q, "\"model_type\": \"qwen3\"", "\"model_type\": \"gemma\""), "not supported");
  expect_refused(replace(q, "\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5"), "not a multiple");
  expect_refused(replace(q, "\"hidden_size\": 1024", "\"hidden_size\": \"1024\""), "hidden_size");
  expect_refused(replace(q, "\"hidden_size\": 1024", "\"hidden_size\": -4"), "hidden_size");
  expect_refused(replace(q, "\"hidden_size\": 1024", "\"hidden_size\": 1e300"), "hidden_size");
  expect_refused(replace(q, "\"head_dim\": 128", "\"head_dim\": 127"), "even");
  expect_refused(replace(q, "\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": 0"), "rms_norm_eps");
  expect_refused(replace(q, "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\""), "hidden_act");
  expect_refused(replace(q, "\"use_sliding_window\": false", "\"use_sliding_window\": true"), "sliding");
  expect_refused(
      replace(q, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}"),
      "yarn");
  expect_refused(
      replace(q, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 4.0}"),
      "low_freq_factor");
  expect_refused(replace(q, "\"rope_theta\": 1000000", "\"rope_theta\": -1"), "rope_theta");
  expect_refused(replace(q, "\"use_cache\": true", "\"quantization_config\": {\"bits\": 4}"), "quantiz");
  expect_refused(replace(q, "\"use_cache\": true", "\"layer_types\": [\"sliding_attention\"]"),
                 "layer_types");
  expect_refused(replace(l, "\"id2label\": {\"0\": \"LABEL_0\"}",
                         "\"id2label\": {\"0\": \"LABEL_0\"}, \"num_labels\": 3"),
                 "contradictory");
  expect_refused(replace(l, "\"pad_token_id\": 128256", "\"pad_token_id\": -1"), "pad_token_id");
}

TEST(Config, HeadDimFallbackNeedsDivisibleHidden) {
  auto ok =
      parse_model_config(R"({"model_type":"llama","hidden_size":96,"num_attention_heads":4})", "c.json");
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ(ok->head_dim, 24);
  auto bad =
      parse_model_config(R"({"model_type":"llama","hidden_size":100,"num_attention_heads":3})", "c.json");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("head_dim is not given"), std::string::npos);
}

TEST(Config, RoundTripsThroughJson) {
  for (const char* text : {kQwen3_0_6B, kLlama32_1B_RM}) {
    auto a = parse_model_config(text, "a.json");
    ASSERT_TRUE(a.is_ok());
    auto b = parse_model_config(model_config_to_json(*a), "b.json");
    ASSERT_TRUE(b.is_ok()) << b.status().message();
    EXPECT_EQ(a->architecture, b->architecture);
    EXPECT_EQ(a->head_dim, b->head_dim);
    EXPECT_EQ(a->n_head_kv, b->n_head_kv);
    EXPECT_EQ(a->rope_scaling.type, b->rope_scaling.type);
    EXPECT_EQ(a->rope_scaling.factor, b->rope_scaling.factor);
    EXPECT_EQ(a->tie_word_embeddings, b->tie_word_embeddings);
    EXPECT_EQ(a->pad_token_id, b->pad_token_id);
    EXPECT_EQ(a->rms_norm_eps, b->rms_norm_eps);
    EXPECT_EQ(a->num_labels, b->num_labels);
  }
}

TEST(Config, TensorNameTable) {
  auto r = parse_model_config(kQwen3_0_6B, "c.json");
  ASSERT_TRUE(r.is_ok());
  ModelConfig c = *r;
  c.attention_bias = true;
  const auto t = checkpoint_tensors(c);
  auto find = [&](const std::string& name) -> const CheckpointTensor* {
    for (const auto& x : t)
      if (x.name == name) return &x;
    return nullptr;
  };
  ASSERT_NE(find("model.embed_tokens.weight"), nullptr);
  EXPECT_EQ(find("model.embed_tokens.weight")->shape, (std::vector<int64_t>{151936, 1024}));
  ASSERT_NE(find("model.layers.27.self_attn.q_proj.weight"), nullptr);
  EXPECT_EQ(find("model.layers.27.self_attn.q_proj.weight")->shape, (std::vector<int64_t>{2048, 1024}));
  EXPECT_EQ(find("model.layers.0.self_attn.k_proj.bias")->shape, (std::vector<int64_t>{1024}));
  EXPECT_EQ(find("model.layers.0.self_attn.o_proj.weight")->shape, (std::vector<int64_t>{1024, 2048}));
  EXPECT_EQ(find("model.layers.0.self_attn.q_norm.weight")->shape, (std::vector<int64_t>{128}));
  EXPECT_EQ(find("model.layers.5.mlp.down_proj.weight")->shape, (std::vector<int64_t>{1024, 3072}));
  EXPECT_EQ(find("model.layers.28.input_layernorm.weight"), nullptr);
  EXPECT_EQ(find("lm_head.weight"), nullptr);  // tied
  c.tie_word_embeddings = false;
  EXPECT_NE(checkpoint_tensors(c).back().name.find("lm_head.weight"), std::string::npos);
  c.head = HeadKind::score;
  EXPECT_EQ(checkpoint_tensors(c).back().name, "score.weight");
  EXPECT_EQ(checkpoint_tensors(c, "").front().name, "embed_tokens.weight");
}
