// HF folders in and out; the training-state file (docs/formats/training-state.md).
#include "synpref/train/checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/random.h"
#include "kernels/kernels.h"
#include "synpref/common/io.h"
#include "synpref/model/init.h"
#include "synpref/model/safetensors.h"

namespace synpref::train {

namespace fs = std::filesystem;
using model::DType;

Result<model::ModelConfig> read_reward_config(const std::string& dir) {
  const std::string path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(path)) return not_found(dir + ": no config.json (expected a Hugging Face model folder)");
  SP_ASSIGN_OR_RETURN(std::string text, io::read_file(path, uint64_t{16} << 20));
  SP_ASSIGN_OR_RETURN(model::ModelConfig c, model::parse_model_config(text, path));
  if (c.head == model::HeadKind::score && c.num_labels != 1) {
    return unsupported(path + ": num_labels is " + std::to_string(c.num_labels) +
                       "; Bradley-Terry training needs a single-output head (num_labels 1)");
  }
  c.head = model::HeadKind::score;
  c.num_labels = 1;
  c.architecture = model::family_spec(c.family).arch_score;
  return c;
}

namespace {

using Located = model::CheckpointFiles::Located;

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

Status load_hf_weights(const std::string& dir, RewardModel& rm, uint64_t seed, bool* score_initialized) {
  SP_ASSIGN_OR_RETURN(model::CheckpointFiles checkpoint, model::open_checkpoint_files(dir));
  const std::map<std::string, Located>& tensors = checkpoint.tensors;
  // Base-model checkpoints (Qwen3Model.save_pretrained) have no "model." prefix.
  const bool no_prefix = !tensors.count("model.embed_tokens.weight") && tensors.count("embed_tokens.weight");
  const model::ModelConfig& config = rm.config();
  float* params = rm.params().data();
  *score_initialized = false;
  for (const ParamTensor& t : rm.layout().tensors()) {
    std::string name = t.name;
    if (no_prefix && name.rfind("model.", 0) == 0) name = name.substr(6);
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      if (t.role == model::TensorRole::score) {
        // transformers initializes a new Linear head as normal(0, initializer_range).
        Rng rng(seed, "score.weight");
        for (size_t i = 0; i < t.size; ++i)
          params[t.offset + i] = static_cast<float>(rng.normal() * config.initializer_range);
        *score_initialized = true;
        continue;
      }
      return not_found(dir + ": tensor '" + name + "' is missing (the checkpoint does not match " +
                       config.architecture + " as described by config.json)");
    }
    const model::TensorEntry& e = *it->second.entry;
    if (e.shape != t.shape) {
      return data_error(it->second.file->path() + ": tensor '" + name + "' has shape " + e.shape_string() +
                        " but config.json implies " + shape_text(t.shape));
    }
    const uint8_t* src = it->second.file->tensor_data(e);
    float* dst = params + t.offset;
    switch (e.dtype) {
      case DType::F32:
        std::memcpy(dst, src, t.size * sizeof(float));
        break;
      case DType::BF16:
      case DType::F16:
        for (size_t i = 0; i < t.size; ++i) {
          uint16_t bits;
          std::memcpy(&bits, src + 2 * i, 2);
          dst[i] =
              e.dtype == DType::BF16 ? kernels::bf16_to_f32(bits) : kernels::f16_to_f32(bits);
        }
        break;
      default:
        return unsupported(it->second.file->path() + ": tensor '" + name + "' has dtype " +
                           model::dtype_name(e.dtype) + "; training reads F32, F16 and BF16 weights");
    }
  }
  return Status::ok();
}

Status save_hf_folder(const std::string& dir, const RewardModel& rm, const std::string& tokenizer_dir,
                      const model::TokenizerFacts* facts) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error(dir + ": cannot create directory: " + ec.message());
  model::ModelConfig c = rm.config();
  c.head = model::HeadKind::score;
  c.num_labels = 1;
  c.architecture = model::family_spec(c.family).arch_score;
  c.torch_dtype = "float32";
  {
    SP_ASSIGN_OR_RETURN(auto w, io::Writer::open((fs::path(dir) / "config.json").string()));
    w->append(model::model_config_to_json(c));
    SP_RETURN_IF_ERROR(w->close());
  }
  // Tensors in transformers' table order (what save_pretrained would write, names sorted by module).
  const auto table = model::checkpoint_tensors(c, "model.");
  std::vector<model::TensorToWrite> out;
  const float* params = rm.params().data();
  for (const auto& ct : table) {
    const ParamTensor* t = rm.layout().find(ct.name);
    if (!t) return internal_error("tensor '" + ct.name + "' is not in the training layout");
    out.push_back(
        {ct.name, DType::F32, ct.shape,
         std::string_view(reinterpret_cast<const char*>(params + t->offset), t->size * sizeof(float))});
  }
  SP_RETURN_IF_ERROR(model::write_safetensors((fs::path(dir) / "model.safetensors").string(), out));
  if (!tokenizer_dir.empty()) {
    if (facts) return model::copy_tokenizer_files(tokenizer_dir, *facts, dir);
    SP_ASSIGN_OR_RETURN(auto found, model::inspect_tokenizer_dir(tokenizer_dir));
    SP_RETURN_IF_ERROR(model::copy_tokenizer_files(tokenizer_dir, found, dir));
  }
  return Status::ok();
}

// ---------------------------------------------------------------- training state

namespace {

constexpr char kStateMagic[8] = {'S', 'P', 'T', 'R', 'S', 'T', 'A', 'T'};
constexpr uint32_t kStateVersion = 1;

void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace

Status save_train_state(const std::string& path, const TrainState& st) {
  SP_CHECK(st.adam_m.size() == st.adam_v.size());
  nlohmann::ordered_json h;
  h["step"] = st.step;
  h["epoch"] = st.epoch;
  h["cursor"] = st.cursor;
  h["rng_state"] = std::to_string(st.rng_state);  // as a string: JSON readers may round u64
  h["tokens_seen"] = st.tokens_seen;
  h["pairs_seen"] = st.pairs_seen;
  h["best_metric"] = st.best_metric;
  h["best_step"] = st.best_step;
  h["options_fingerprint"] = st.options_fingerprint.hex();
  h["log_sums"] = st.log_sums;
  h["n_trainable"] = st.adam_m.size();
  std::string header = h.dump();
  while ((16 + header.size()) % 8 != 0) header.push_back(' ');
  std::string bytes(kStateMagic, 8);
  put_u32(bytes, kStateVersion);
  put_u32(bytes, static_cast<uint32_t>(header.size()));
  bytes += header;
  bytes.append(reinterpret_cast<const char*>(st.adam_m.data()), st.adam_m.size() * sizeof(float));
  bytes.append(reinterpret_cast<const char*>(st.adam_v.data()), st.adam_v.size() * sizeof(float));
  put_u64(bytes, hash64(bytes));
  SP_ASSIGN_OR_RETURN(auto w, io::Writer::open(path));
  w->append(bytes);
  return w->close();
}

Result<TrainState> load_train_state(const std::string& path, size_t n_trainable) {
  SP_ASSIGN_OR_RETURN(std::string bytes, io::read_file(path, uint64_t{64} << 30));
  const std::string redo = " (the checkpoint is damaged; resume from an earlier checkpoint-* folder)";
  if (bytes.size() < 24 || std::memcmp(bytes.data(), kStateMagic, 8) != 0)
    return data_error(path + ": not a synpref training state (bad magic)" + redo);
  const uint32_t version = get_u32(bytes.data() + 8);
  if (version != kStateVersion) {
    return data_error(path + ": training-state version " + std::to_string(version) + ", this synpref reads " +
                      std::to_string(kStateVersion) + " (resume with the synpref that wrote it)");
  }
  const uint64_t stored = get_u64(bytes.data() + bytes.size() - 8);
  if (stored != hash64(std::string_view(bytes.data(), bytes.size() - 8)))
    return data_error(path + ": checksum mismatch" + redo);
  const uint32_t header_bytes = get_u32(bytes.data() + 12);
  if (16 + static_cast<uint64_t>(header_bytes) > bytes.size() - 8)
    return data_error(path + ": header runs past the end" + redo);
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(std::string_view(bytes.data() + 16, header_bytes));
  } catch (const nlohmann::json::exception& e) {
    return data_error(path + ": header is not valid JSON: " + e.what() + redo);
  }
  TrainState st;
  try {
    st.step = h.at("step").get<uint64_t>();
    st.epoch = h.at("epoch").get<uint64_t>();
    st.cursor = h.at("cursor").get<uint64_t>();
    st.rng_state = std::stoull(h.at("rng_state").get<std::string>());
    st.tokens_seen = h.at("tokens_seen").get<uint64_t>();
    st.pairs_seen = h.at("pairs_seen").get<uint64_t>();
    st.best_metric = h.at("best_metric").get<double>();
    st.best_step = h.at("best_step").get<uint64_t>();
    st.log_sums = h.at("log_sums").get<std::vector<double>>();
    const std::string fp = h.at("options_fingerprint").get<std::string>();
    if (fp.size() != 32) return data_error(path + ": options_fingerprint must be 32 hex digits" + redo);
    st.options_fingerprint.hi = std::stoull(fp.substr(0, 16), nullptr, 16);
    st.options_fingerprint.lo = std::stoull(fp.substr(16), nullptr, 16);
    const uint64_t n = h.at("n_trainable").get<uint64_t>();
    if (n != n_trainable) {
      return data_error(path + ": holds optimizer moments for " + std::to_string(n) +
                        " trainable parameters, the model has " + std::to_string(n_trainable) +
                        " (different model or freezing options)");
    }
  } catch (const std::exception& e) {
    return data_error(path + ": header field missing or of the wrong type: " + e.what() + redo);
  }
  const size_t need = 16 + header_bytes + 2 * n_trainable * sizeof(float) + 8;
  if (bytes.size() != need) {
    return data_error(path + ": " + std::to_string(bytes.size()) + " bytes, expected " +
                      std::to_string(need) + redo);
  }
  const char* p = bytes.data() + 16 + header_bytes;
  st.adam_m.resize(n_trainable);
  st.adam_v.resize(n_trainable);
  std::memcpy(st.adam_m.data(), p, n_trainable * sizeof(float));
  std::memcpy(st.adam_v.data(), p + n_trainable * sizeof(float), n_trainable * sizeof(float));
  return st;
}

}  // namespace synpref::train
