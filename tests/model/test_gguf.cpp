// GGUF export (synpref/model/gguf.h):
//  - the file is re-read by an independent minimal GGUF reader written here from the spec: magic,
//    version 3, counts, every metadata value type we write, alignment, tensor table (names, ggml
//    shapes = reversed transformers shapes, types, aligned non-overlapping offsets that end at the
//    end of the file) and tensor bytes bit-exact against the safetensors source;
//  - Llama: q/k rows in llama.cpp's interleaved RoPE order, f16 matrices, untied LM head, Llama 3
//    rope_freqs; Qwen3: no permutation, tied embedding (no output.weight), score head dropped;
//  - the tokenizer as llama.cpp's gpt2 BPE (tokens, types, merges in both tokenizer.json spellings,
//    special ids, padding tokens);
//  - bad input gives a Status, never a file; the CLI end to end;
//  - llama.cpp (node-llama-cpp's prebuilt CPU backend, when installed) computes the same next-token
//    logits as synpref's lm_logits on the exported files (Qwen3 and Llama 3 shapes). Skipped with
//    the reason when node or tools/node/node_modules/node-llama-cpp is missing (scripts/setup.sh).
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include "model_test_util.h"
#include "synpref/model/gguf.h"
#include "synpref/model/safetensors.h"

using namespace synpref::model;
using namespace synpref::model::testing;
using synpref::StatusCode;

namespace {

// ---- An independent minimal GGUF v3 reader (the spec, not the writer's code) ----

struct Value {
  uint32_t type = 0;
  uint64_t u = 0;  // unsigned integers and bool
  int64_t i = 0;   // signed integers
  double f = 0;    // f32 / f64
  std::string s;
  uint32_t elem_type = 0;
  std::vector<Value> items;
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type = 0;
  uint64_t offset = 0;
};

struct Gguf {
  uint32_t version = 0;
  uint64_t n_tensors = 0, n_kv = 0;
  std::map<std::string, Value> kv;
  std::vector<std::string> keys;  // in file order
  std::vector<TensorInfo> tensors;
  uint64_t alignment = 32, data_begin = 0;
  std::string bytes;
  const TensorInfo* tensor(const std::string& name) const {
    for (const auto& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
  const char* data(const TensorInfo& t) const { return bytes.data() + data_begin + t.offset; }
};

class Cursor {
 public:
  explicit Cursor(const std::string& b) : b_(b) {}
  template <typename T>
  T get() {
    T v{};
    if (pos_ + sizeof(T) > b_.size()) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str() {
    const uint64_t n = get<uint64_t>();
    if (!ok_ || n > b_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  Value value(uint32_t type) {
    Value v;
    v.type = type;
    switch (type) {
      case 0:
        v.u = get<uint8_t>();
        break;
      case 1:
        v.i = get<int8_t>();
        break;
      case 2:
        v.u = get<uint16_t>();
        break;
      case 3:
        v.i = get<int16_t>();
        break;
      case 4:
        v.u = get<uint32_t>();
        break;
      case 5:
        v.i = get<int32_t>();
        break;
      case 6:
        v.f = get<float>();
        break;
      case 7:
        v.u = get<uint8_t>();
        break;
      case 8:
        v.s = str();
        break;
      case 9: {
        v.elem_type = get<uint32_t>();
        const uint64_t n = get<uint64_t>();
        for (uint64_t k = 0; ok_ && k < n; ++k) v.items.push_back(value(v.elem_type));
        break;
      }
      case 10:
        v.u = get<uint64_t>();
        break;
      case 11:
        v.i = get<int64_t>();
        break;
      case 12:
        v.f = get<double>();
        break;
      default:
        ok_ = false;
    }
    return v;
  }
  uint64_t pos() const { return pos_; }
  bool ok() const { return ok_; }

 private:
  const std::string& b_;
  uint64_t pos_ = 0;
  bool ok_ = true;
};

// Parses `path`; on a structural error records a gtest failure and returns what it read.
Gguf read_gguf(const std::string& path) {
  Gguf g;
  g.bytes = synpref::testing::slurp(path);
  Cursor c(g.bytes);
  EXPECT_EQ(g.bytes.substr(0, 4), "GGUF");
  c.get<uint32_t>();
  g.version = c.get<uint32_t>();
  g.n_tensors = c.get<uint64_t>();
  g.n_kv = c.get<uint64_t>();
  for (uint64_t k = 0; c.ok() && k < g.n_kv; ++k) {
    std::string key = c.str();
    const uint32_t type = c.get<uint32_t>();
    EXPECT_EQ(g.kv.count(key), 0u) << "duplicate key " << key;
    g.keys.push_back(key);
    g.kv[key] = c.value(type);
  }
  if (g.kv.count("general.alignment")) g.alignment = g.kv["general.alignment"].u;
  for (uint64_t k = 0; c.ok() && k < g.n_tensors; ++k) {
    TensorInfo t;
    t.name = c.str();
    const uint32_t n_dims = c.get<uint32_t>();
    for (uint32_t d = 0; d < n_dims && c.ok(); ++d) t.ne.push_back(c.get<uint64_t>());
    t.type = c.get<uint32_t>();
    t.offset = c.get<uint64_t>();
    g.tensors.push_back(t);
  }
  EXPECT_TRUE(c.ok()) << path << ": header runs past the end of the file";
  g.data_begin = (c.pos() + g.alignment - 1) / g.alignment * g.alignment;
  for (uint64_t p = c.pos(); p < g.data_begin && p < g.bytes.size(); ++p)
    EXPECT_EQ(g.bytes[p], '\0') << "padding byte " << p << " is not zero";
  return g;
}

uint64_t tensor_bytes(const TensorInfo& t) {
  uint64_t n = 1;
  for (uint64_t d : t.ne) n *= d;
  return n * (t.type == 0 ? 4 : 2);
}

// Layout invariants every file must satisfy (types: 0 F32, 1 F16, 30 BF16).
void expect_layout(const Gguf& g) {
  EXPECT_EQ(g.version, 3u);
  EXPECT_EQ(g.kv.size(), g.n_kv);
  EXPECT_EQ(g.tensors.size(), g.n_tensors);
  EXPECT_EQ(g.data_begin % g.alignment, 0u);
  uint64_t end = 0;
  for (const auto& t : g.tensors) {
    EXPECT_EQ(t.offset % g.alignment, 0u) << t.name;
    EXPECT_GE(t.offset, end) << t.name << " overlaps the previous tensor";
    EXPECT_TRUE(t.type == 0 || t.type == 1 || t.type == 30) << t.name;
    EXPECT_LE(t.name.size(), 63u) << t.name;  // GGML_MAX_NAME
    end = t.offset + tensor_bytes(t);
  }
  EXPECT_EQ(g.data_begin + end, g.bytes.size()) << "the last tensor must end the file";
}

// ---- Fixtures ----

// GPT-2's byte -> printable code point map, UTF-8 encoded.
std::string byte_char(int b) {
  int cp = b, extra = 0;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    for (int x = 0; x < b; ++x)
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++extra;
    cp = 256 + extra;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// A 260-token byte-level BPE tokenizer: 256 byte tokens, 2 merges (one "a b" string, one pair),
// a special and a non-special added token.
void write_tiny_tokenizer(const std::string& dir) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  vocab[byte_char(' ') + "t"] = 256;
  vocab["he"] = 257;
  nlohmann::json tj = {{"version", "1.0"},
                       {"added_tokens",
                        {{{"id", 258}, {"content", "<|endoftext|>"}, {"special", true}},
                         {{"id", 259}, {"content", "<think>"}, {"special", false}}}},
                       {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
                       {"decoder", {{"type", "ByteLevel"}}},
                       {"model",
                        {{"type", "BPE"},
                         {"vocab", vocab},
                         {"merges", {byte_char(' ') + " t", nlohmann::json::array({"h", "e"})}}}}};
  synpref::testing::spit(dir + "/tokenizer.json", tj.dump());
  synpref::testing::spit(dir + "/tokenizer_config.json", nlohmann::json({{"add_bos_token", false},
                                                                         {"eos_token", "<|endoftext|>"},
                                                                         {"pad_token", "<|endoftext|>"},
                                                                         {"chat_template", "{{ messages }}"}})
                                                             .dump());
}

void write_model(const ModelConfig& config, const std::string& dir, uint64_t seed, DType dtype = DType::F32) {
  const synpref::Status s = write_random_model(config, test_init(seed, dtype), dir);
  ASSERT_TRUE(s.is_ok()) << s.message();
}

std::vector<float> source_floats(const SafetensorsFile& f, const std::string& name) {
  const TensorEntry* e = f.header().find(name);
  EXPECT_NE(e, nullptr) << name;
  if (!e) return {};
  std::vector<float> out(e->n_elements());
  SP_CHECK(e->dtype == DType::F32);
  std::memcpy(out.data(), f.tensor_data(*e), out.size() * 4);
  return out;
}

// IEEE half -> float, written independently of the library's converter.
float half_to_float(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  double v;
  if (exp == 0)
    v = std::ldexp(mant, -24);
  else if (exp == 31)
    v = mant ? NAN : INFINITY;
  else
    v = std::ldexp(1024 + mant, exp - 25);
  return static_cast<float>(sign ? -v : v);
}

}  // namespace

TEST(Gguf, Qwen3ScoreModelRoundTrip) {
  TempDir tmp;
  ModelConfig c = tiny_config(Family::qwen3, HeadKind::score);  // head_dim 32 != hidden 64 / 4 heads
  c.tie_word_embeddings = true;
  c.pad_token_id = 258;
  write_model(c, tmp.path(), 1);
  write_tiny_tokenizer(tmp.path());
  const std::string out = tmp.file("m.gguf");
  auto summary = export_gguf(tmp.path(), out, {.name = "tiny-rm"});
  ASSERT_TRUE(summary.is_ok()) << summary.status().message();
  EXPECT_TRUE(summary->score_head_dropped);
  EXPECT_TRUE(summary->lm_head_tied);
  EXPECT_EQ(summary->n_tokenizer_tokens, 1000);
  EXPECT_EQ(summary->n_padding_tokens, 740);

  const Gguf g = read_gguf(out);
  expect_layout(g);
  EXPECT_EQ(g.bytes.size(), summary->file_bytes);
  EXPECT_EQ(g.n_tensors, 24u);  // embedding + 2 x 11 per layer + output_norm; no output (tied), no score
  EXPECT_EQ(g.keys.front(), "general.architecture");
  auto u32 = [&](const std::string& key) {
    auto it = g.kv.find(key);
    EXPECT_NE(it, g.kv.end()) << key;
    EXPECT_EQ(it == g.kv.end() ? 0u : it->second.type, 4u) << key << " must be a u32";
    return it == g.kv.end() ? 0 : it->second.u;
  };
  auto str = [&](const std::string& key) {
    auto it = g.kv.find(key);
    EXPECT_NE(it, g.kv.end()) << key;
    return it == g.kv.end() ? std::string() : it->second.s;
  };
  EXPECT_EQ(str("general.architecture"), "qwen3");
  EXPECT_EQ(str("general.name"), "tiny-rm");
  EXPECT_EQ(u32("general.file_type"), 0u);
  EXPECT_EQ(u32("general.alignment"), 32u);
  EXPECT_EQ(u32("qwen3.vocab_size"), 1000u);
  EXPECT_EQ(u32("qwen3.context_length"), 4096u);
  EXPECT_EQ(u32("qwen3.embedding_length"), 64u);
  EXPECT_EQ(u32("qwen3.block_count"), 2u);
  EXPECT_EQ(u32("qwen3.feed_forward_length"), 96u);
  EXPECT_EQ(u32("qwen3.attention.head_count"), 4u);
  EXPECT_EQ(u32("qwen3.attention.head_count_kv"), 2u);
  EXPECT_EQ(u32("qwen3.attention.key_length"), 32u);  // head_dim, not hidden / heads
  EXPECT_EQ(u32("qwen3.attention.value_length"), 32u);
  ASSERT_EQ(g.kv.at("qwen3.rope.freq_base").type, 6u);
  EXPECT_EQ(g.kv.at("qwen3.rope.freq_base").f, 1000000.0f);
  EXPECT_EQ(g.kv.at("qwen3.attention.layer_norm_rms_epsilon").f, 1e-6f);
  EXPECT_EQ(g.kv.count("qwen3.rope.scaling.type"), 0u);

  // Tokenizer.
  EXPECT_EQ(str("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(str("tokenizer.ggml.pre"), "qwen2");
  const Value& tokens = g.kv.at("tokenizer.ggml.tokens");
  const Value& types = g.kv.at("tokenizer.ggml.token_type");
  ASSERT_EQ(tokens.elem_type, 8u);
  ASSERT_EQ(types.elem_type, 5u);
  ASSERT_EQ(tokens.items.size(), 1000u);
  ASSERT_EQ(types.items.size(), 1000u);
  EXPECT_EQ(tokens.items[33].s, "!");
  EXPECT_EQ(tokens.items[32].s, "\xC4\xA0");  // Ġ
  EXPECT_EQ(tokens.items[256].s, "\xC4\xA0t");
  EXPECT_EQ(tokens.items[258].s, "<|endoftext|>");
  EXPECT_EQ(types.items[0].i, 1);
  EXPECT_EQ(types.items[258].i, 3);  // special added token: control
  EXPECT_EQ(types.items[259].i, 4);  // other added token: user-defined
  EXPECT_EQ(tokens.items[999].s, "[PAD999]");
  EXPECT_EQ(types.items[999].i, 5);
  const Value& merges = g.kv.at("tokenizer.ggml.merges");
  ASSERT_EQ(merges.items.size(), 2u);
  EXPECT_EQ(merges.items[0].s, "\xC4\xA0 t");
  EXPECT_EQ(merges.items[1].s, "h e");
  EXPECT_EQ(u32("tokenizer.ggml.eos_token_id"), 258u);
  EXPECT_EQ(u32("tokenizer.ggml.padding_token_id"), 258u);
  EXPECT_EQ(g.kv.at("tokenizer.ggml.add_bos_token").type, 7u);
  EXPECT_EQ(g.kv.at("tokenizer.ggml.add_bos_token").u, 0u);
  EXPECT_EQ(str("tokenizer.chat_template"), "{{ messages }}");

  // Tensor table and bytes.
  EXPECT_EQ(g.tensor("output.weight"), nullptr);
  for (const auto& t : g.tensors) {
    EXPECT_EQ(t.name.find("score"), std::string::npos);
    EXPECT_EQ(t.type, 0u) << t.name;
  }
  auto src = SafetensorsFile::open(tmp.file("model.safetensors"));
  ASSERT_TRUE(src.is_ok());
  struct Expect {
    std::string gguf, hf;
    std::vector<uint64_t> ne;
  };
  const std::vector<Expect> expects = {
      {"token_embd.weight", "model.embed_tokens.weight", {64, 1000}},
      {"blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", {64, 128}},
      {"blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight", {64, 64}},
      {"blk.1.attn_v.weight", "model.layers.1.self_attn.v_proj.weight", {64, 64}},
      {"blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj.weight", {128, 64}},
      {"blk.1.attn_q_norm.weight", "model.layers.1.self_attn.q_norm.weight", {32}},
      {"blk.0.attn_k_norm.weight", "model.layers.0.self_attn.k_norm.weight", {32}},
      {"blk.1.attn_norm.weight", "model.layers.1.input_layernorm.weight", {64}},
      {"blk.1.ffn_norm.weight", "model.layers.1.post_attention_layernorm.weight", {64}},
      {"blk.0.ffn_gate.weight", "model.layers.0.mlp.gate_proj.weight", {64, 96}},
      {"blk.1.ffn_up.weight", "model.layers.1.mlp.up_proj.weight", {64, 96}},
      {"blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight", {96, 64}},
      {"output_norm.weight", "model.norm.weight", {64}},
  };
  for (const auto& e : expects) {
    const TensorInfo* t = g.tensor(e.gguf);
    ASSERT_NE(t, nullptr) << e.gguf;
    EXPECT_EQ(t->ne, e.ne) << e.gguf;
    const std::vector<float> want = source_floats(**src, e.hf);
    ASSERT_EQ(tensor_bytes(*t), want.size() * 4) << e.gguf;
    EXPECT_EQ(std::memcmp(g.data(*t), want.data(), want.size() * 4), 0) << e.gguf << " differs from " << e.hf;
  }
}

TEST(Gguf, LlamaF16UntiedPermutedWithLlama3Rope) {
  TempDir tmp;
  ModelConfig c = tiny_config(Family::llama, HeadKind::lm);
  c.tie_word_embeddings = false;
  c.rope_scaling.type = RopeScaling::Type::llama3;
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.original_max_position_embeddings = 64;
  write_model(c, tmp.path(), 2);
  const std::string out = tmp.file("m.gguf");
  auto summary = export_gguf(tmp.path(), out, {.dtype = DType::F16, .tokenizer = false});
  ASSERT_TRUE(summary.is_ok()) << summary.status().message();
  EXPECT_FALSE(summary->score_head_dropped);
  const Gguf g = read_gguf(out);
  expect_layout(g);
  EXPECT_EQ(g.n_tensors, 2u + 2u * 9u + 1u + 1u);  // embd, output, 9 per layer, output_norm, rope_freqs
  EXPECT_EQ(g.kv.at("general.architecture").s, "llama");
  EXPECT_EQ(g.kv.at("general.file_type").u, 1u);
  EXPECT_EQ(g.kv.at("tokenizer.ggml.model").s, "none");
  EXPECT_EQ(g.kv.count("tokenizer.ggml.tokens"), 0u);
  EXPECT_EQ(g.kv.at("llama.vocab_size").u, 1000u);
  EXPECT_EQ(g.kv.at("llama.rope.dimension_count").u, 16u);
  EXPECT_EQ(g.kv.at("llama.rope.freq_base").f, 500000.0f);

  auto src = SafetensorsFile::open(tmp.file("model.safetensors"));
  ASSERT_TRUE(src.is_ok());
  // 1-D tensors stay f32 and exact; matrices are f16 (round to nearest: |err| <= 2^-11 |x|).
  const TensorInfo* norm = g.tensor("blk.0.attn_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->type, 0u);
  const std::vector<float> norm_src = source_floats(**src, "model.layers.0.input_layernorm.weight");
  EXPECT_EQ(std::memcmp(g.data(*norm), norm_src.data(), norm_src.size() * 4), 0);
  auto f16_at = [&](const TensorInfo& t, size_t i) {
    uint16_t h;
    std::memcpy(&h, g.data(t) + 2 * i, 2);
    return half_to_float(h);
  };
  auto close = [](float half, float x) {
    return std::fabs(half - x) <= std::ldexp(std::fabs(x), -11) + 1e-7f;
  };
  const TensorInfo* output = g.tensor("output.weight");
  ASSERT_NE(output, nullptr);
  EXPECT_EQ(output->type, 1u);
  EXPECT_EQ(output->ne, (std::vector<uint64_t>{64, 1000}));
  const std::vector<float> lm = source_floats(**src, "lm_head.weight");
  for (size_t i = 0; i < lm.size(); i += 37) ASSERT_TRUE(close(f16_at(*output, i), lm[i])) << i;

  // q (4 heads) and k (2 heads) of head_dim 16: row 2j + s of a head = transformers' row s * 8 + j.
  for (const char* which : {"q", "k"}) {
    const std::string gname = std::string("blk.1.attn_") + which + ".weight";
    const TensorInfo* t = g.tensor(gname);
    ASSERT_NE(t, nullptr);
    const std::vector<float> w =
        source_floats(**src, std::string("model.layers.1.self_attn.") + which + "_proj.weight");
    const size_t n_rows = t->ne[1], C = 64, D = 16;
    ASSERT_EQ(n_rows * C, w.size());
    for (size_t row = 0; row < n_rows; ++row) {
      const size_t head = row / D, j = (row % D) / 2, s = row % 2, src_row = head * D + s * (D / 2) + j;
      for (size_t col = 0; col < C; ++col)
        ASSERT_TRUE(close(f16_at(*t, row * C + col), w[src_row * C + col])) << gname << " row " << row;
    }
  }
  // v is not permuted.
  const TensorInfo* v = g.tensor("blk.0.attn_v.weight");
  const std::vector<float> wv = source_floats(**src, "model.layers.0.self_attn.v_proj.weight");
  for (size_t i = 0; i < wv.size(); ++i) ASSERT_TRUE(close(f16_at(*v, i), wv[i])) << i;

  // Llama 3 RoPE: divisors 1 for the highest frequencies, `factor` for the lowest.
  const TensorInfo* rf = g.tensor("rope_freqs.weight");
  ASSERT_NE(rf, nullptr);
  EXPECT_EQ(rf->ne, (std::vector<uint64_t>{8}));
  float first, last;
  std::memcpy(&first, g.data(*rf), 4);
  std::memcpy(&last, g.data(*rf) + 28, 4);
  EXPECT_FLOAT_EQ(first, 1.0f);
  EXPECT_FLOAT_EQ(last, 8.0f);
}

// BF16 matrices (ggml type 30, file type 32): an f32 checkpoint rounded to nearest even (the library's
// f32_to_bf16, checked here against an independent rounding), a bf16 checkpoint copied bit for bit;
// 1-D tensors stay f32.
TEST(Gguf, Bf16MatricesFromF32AndBf16Checkpoints) {
  // Round to nearest even, written independently of the library (finite inputs).
  auto to_bf16 = [](float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  };
  for (DType source : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(dtype_name(source));
    TempDir tmp;
    ModelConfig c = tiny_config(Family::qwen3, HeadKind::lm);
    c.tie_word_embeddings = true;
    write_model(c, tmp.path(), 5, source);
    const std::string out = tmp.file("m.gguf");
    auto summary = export_gguf(tmp.path(), out, {.dtype = DType::BF16, .tokenizer = false});
    ASSERT_TRUE(summary.is_ok()) << summary.status().message();
    const Gguf g = read_gguf(out);
    expect_layout(g);
    EXPECT_EQ(g.kv.at("general.file_type").u, 32u);
    const TensorInfo* norm = g.tensor("blk.0.attn_norm.weight");
    ASSERT_NE(norm, nullptr);
    EXPECT_EQ(norm->type, 0u);
    auto src = SafetensorsFile::open(tmp.file("model.safetensors"));
    ASSERT_TRUE(src.is_ok());
    for (const char* name : {"blk.1.ffn_down.weight", "token_embd.weight"}) {
      const TensorInfo* t = g.tensor(name);
      ASSERT_NE(t, nullptr) << name;
      EXPECT_EQ(t->type, 30u) << name;
      const TensorEntry* e = (*src)->header().find(std::string(name) == "token_embd.weight"
                                                       ? "model.embed_tokens.weight"
                                                       : "model.layers.1.mlp.down_proj.weight");
      ASSERT_NE(e, nullptr);
      ASSERT_EQ(tensor_bytes(*t), e->n_elements() * 2) << name;
      const uint8_t* from = (*src)->tensor_data(*e);
      for (size_t i = 0; i < e->n_elements(); ++i) {
        uint16_t want, got;
        if (source == DType::BF16) {
          std::memcpy(&want, from + 2 * i, 2);
        } else {
          float x;
          std::memcpy(&x, from + 4 * i, 4);
          want = to_bf16(x);
        }
        std::memcpy(&got, g.data(*t) + 2 * i, 2);
        ASSERT_EQ(got, want) << name << " element " << i;
      }
    }
  }
}

TEST(Gguf, BadInputGivesErrorsNotFiles) {
  TempDir tmp;
  const std::string out = tmp.file("x.gguf");
  EXPECT_EQ(export_gguf(tmp.file("nope"), out).status().code(), StatusCode::not_found);

  ModelConfig c = tiny_config(Family::qwen3, HeadKind::lm);
  const std::string dir = tmp.file("m");
  write_model(c, dir, 3);
  // No tokenizer.json.
  auto r = export_gguf(dir, out);
  EXPECT_EQ(r.status().code(), StatusCode::unsupported);
  EXPECT_NE(r.status().message().find("tokenizer.json"), std::string::npos) << r.status().message();
  // A tiktoken file alone is named.
  synpref::testing::spit(dir + "/tokenizer.model", "IQ== 0\n");
  r = export_gguf(dir, out);
  EXPECT_NE(r.status().message().find("tokenizer.model"), std::string::npos) << r.status().message();
  // Wrong output kinds and types.
  EXPECT_EQ(export_gguf(dir, tmp.file("x.gguf.gz"), {.tokenizer = false}).status().code(),
            StatusCode::invalid_argument);
  EXPECT_EQ(export_gguf(dir, out, {.dtype = DType::F64, .tokenizer = false}).status().code(),
            StatusCode::invalid_argument);
  // A tokenizer with ids beyond the model's vocabulary.
  write_tiny_tokenizer(dir);
  ModelConfig small = c;
  small.vocab_size = 200;
  const std::string small_dir = tmp.file("small");
  write_model(small, small_dir, 4);
  auto too_big = export_gguf(small_dir, out, {.tokenizer_dir = dir});
  EXPECT_EQ(too_big.status().code(), StatusCode::data_error);
  EXPECT_NE(too_big.status().message().find("vocab_size 200"), std::string::npos)
      << too_big.status().message();
  // config.json and the weights disagree.
  std::string config = synpref::testing::slurp(dir + "/config.json");
  const size_t at = config.find("\"intermediate_size\": 96");
  ASSERT_NE(at, std::string::npos) << config;
  config.replace(at, 23, "\"intermediate_size\": 97");
  synpref::testing::spit(dir + "/config.json", config);
  auto mismatch = export_gguf(dir, out);
  EXPECT_EQ(mismatch.status().code(), StatusCode::data_error);
  EXPECT_NE(mismatch.status().message().find("mlp."), std::string::npos) << mismatch.status().message();
  // Biases.
  ModelConfig biased = tiny_config(Family::llama, HeadKind::lm);
  biased.attention_bias = true;
  const std::string biased_dir = tmp.file("biased");
  write_model(biased, biased_dir, 5);
  EXPECT_EQ(export_gguf(biased_dir, out, {.tokenizer = false}).status().code(), StatusCode::unsupported);
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(Gguf, CommandLine) {
  TempDir tmp;
  ModelConfig c = tiny_config(Family::qwen3, HeadKind::score);
  write_model(c, tmp.path(), 6);
  write_tiny_tokenizer(tmp.path());
  const std::string out = tmp.file("cli.gguf");
  auto r = synpref::testing::run_synpref("--json convert gguf --model " + tmp.path() + " --out " + out +
                                         " --type f16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "qwen3");
  EXPECT_EQ(j["type"], "f16");
  EXPECT_EQ(j["score_head_dropped"], true);
  EXPECT_EQ(j["notes"].size(), 2u) << j.dump();  // dropped score head; untied model without LM head
  EXPECT_EQ(read_gguf(out).kv.at("general.file_type").u, 1u);
  auto bad =
      synpref::testing::run_synpref("convert gguf --model " + tmp.path() + " --out " + out + " --type q8");
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--type must be f32, f16 or bf16"), std::string::npos) << bad.err;
  auto help = synpref::testing::run_synpref("convert gguf --help");
  EXPECT_NE(help.out.find("score head"), std::string::npos) << help.out;
}

// ---- llama.cpp agrees (needs node >= 20 and tools/node/node_modules/node-llama-cpp) ----

namespace {

std::string llamacpp_missing() {
  const std::string pkg =
      std::string(SYNPREF_SOURCE_DIR) + "/tools/node/node_modules/node-llama-cpp/package.json";
  if (!std::filesystem::exists(pkg)) return "node-llama-cpp is not installed (run scripts/setup.sh)";
  FILE* p = popen("node -e 'process.stdout.write(process.versions.node)' 2>/dev/null", "r");
  char buf[64] = {0};
  const bool read = p && std::fgets(buf, sizeof buf, p);
  if (p) pclose(p);
  if (!read) return "node is not installed";
  if (std::atoi(buf) < 20) return std::string("node ") + buf + " is older than node-llama-cpp's minimum (20)";
  return "";
}

// llama.cpp's next-token logits after `ids` (f32 KV cache, no flash attention: precision first).
nlohmann::json llamacpp_logits(const std::string& gguf, const std::vector<int32_t>& ids, const TempDir& tmp) {
  const std::string ids_file = tmp.file("ids.json"), out = tmp.file("llamacpp.json"),
                    err = tmp.file("llamacpp.err");
  synpref::testing::spit(ids_file, nlohmann::json(ids).dump());
  const std::string cmd = "node " + std::string(SYNPREF_SOURCE_DIR) +
                          "/tools/bench/llamacpp_bench.mjs --model " + gguf + " --ids @" + ids_file +
                          " --logits --kv f32 --flash-attention off >" + out + " 2>" + err;
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    ADD_FAILURE() << cmd << " failed:\n" << synpref::testing::slurp(err);
    return {};
  }
  return nlohmann::json::parse(synpref::testing::slurp(out));
}

// tolerance: of max |diff| relative to max(1, max |logit|).
void expect_llamacpp_agrees(const std::string& dir, const std::string& what, const std::vector<int32_t>& ids,
                            const TempDir& tmp, DType gguf_dtype = DType::F32, double tolerance = 1e-4) {
  const std::string gguf = tmp.file(what + ".gguf");
  auto summary = export_gguf(dir, gguf, {.dtype = gguf_dtype});
  ASSERT_TRUE(summary.is_ok()) << summary.status().message();
  auto model = Model::load(dir, {.n_threads = 2});
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto ours = (*model)->lm_logits(ids);
  ASSERT_TRUE(ours.is_ok()) << ours.status().message();
  const int64_t V = (*model)->config().vocab_size;
  const nlohmann::json theirs = llamacpp_logits(gguf, ids, tmp);
  ASSERT_TRUE(theirs.contains("logits")) << theirs.dump().substr(0, 500);
  ASSERT_EQ(theirs["logits"].size(), static_cast<size_t>(V));
  const float* last = ours->data() + (ids.size() - 1) * V;
  double max_abs = 0, max_logit = 0;
  for (int64_t v = 0; v < V; ++v) {
    const double x = theirs["logits"][v].get<double>();
    max_abs = std::max(max_abs, std::fabs(x - last[v]));
    max_logit = std::max(max_logit, std::fabs(static_cast<double>(last[v])));
  }
  std::printf(
      "[ %s ] llama.cpp %s (%s) vs synpref lm_logits, %zu ids, %lld logits: max |diff| %.3g, max |logit| "
      "%.3g\n",
      what.c_str(), theirs["llama_cpp"].get<std::string>().c_str(),
      theirs["cpu_backend"].get<std::string>().c_str(), ids.size(), static_cast<long long>(V), max_abs,
      max_logit);
  // With f32 weights both compute in fp32 with different summation orders: expect ~1e-6 relative; a
  // layout or RoPE mistake gives O(1) differences.
  EXPECT_LE(max_abs, tolerance * std::max(1.0, max_logit)) << what;
}

}  // namespace

namespace {

// A tiny tied-embedding Qwen3 LM with the real Qwen3 tokenizer (so llama.cpp accepts the GGUF) in
// `dir`, weights stored as `dtype`; returns the vocabulary size.
int64_t write_qwen3_with_tokenizer(const std::string& dir, uint64_t seed, DType dtype) {
  const std::string tok = synpref::testing::shared_data("tokenizers/qwen3");
  auto facts = inspect_tokenizer_dir(tok);
  EXPECT_TRUE(facts.is_ok()) << facts.status().message();
  if (!facts.is_ok()) return 0;
  ModelConfig c = tiny_config(Family::qwen3, HeadKind::lm);
  c.vocab_size = facts->vocab_size;
  c.tie_word_embeddings = true;
  c.pad_token_id = facts->pad_token_id;
  write_model(c, dir, seed, dtype);
  EXPECT_TRUE(copy_tokenizer_files(tok, *facts, dir).is_ok());
  return c.vocab_size;
}

}  // namespace

TEST(GgufLlamaCpp, Qwen3LogitsAgree) {
  if (const std::string why = llamacpp_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  const int64_t vocab = write_qwen3_with_tokenizer(tmp.path(), 7, DType::F32);
  ASSERT_GT(vocab, 0);
  auto ids = random_sequences(1, 70, 70, vocab, 11)[0];  // beyond one 64-key attention block
  expect_llamacpp_agrees(tmp.path(), "qwen3", ids, tmp);
}

TEST(GgufLlamaCpp, Llama3LogitsAgree) {
  if (const std::string why = llamacpp_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  const std::string tok = synpref::testing::shared_data("tokenizers/llama3_1");
  auto facts = inspect_tokenizer_dir(tok);
  ASSERT_TRUE(facts.is_ok()) << facts.status().message();
  ModelConfig c = tiny_config(Family::llama, HeadKind::lm);
  c.vocab_size = facts->vocab_size;
  c.tie_word_embeddings = false;
  c.rope_scaling.type = RopeScaling::Type::llama3;
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.original_max_position_embeddings = 64;  // wavelengths on both sides of the band
  write_model(c, tmp.path(), 8);
  ASSERT_TRUE(copy_tokenizer_files(tok, *facts, tmp.path()).is_ok());
  auto ids = random_sequences(1, 70, 70, c.vocab_size, 12)[0];
  expect_llamacpp_agrees(tmp.path(), "llama3", ids, tmp);
}

// A bf16 checkpoint exported as BF16 (the same bits): llama.cpp multiplies bf16 weights with activations
// rounded to bf16 (2^-9 relative), synpref with f32 activations, so the gate is looser than the f32
// tests' (layout or RoPE mistakes still give O(1) differences).
TEST(GgufLlamaCpp, Qwen3Bf16LogitsAgree) {
  if (const std::string why = llamacpp_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  const int64_t vocab = write_qwen3_with_tokenizer(tmp.path(), 9, DType::BF16);
  ASSERT_GT(vocab, 0);
  auto ids = random_sequences(1, 70, 70, vocab, 13)[0];
  expect_llamacpp_agrees(tmp.path(), "qwen3_bf16", ids, tmp, DType::BF16, 3e-2);
}
