// Loading a Hugging Face folder: config, (sharded) safetensors, validation against the tensor-name
// table, and packing every matrix once into one buffer for the GEMM kernels.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/random.h"
#include "model_impl.h"
#include "status_util.h"
#include "synpref/common/io.h"
#include "synpref/common/threads.h"

namespace synpref::model {

namespace {

namespace fs = std::filesystem;

using Located = CheckpointFiles::Located;

std::string shape_string(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

bool to_wtype(DType d, kernels::WType* out) {
  switch (d) {
    case DType::F32:
      *out = kernels::WType::f32;
      return true;
    case DType::F16:
      *out = kernels::WType::f16;
      return true;
    case DType::BF16:
      *out = kernels::WType::bf16;
      return true;
    default:
      return false;
  }
}

// Transformers' per-layer suffixes ("self_attn.q_proj.bias", ...) of a config.
std::set<std::string> layer_suffixes(const ModelConfig& c) {
  std::set<std::string> out;
  const std::string p = "layers.0.";
  for (const auto& t : checkpoint_tensors(c, "")) {
    if (t.layer == 0) out.insert(t.name.substr(p.size()));
  }
  return out;
}

}  // namespace

Status Model::Impl::load(const std::string& dir_in, const LoadOptions& options) {
  dir = dir_in;
  kernels = kernels::select_kernels(options.kernels);
  if (!kernels) {
    std::string list;
    for (const auto& k : kernels::supported_kernels()) list += (list.empty() ? "" : ", ") + k;
    return invalid_argument("kernels '" + options.kernels +
                            "' is unknown or not supported by this CPU (supported: auto, " + list + ")");
  }
  SP_RETURN_IF_ERROR(check_threads(options.n_threads, "n_threads"));
  const int n_threads = resolve_threads(options.n_threads);
  pool = std::make_unique<ThreadPool>(n_threads);

  // config.json
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(config_path)) {
    return not_found(dir + ": no config.json (expected a Hugging Face model folder)");
  }
  SP_RETURN_IF_ERROR(require_regular_file(config_path));  // a FIFO would block the read
  SP_ASSIGN_OR_RETURN(std::string config_text, io::read_file(config_path, uint64_t{16} << 20));
  SP_ASSIGN_OR_RETURN(config, parse_model_config(config_text, config_path));

  // Weights: model.safetensors, or the shards named by model.safetensors.index.json.
  SP_ASSIGN_OR_RETURN(CheckpointFiles checkpoint, open_checkpoint_files(dir));
  std::map<std::string, Located>& tensors = checkpoint.tensors;
  const std::string& file_list = checkpoint.file_list;
  for (auto& f : checkpoint.files) files.push_back(std::move(f));  // the objects Located points to stay put
  auto find = [&](const std::string& name) -> const Located* {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
  };

  // Base-model checkpoints (Qwen3Model.save_pretrained) have no "model." prefix.
  std::string prefix = "model.";
  if (!find("model.embed_tokens.weight") && find("embed_tokens.weight")) prefix = "";

  // Refuse tensors the config says cannot exist (more layers, biases, QK-norm): the checkpoint and
  // config.json disagree, and silently ignoring trained weights would give wrong scores.
  {
    ModelConfig every = config;
    every.attention_bias = every.mlp_bias = every.qk_norm = true;
    const std::set<std::string> known = layer_suffixes(every), expected = layer_suffixes(config);
    const std::string layer_prefix = prefix + "layers.";
    for (const auto& [name, loc] : tensors) {
      if (name.rfind(layer_prefix, 0) != 0) continue;
      const size_t dot = name.find('.', layer_prefix.size());
      if (dot == std::string::npos) continue;
      const std::string number = name.substr(layer_prefix.size(), dot - layer_prefix.size());
      if (number.empty() || number.size() > 6 || number.find_first_not_of("0123456789") != std::string::npos)
        continue;
      const int64_t layer = std::stoll(number);
      if (layer >= config.n_layer) {
        return data_error(loc.file->path() + ": has tensor '" + name +
                          "' but config.json says num_hidden_layers=" + std::to_string(config.n_layer) +
                          " (contradictory config; fix config.json)");
      }
      const std::string suffix = name.substr(dot + 1);
      if (known.count(suffix) && !expected.count(suffix)) {
        return data_error(
            loc.file->path() + ": has tensor '" + name + "' which config.json rules out (" +
            (suffix.find("norm") != std::string::npos
                 ? std::string(family_spec(config.family).model_type) + " has no per-head q/k norm"
             : suffix.find("mlp") != std::string::npos ? "mlp_bias is false"
                                                       : "attention_bias is false") +
            "; contradictory config, fix config.json)");
      }
    }
  }

  // Validate every tensor the config implies (name, dtype, shape).
  ModelConfig body = config;
  body.head = HeadKind::none;
  std::map<std::string, std::pair<Located, kernels::WType>> ok;
  auto check = [&](const CheckpointTensor& t) -> Status {
    const Located* loc = find(t.name);
    if (!loc) {
      return not_found(dir + ": tensor '" + t.name + "' is missing from " + file_list +
                       " (the checkpoint does not match " + config.architecture +
                       " as described by config.json)");
    }
    kernels::WType wt;
    if (!to_wtype(loc->entry->dtype, &wt)) {
      return unsupported(loc->file->path() + ": tensor '" + t.name + "' has dtype " +
                         dtype_name(loc->entry->dtype) + "; synpref reads F32, F16 and BF16 weights");
    }
    if (loc->entry->shape != t.shape) {
      return data_error(loc->file->path() + ": tensor '" + t.name + "' has shape " +
                        loc->entry->shape_string() + " but config.json implies " + shape_string(t.shape) +
                        " (contradictory config or wrong checkpoint)");
    }
    ok[t.name] = {*loc, wt};
    return Status::ok();
  };
  const std::vector<CheckpointTensor> table = checkpoint_tensors(body, prefix);
  for (const auto& t : table) SP_RETURN_IF_ERROR(check(t));

  // Heads.
  CheckpointTensor score_t{"score.weight", TensorRole::score, -1, {config.num_labels, config.hidden_size}};
  bool score_from_file = false;
  if (config.head == HeadKind::score) {
    if (find("score.weight") || !options.init_score_head) {
      SP_RETURN_IF_ERROR(check(score_t));
      score_from_file = true;
      if (config.num_labels != 1) {
        return unsupported(config_path + ": num_labels is " + std::to_string(config.num_labels) +
                           "; synpref scores single-output reward models (num_labels 1)");
      }
    }
  }
  const bool init_score = !score_from_file && options.init_score_head;
  has_score = score_from_file || init_score;
  CheckpointTensor lm_t{"lm_head.weight", TensorRole::lm_head, -1, {config.vocab_size, config.hidden_size}};
  if (config.tie_word_embeddings) {
    has_lm = true;
  } else if (config.head == HeadKind::lm || find("lm_head.weight")) {
    SP_RETURN_IF_ERROR(check(lm_t));
    has_lm = true;
  }

  auto tensor_of = [&](const std::string& name) -> const std::pair<Located, kernels::WType>& {
    return ok.at(name);
  };
  auto data_of = [&](const std::string& name) {
    return tensor_of(name).first.file->tensor_data(*tensor_of(name).first.entry);
  };
  const std::string embed_name = prefix + "embed_tokens.weight";
  embed_type = tensor_of(embed_name).second;
  embed = data_of(embed_name);
  if (has_lm) {
    const std::string src = config.tie_word_embeddings ? embed_name : "lm_head.weight";
    lm_source_type = tensor_of(src).second;
    lm_source = data_of(src);
  }

  // Small f32 parameters: norms and biases, one allocation.
  const int64_t C = config.hidden_size, D = config.head_dim, F = config.intermediate_size;
  const int64_t qkv_n = config.q_dim() + 2 * config.kv_dim();
  const int64_t per_layer_small = 2 * C + (config.qk_norm ? 2 * D : 0) +
                                  (config.attention_bias ? qkv_n + C : 0) + (config.mlp_bias ? 2 * F + C : 0);
  small.assign(static_cast<size_t>(per_layer_small * config.n_layer + C), 0.0f);
  float* cursor = small.data();
  auto take = [&](std::initializer_list<std::string> names) -> const float* {
    float* start = cursor;
    for (const auto& name : names) {
      const auto& [loc, wt] = tensor_of(name);
      const int64_t n = static_cast<int64_t>(loc.entry->n_elements());
      const uint8_t* src = loc.file->tensor_data(*loc.entry);
      for (int64_t i = 0; i < n; ++i) cursor[i] = kernels::widen(wt, src, i);
      cursor += n;
    }
    return start;
  };
  layers.resize(static_cast<size_t>(config.n_layer));
  for (int64_t l = 0; l < config.n_layer; ++l) {
    const std::string lp = prefix + "layers." + std::to_string(l) + ".";
    LayerWeights& L = layers[static_cast<size_t>(l)];
    L.attn_norm = take({lp + "input_layernorm.weight"});
    L.ffn_norm = take({lp + "post_attention_layernorm.weight"});
    if (config.qk_norm) {
      L.q_norm = take({lp + "self_attn.q_norm.weight"});
      L.k_norm = take({lp + "self_attn.k_norm.weight"});
    }
    if (config.attention_bias) {
      L.b_qkv =
          take({lp + "self_attn.q_proj.bias", lp + "self_attn.k_proj.bias", lp + "self_attn.v_proj.bias"});
      L.b_o = take({lp + "self_attn.o_proj.bias"});
    }
    if (config.mlp_bias) {
      L.b_gate_up = take({lp + "mlp.gate_proj.bias", lp + "mlp.up_proj.bias"});
      L.b_down = take({lp + "mlp.down_proj.bias"});
    }
  }
  final_norm = take({prefix + "norm.weight"});
  SP_CHECK(cursor == small.data() + small.size());

  // Packed matrices: plan, allocate once, pack in parallel, drop the source pages.
  std::vector<float> score_init;
  if (init_score) {
    // transformers initializes a new Linear head as normal(0, initializer_range).
    Rng rng(options.score_head_seed, "score.weight");
    score_init.resize(static_cast<size_t>(C));
    for (auto& v : score_init) v = static_cast<float>(rng.normal() * config.initializer_range);
  }
  struct Job {
    kernels::PackedMatrix* dst;
    std::vector<kernels::RowSource> sources;
    std::vector<Located> release;
    int64_t k;
    size_t offset = 0;
  };
  std::vector<Job> jobs;
  auto add_job = [&](kernels::PackedMatrix* dst, std::initializer_list<std::string> names, int64_t k) {
    Job job{dst, {}, {}, k};
    for (const auto& name : names) {
      const auto& [loc, wt] = tensor_of(name);
      job.sources.push_back({wt, loc.file->tensor_data(*loc.entry), loc.entry->shape[0]});
      job.release.push_back(loc);
    }
    jobs.push_back(std::move(job));
  };
  for (int64_t l = 0; l < config.n_layer; ++l) {
    const std::string lp = prefix + "layers." + std::to_string(l) + ".";
    LayerWeights& L = layers[static_cast<size_t>(l)];
    if (l + 1 < config.n_layer) {
      add_job(
          &L.w_qkv,
          {lp + "self_attn.q_proj.weight", lp + "self_attn.k_proj.weight", lp + "self_attn.v_proj.weight"},
          C);
    } else {
      add_job(&L.w_q, {lp + "self_attn.q_proj.weight"}, C);
      add_job(&L.w_kv, {lp + "self_attn.k_proj.weight", lp + "self_attn.v_proj.weight"}, C);
    }
    add_job(&L.w_o, {lp + "self_attn.o_proj.weight"}, config.q_dim());
    add_job(&L.w_gate_up, {lp + "mlp.gate_proj.weight", lp + "mlp.up_proj.weight"}, C);
    add_job(&L.w_down, {lp + "mlp.down_proj.weight"}, F);
  }
  if (score_from_file) add_job(&score, {"score.weight"}, C);
  if (init_score) jobs.push_back(Job{&score, {{kernels::WType::f32, score_init.data(), 1}}, {}, C});

  size_t total = 0;
  for (auto& job : jobs) {
    kernels::WType type = job.sources[0].type;
    int64_t n = 0;
    for (const auto& s : job.sources) {
      if (s.type != type) type = kernels::WType::f32;  // mixed dtypes: widen all
      n += s.rows;
    }
    job.offset = total;
    *job.dst = kernels::PackedMatrix{type, n, job.k, kernels->nr, nullptr};
    total += (kernels::packed_bytes(type, n, job.k, kernels->nr) + 63) / 64 * 64;
  }
  if (!packed.allocate(total)) {
    return io_error(dir + ": cannot allocate " + std::to_string(total >> 20) + " MiB for the packed weights");
  }
  for (auto& job : jobs) {
    job.dst->data = packed.data() + job.offset;
    const int64_t panels = job.dst->n_panels();
    const int64_t per_task = 8;
    pool->parallel_for((panels + per_task - 1) / per_task, [&](int64_t task, int) {
      const int64_t p0 = task * per_task;
      kernels::pack_weights(job.sources, job.k, kernels->nr, job.dst->type, packed.data() + job.offset, p0,
                            std::min(panels, p0 + per_task));
    });
    // The packed copy is what the kernels read; let the kernel reclaim the mapped pages.
    for (const auto& loc : job.release) loc.file->mapped().release(loc.entry->begin, loc.entry->end);
  }

  gemm = std::make_unique<kernels::Gemm>(kernels, pool.get(), kernels::kInferenceTiling);
  graph = std::make_unique<Graph>(config, kernels, pool.get());
  return Status::ok();
}

Result<std::unique_ptr<Model>> Model::load(const std::string& dir, const LoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  SP_RETURN_IF_ERROR(impl->load(dir, options));
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

}  // namespace synpref::model
