// llama2.c checkpoint -> Hugging Face LlamaForCausalLM folder.
//
// llama2.c layout (run.c, memory_map_weights), after the int32[7] header
// {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len}, all fp32, matrices (out, in):
//   token_embedding (V, dim), rms_att (L, dim), wq (L, H*hs, dim), wk (L, Hkv*hs, dim),
//   wv (L, Hkv*hs, dim), wo (L, dim, H*hs), rms_ffn (L, dim), w1 (L, hidden, dim),
//   w2 (L, dim, hidden), w3 (L, hidden, dim), rms_final (dim), freq_cis_real (seq_len, hs/2),
//   freq_cis_imag (seq_len, hs/2), then wcls (V, dim) only if vocab_size < 0 (unshared classifier).
// llama2.c rotates interleaved pairs (2j, 2j+1) of each head by frequency j; transformers rotates
// (j, j + hs/2) (rotate_half). The same function results from permuting the rows of wq and wk
// within each head: new row half*hs/2 + j = old row 2j + half (transformers' convert_llama_weights_to_hf).
#include <cstring>
#include <filesystem>

#include "synpref/common/io.h"
#include "synpref/model/init.h"

namespace synpref::model {

namespace fs = std::filesystem;

Status convert_llama2c(const std::string& bin_path, const std::string& out_dir) {
  SP_ASSIGN_OR_RETURN(auto file, MappedFile::open(bin_path));
  const std::string& f = bin_path;
  if (file->size() < 28)
    return data_error(f + ": " + std::to_string(file->size()) + " bytes, too short for a llama2.c header");
  int32_t h[7];
  std::memcpy(h, file->data(), 28);
  const int64_t dim = h[0], hidden = h[1], n_layers = h[2], n_heads = h[3], n_kv = h[4], seq_len = h[6];
  const bool shared = h[5] > 0;
  const int64_t vocab = h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5];
  auto bad = [&](const std::string& what) {
    return data_error(f + ": llama2.c header " + what + " (header: dim " + std::to_string(dim) + ", hidden " +
                      std::to_string(hidden) + ", layers " + std::to_string(n_layers) + ", heads " +
                      std::to_string(n_heads) + ", kv_heads " + std::to_string(n_kv) + ", vocab " +
                      std::to_string(h[5]) + ", seq_len " + std::to_string(seq_len) + ")");
  };
  if (dim <= 0 || hidden <= 0 || n_layers <= 0 || n_heads <= 0 || n_kv <= 0 || vocab <= 0 || seq_len <= 0) {
    return bad("has a non-positive size");
  }
  if (dim > 65536 || hidden > 262144 || n_layers > 1024 || vocab > (1 << 24) || seq_len > (1 << 24)) {
    return bad("has implausibly large sizes");
  }
  if (dim % n_heads != 0 || n_heads % n_kv != 0 || (dim / n_heads) % 2 != 0) {
    return bad(
        "is inconsistent (dim must split into heads of even size; heads must be a multiple of kv_heads)");
  }
  const int64_t hs = dim / n_heads, kv_dim = n_kv * hs;
  const int64_t n_floats = vocab * dim + n_layers * dim + n_layers * dim * dim + 2 * n_layers * kv_dim * dim +
                           n_layers * dim * dim + n_layers * dim + 3 * n_layers * hidden * dim + dim +
                           seq_len * hs + (shared ? 0 : vocab * dim);
  const uint64_t expected = 28 + static_cast<uint64_t>(n_floats) * 4;
  if (file->size() != expected) {
    return data_error(f + ": " + std::to_string(file->size()) + " bytes but the header implies " +
                      std::to_string(expected) + " (truncated file or not a llama2.c checkpoint)");
  }
  const float* base = reinterpret_cast<const float*>(file->data() + 28);
  int64_t cursor = 0;
  auto take = [&](int64_t n) {
    const float* p = base + cursor;
    cursor += n;
    return p;
  };
  const float* tok = take(vocab * dim);
  const float* rms_att = take(n_layers * dim);
  const float* wq = take(n_layers * dim * dim);
  const float* wk = take(n_layers * kv_dim * dim);
  const float* wv = take(n_layers * kv_dim * dim);
  const float* wo = take(n_layers * dim * dim);
  const float* rms_ffn = take(n_layers * dim);
  const float* w1 = take(n_layers * hidden * dim);
  const float* w2 = take(n_layers * dim * hidden);
  const float* w3 = take(n_layers * hidden * dim);
  const float* rms_final = take(dim);
  take(seq_len * hs);  // freq_cis_real, freq_cis_imag: recomputed by the model
  const float* wcls = shared ? tok : take(vocab * dim);

  ModelConfig c;
  c.family = Family::llama;
  c.head = HeadKind::lm;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = vocab, c.hidden_size = dim, c.intermediate_size = hidden, c.n_layer = n_layers;
  c.n_head = n_heads, c.n_head_kv = n_kv, c.head_dim = hs;
  c.rms_norm_eps = 1e-5;   // run.c rmsnorm
  c.rope_theta = 10000.0;  // run.c: powf(10000.0f, head_dim / head_size)
  c.max_position_embeddings = seq_len;
  c.tie_word_embeddings = shared;
  c.bos_token_id = 1, c.eos_token_id = 2;
  c.torch_dtype = "float32";

  // q/k rows: llama2.c interleaved pairs -> transformers halves, per head.
  auto permute_rows = [&](const float* w, int64_t heads) {
    std::vector<float> out(static_cast<size_t>(heads * hs * dim));
    for (int64_t head = 0; head < heads; ++head)
      for (int64_t half = 0; half < 2; ++half)
        for (int64_t j = 0; j < hs / 2; ++j) {
          const float* src = w + (head * hs + 2 * j + half) * dim;
          std::memcpy(out.data() + (head * hs + half * hs / 2 + j) * dim, src, static_cast<size_t>(dim) * 4);
        }
    return out;
  };
  std::vector<std::vector<float>> owned;
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, const float* data) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    tensors.push_back(
        {name, DType::F32, std::move(shape), std::string_view(reinterpret_cast<const char*>(data), n * 4)});
  };
  owned.reserve(static_cast<size_t>(2 * n_layers));
  add("model.embed_tokens.weight", {vocab, dim}, tok);
  for (int64_t l = 0; l < n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {dim}, rms_att + l * dim);
    owned.push_back(permute_rows(wq + l * dim * dim, n_heads));
    add(p + "self_attn.q_proj.weight", {dim, dim}, owned.back().data());
    owned.push_back(permute_rows(wk + l * kv_dim * dim, n_kv));
    add(p + "self_attn.k_proj.weight", {kv_dim, dim}, owned.back().data());
    add(p + "self_attn.v_proj.weight", {kv_dim, dim}, wv + l * kv_dim * dim);
    add(p + "self_attn.o_proj.weight", {dim, dim}, wo + l * dim * dim);
    add(p + "post_attention_layernorm.weight", {dim}, rms_ffn + l * dim);
    add(p + "mlp.gate_proj.weight", {hidden, dim}, w1 + l * hidden * dim);
    add(p + "mlp.up_proj.weight", {hidden, dim}, w3 + l * hidden * dim);
    add(p + "mlp.down_proj.weight", {dim, hidden}, w2 + l * dim * hidden);
  }
  add("model.norm.weight", {dim}, rms_final);
  if (!shared) add("lm_head.weight", {vocab, dim}, wcls);

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return io_error(out_dir + ": cannot create directory: " + ec.message());
  {
    SP_ASSIGN_OR_RETURN(auto w, io::Writer::open((fs::path(out_dir) / "config.json").string()));
    w->append(model_config_to_json(c));
    SP_RETURN_IF_ERROR(w->close());
  }
  return write_safetensors((fs::path(out_dir) / "model.safetensors").string(), tensors);
}

}  // namespace synpref::model
