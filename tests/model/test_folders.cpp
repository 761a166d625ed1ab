// Model folders, valid and hostile: sharded checkpoints, base-model prefixes, RM initialization from
// a causal LM, and broken folders (missing/misshaped/mistyped tensors, truncated files, lying index,
// contradictory config) that must give a clear error naming the file and tensor, never a crash.
#include <filesystem>
#include <fstream>

#include "model_test_util.h"
#include "synpref/model/safetensors.h"

using namespace synpref::model;
using namespace synpref::model::testing;
namespace fs = std::filesystem;

namespace {

struct Tensors {
  std::vector<std::string> names;
  std::vector<DType> dtypes;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::string> data;

  static Tensors read(const std::string& path) {
    Tensors t;
    auto f = SafetensorsFile::open(path);
    EXPECT_TRUE(f.is_ok()) << f.status().message();
    for (const auto& e : (*f)->header().tensors) {
      t.names.push_back(e.name);
      t.dtypes.push_back(e.dtype);
      t.shapes.push_back(e.shape);
      t.data.emplace_back(reinterpret_cast<const char*>((*f)->tensor_data(e)), e.end - e.begin);
    }
    return t;
  }
  void write(const std::string& path, const std::vector<size_t>& which) const {
    std::vector<TensorToWrite> out;
    for (size_t i : which) out.push_back({names[i], dtypes[i], shapes[i], data[i]});
    ASSERT_TRUE(write_safetensors(path, out).is_ok());
  }
  void write(const std::string& path) const {
    std::vector<size_t> all(names.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    write(path, all);
  }
  size_t index(const std::string& name) const {
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == name) return i;
    ADD_FAILURE() << "no tensor " << name;
    return 0;
  }
};

class Folders : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = tiny_config(Family::qwen3);
    ASSERT_TRUE(write_random_model(config_, test_init(5), good_.path()).is_ok());
  }
  // A fresh copy of the good folder to break.
  std::string copy() {
    broken_.push_back(std::make_unique<TempDir>());
    fs::copy(good_.path(), broken_.back()->path(),
             fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    return broken_.back()->path();
  }
  void expect_load_error(const std::string& dir, const std::vector<std::string>& needles) {
    auto m = Model::load(dir);
    ASSERT_FALSE(m.is_ok()) << "loaded a broken folder; expected " << needles[0];
    for (const auto& n : needles)
      EXPECT_NE(m.status().message().find(n), std::string::npos) << m.status().message();
  }
  void set_config(const std::string& dir, const std::string& key, const nlohmann::json& value) {
    std::ifstream in(dir + "/config.json");
    nlohmann::json j = nlohmann::json::parse(in);
    if (value.is_discarded())
      j.erase(key);
    else
      j[key] = value;
    std::ofstream(dir + "/config.json") << j.dump(2);
  }
  TempDir good_;
  std::vector<std::unique_ptr<TempDir>> broken_;
  ModelConfig config_;
};

}  // namespace

TEST_F(Folders, ShardedCheckpointLoadsAndScoresIdentically) {
  const std::string dir = copy();
  const Tensors t = Tensors::read(dir + "/model.safetensors");
  std::vector<size_t> first, second;
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < t.names.size(); ++i) {
    (i % 2 ? second : first).push_back(i);
    weight_map[t.names[i]] = i % 2 ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
  }
  t.write(dir + "/model-00001-of-00002.safetensors", first);
  t.write(dir + "/model-00002-of-00002.safetensors", second);
  fs::remove(dir + "/model.safetensors");
  std::ofstream(dir + "/model.safetensors.index.json")
      << nlohmann::json({{"metadata", {}}, {"weight_map", weight_map}}).dump();
  auto sharded = Model::load(dir);
  ASSERT_TRUE(sharded.is_ok()) << sharded.status().message();
  auto single = Model::load(good_.path());
  ASSERT_TRUE(single.is_ok());
  const auto seqs = random_sequences(5, 1, 80, config_.vocab_size, 1);
  EXPECT_EQ(*(*sharded)->score_sequences(spans(seqs)), *(*single)->score_sequences(spans(seqs)));

  // Index naming a shard that is not there / escaping the folder / disagreeing with the shard.
  {
    const std::string d2 = copy();
    fs::remove(d2 + "/model.safetensors");
    fs::copy(dir + "/model.safetensors.index.json", d2 + "/model.safetensors.index.json");
    fs::copy(dir + "/model-00001-of-00002.safetensors", d2 + "/model-00001-of-00002.safetensors");
    expect_load_error(d2, {"model-00002-of-00002.safetensors", "no such file"});
  }
  {
    const std::string d3 = copy();
    fs::remove(d3 + "/model.safetensors");
    nlohmann::json wm = weight_map;
    wm[t.names[0]] = "../../etc/passwd";
    std::ofstream(d3 + "/model.safetensors.index.json") << nlohmann::json({{"weight_map", wm}}).dump();
    expect_load_error(d3, {"plain file names"});
  }
  {
    const std::string d4 = copy();
    fs::remove(d4 + "/model.safetensors");
    fs::copy(dir + "/model-00001-of-00002.safetensors", d4 + "/model-00001-of-00002.safetensors");
    fs::copy(dir + "/model-00002-of-00002.safetensors", d4 + "/model-00002-of-00002.safetensors");
    nlohmann::json wm = weight_map;
    wm[t.names[1]] = "model-00001-of-00002.safetensors";  // actually in shard 2
    std::ofstream(d4 + "/model.safetensors.index.json") << nlohmann::json({{"weight_map", wm}}).dump();
    expect_load_error(d4, {t.names[1], "no such tensor"});
  }
  {
    const std::string d5 = copy();
    fs::remove(d5 + "/model.safetensors");
    std::ofstream(d5 + "/model.safetensors.index.json") << "{\"weight_map\": [1,2]}";
    expect_load_error(d5, {"weight_map"});
  }
}

TEST_F(Folders, MissingMisshapedOrMistypedTensors) {
  const Tensors t = Tensors::read(good_.path() + "/model.safetensors");
  const std::string victim = "model.layers.1.self_attn.k_proj.weight";
  {
    const std::string dir = copy();
    std::vector<size_t> keep;
    for (size_t i = 0; i < t.names.size(); ++i)
      if (t.names[i] != victim) keep.push_back(i);
    t.write(dir + "/model.safetensors", keep);
    expect_load_error(dir, {victim, "missing"});
  }
  {
    const std::string dir = copy();
    Tensors m = t;
    m.shapes[m.index(victim)] = {32, 128};  // same bytes, wrong shape
    m.write(dir + "/model.safetensors");
    expect_load_error(dir, {victim, "[32, 128]", "[64, 64]"});
  }
  {
    const std::string dir = copy();
    Tensors m = t;
    m.dtypes[m.index(victim)] = DType::I32;
    m.write(dir + "/model.safetensors");
    expect_load_error(dir, {victim, "I32"});
  }
  {
    const std::string dir = copy();
    Tensors m = t;
    m.names.push_back("model.layers.7.mlp.up_proj.weight");  // a layer the config does not have
    m.dtypes.push_back(DType::F32);
    m.shapes.push_back({1});
    m.data.push_back(std::string(4, '\0'));
    m.write(dir + "/model.safetensors");
    expect_load_error(dir, {"model.layers.7.mlp.up_proj.weight", "num_hidden_layers=2"});
  }
  {
    const std::string dir = copy();
    Tensors m = t;
    m.names.push_back("model.layers.0.self_attn.q_proj.bias");
    m.dtypes.push_back(DType::F32);
    m.shapes.push_back({128});
    m.data.push_back(std::string(512, '\0'));
    m.write(dir + "/model.safetensors");
    expect_load_error(dir, {"q_proj.bias", "attention_bias is false"});
  }
  {
    const std::string dir = copy();
    std::vector<size_t> keep;
    for (size_t i = 0; i < t.names.size(); ++i)
      if (t.names[i] != "score.weight") keep.push_back(i);
    t.write(dir + "/model.safetensors", keep);
    expect_load_error(dir, {"score.weight", "missing"});
    // Reward-model initialization creates the head instead (seeded, like transformers' normal init).
    auto a = Model::load(dir, {.init_score_head = true, .score_head_seed = 1});
    auto b = Model::load(dir, {.init_score_head = true, .score_head_seed = 1});
    auto c = Model::load(dir, {.init_score_head = true, .score_head_seed = 2});
    ASSERT_TRUE(a.is_ok()) << a.status().message();
    const std::vector<int32_t> s = {1, 2, 3, 4, 5};
    EXPECT_EQ(*(*a)->score_sequences({s}), *(*b)->score_sequences({s}));
    EXPECT_NE(*(*a)->score_sequences({s}), *(*c)->score_sequences({s}));
  }
}

TEST_F(Folders, TruncatedOrGarbageFiles) {
  {
    const std::string dir = copy();
    const auto size = fs::file_size(dir + "/model.safetensors");
    fs::resize_file(dir + "/model.safetensors", size - 100);
    expect_load_error(dir, {"model.safetensors", "truncated"});
  }
  {
    const std::string dir = copy();
    fs::resize_file(dir + "/model.safetensors", 6);
    expect_load_error(dir, {"model.safetensors", "too short"});
  }
  {
    const std::string dir = copy();
    std::ofstream(dir + "/model.safetensors") << "this is not a safetensors file at all, just text";
    expect_load_error(dir, {"model.safetensors"});
  }
  {
    const std::string dir = copy();
    std::ofstream(dir + "/config.json") << "{ \"architectures\": [";
    expect_load_error(dir, {"config.json", "not valid JSON"});
  }
  {
    const std::string dir = copy();
    fs::remove(dir + "/config.json");
    expect_load_error(dir, {"no config.json"});
  }
  {
    const std::string dir = copy();
    fs::remove(dir + "/model.safetensors");
    std::ofstream(dir + "/pytorch_model.bin") << "x";
    expect_load_error(dir, {"no model.safetensors", "pytorch_model.bin"});
  }
  expect_load_error(good_.path() + "/does-not-exist", {"no config.json"});
}

TEST_F(Folders, ContradictoryConfigs) {
  {
    const std::string dir = copy();
    set_config(dir, "hidden_size", 128);
    expect_load_error(dir, {"model.embed_tokens.weight", "[1000, 128]"});
  }
  {
    const std::string dir = copy();
    set_config(dir, "num_hidden_layers", 1);
    expect_load_error(dir, {"layers.1", "num_hidden_layers=1"});
  }
  {
    const std::string dir = copy();
    set_config(dir, "num_key_value_heads", 3);
    expect_load_error(dir, {"config.json", "not a multiple"});
  }
  {
    const std::string dir = copy();
    set_config(dir, "architectures", {"LlamaForSequenceClassification"});
    expect_load_error(dir, {"contradictory"});  // model_type says qwen3
  }
  {
    const std::string dir = copy();
    set_config(dir, "architectures", {"LlamaForSequenceClassification"});
    set_config(dir, "model_type", "llama");
    expect_load_error(dir, {"_norm.weight", "no per-head q/k norm"});  // checkpoint has QK-norm tensors
  }
  {
    const std::string dir = copy();
    set_config(dir, "architectures", {"GPT2LMHeadModel"});
    expect_load_error(dir, {"GPT2LMHeadModel", "not supported"});
  }
  {
    const std::string dir = copy();
    set_config(dir, "num_labels", 2);
    set_config(dir, "id2label", {{"0", "A"}, {"1", "B"}});
    expect_load_error(dir, {"score.weight", "[2, 64]"});
  }
}

TEST_F(Folders, RequestsOutsideTheModelAreRefused) {
  auto m = Model::load(good_.path());
  ASSERT_TRUE(m.is_ok());
  const std::vector<int32_t> bad = {1, 2, 1000};
  auto r = (*m)->score_sequences({bad});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("outside the vocabulary"), std::string::npos) << r.status().message();
  EXPECT_FALSE((*m)->score_sequences({std::vector<int32_t>{}}).is_ok());
  EXPECT_FALSE((*m)->score({}, {std::span<const int32_t>()}).is_ok());
  auto neg = (*m)->score(std::vector<int32_t>{-1}, {std::vector<int32_t>{2}});
  EXPECT_FALSE(neg.is_ok());
  EXPECT_TRUE((*m)->score_sequences({}).is_ok());  // nothing to do is fine
  EXPECT_FALSE(Model::load(good_.path(), {.kernels = "neon"}).is_ok());
}

TEST_F(Folders, CausalLmAndBaseCheckpoints) {
  TempDir lm_dir, base_dir;
  ModelConfig lm = tiny_config(Family::llama, HeadKind::lm);
  ASSERT_TRUE(write_random_model(lm, test_init(3), lm_dir.path()).is_ok());
  auto m = Model::load(lm_dir.path());
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  EXPECT_TRUE((*m)->has_lm_head());
  EXPECT_FALSE((*m)->has_score_head());
  auto s = (*m)->score_sequences({std::vector<int32_t>{1, 2}});
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("init_score_head"), std::string::npos);
  auto rm = Model::load(lm_dir.path(), {.init_score_head = true});
  ASSERT_TRUE(rm.is_ok());
  EXPECT_TRUE((*rm)->score_sequences({std::vector<int32_t>{1, 2}}).is_ok());

  // A base-model checkpoint (Qwen3Model.save_pretrained: no "model." prefix) loads too.
  ModelConfig base = tiny_config(Family::qwen3, HeadKind::none);
  base.tie_word_embeddings = true;
  ASSERT_TRUE(write_random_model(base, test_init(4), base_dir.path()).is_ok());
  Tensors t = Tensors::read(base_dir.path() + "/model.safetensors");
  for (auto& n : t.names) n = n.substr(std::string("model.").size());
  t.write(base_dir.path() + "/model.safetensors");
  auto b = Model::load(base_dir.path(), {.init_score_head = true});
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_TRUE((*b)->has_lm_head());  // tied embeddings
  EXPECT_TRUE((*b)->lm_logits(std::vector<int32_t>{3, 4}).is_ok());
  // Untied base model: no LM head.
  TempDir untied;
  base.tie_word_embeddings = false;
  ASSERT_TRUE(write_random_model(base, test_init(4), untied.path()).is_ok());
  auto u = Model::load(untied.path());
  ASSERT_TRUE(u.is_ok());
  EXPECT_FALSE((*u)->lm_logits(std::vector<int32_t>{3}).is_ok());
}
