// HF folders in and out; the training-state file (docs/formats/training-state.md).
#include "synpref/train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
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
          dst[i] = e.dtype == DType::BF16 ? kernels::bf16_to_f32(bits) : kernels::f16_to_f32(bits);
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
// Version 2 added `files` (checksums of the checkpoint's other files).
constexpr uint32_t kStateVersion = 2;

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

// 32 hex digits, high word first (Hash128::hex).
Result<Hash128> parse_hash(const std::string& hex, const std::string& path, const char* field) {
  const bool ok = hex.size() == 32 && std::all_of(hex.begin(), hex.end(), [](char ch) {
                    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
                  });
  if (!ok) {
    return data_error(path + ": " + field +
                      " must be 32 hex digits (the checkpoint is damaged; resume from an earlier "
                      "checkpoint-* folder)");
  }
  Hash128 h;
  h.hi = std::stoull(hex.substr(0, 16), nullptr, 16);
  h.lo = std::stoull(hex.substr(16), nullptr, 16);
  return h;
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
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const FileChecksum& f : st.files)
    files.push_back({{"name", f.name}, {"bytes", f.bytes}, {"xxh3_128", f.xxh3.hex()}});
  h["files"] = files;
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
  if (version == 1) {
    return data_error(
        path +
        ": training-state version 1 (written by an older synpref, without checksums of the "
        "checkpoint's files); this synpref reads version " +
        std::to_string(kStateVersion) +
        ". Resume with the synpref that wrote it, or start a new run whose `model_init` is this "
        "checkpoint folder (the optimizer state is then not carried over)");
  }
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
    SP_ASSIGN_OR_RETURN(st.options_fingerprint, parse_hash(h.at("options_fingerprint").get<std::string>(),
                                                           path, "options_fingerprint"));
    for (const auto& f : h.at("files")) {
      FileChecksum file;
      file.name = f.at("name").get<std::string>();
      file.bytes = f.at("bytes").get<uint64_t>();
      SP_ASSIGN_OR_RETURN(file.xxh3, parse_hash(f.at("xxh3_128").get<std::string>(), path, "files.xxh3_128"));
      if (file.name.empty() || file.name.find('/') != std::string::npos || file.name[0] == '.')
        return data_error(path + ": files lists '" + file.name + "', which is not a plain file name" + redo);
      st.files.push_back(std::move(file));
    }
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

// ---------------------------------------------------------------- checkpoints in a run folder

namespace {

constexpr char kStateFile[] = "training_state.bin";
constexpr char kCheckpointPrefix[] = "checkpoint-";

// Flushes a file's or a folder's data and metadata to the device (a folder: the names in it).
Status fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error(path + ": cannot open to sync it to disk: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return io_error(path + ": fsync failed: " + std::strerror(err));
  return Status::ok();
}

// Steps of the complete checkpoint-<step> folders of a run folder (temporary ones have a '.').
std::vector<uint64_t> checkpoint_steps(const std::string& run_dir) {
  std::vector<uint64_t> steps;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string digits = name.substr(std::min(name.size(), sizeof(kCheckpointPrefix) - 1));
    if (name.rfind(kCheckpointPrefix, 0) != 0 || digits.empty() ||
        !std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      continue;
    steps.push_back(std::stoull(digits));
  }
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

// Checksums every file of `dir` (sorted by name) into state.files and fsyncs each.
Status checksum_files(const std::string& dir, TrainState& state) {
  state.files.clear();
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string path = (fs::path(dir) / name).string();
    FileChecksum file;
    file.name = name;
    SP_ASSIGN_OR_RETURN(file.xxh3, hash_file(path, &file.bytes));
    SP_RETURN_IF_ERROR(fsync_path(path));
    state.files.push_back(std::move(file));
  }
  return Status::ok();
}

// Removes all but the newest `keep` checkpoints, never `written` (the step just saved).
void rotate_checkpoints(const std::string& run_dir, uint64_t keep, uint64_t written) {
  const std::vector<uint64_t> steps = checkpoint_steps(run_dir);
  std::error_code ec;
  for (size_t i = std::max<uint64_t>(1, keep); i < steps.size(); ++i)
    if (steps[i] != written)
      fs::remove_all(fs::path(run_dir) / (kCheckpointPrefix + std::to_string(steps[i])), ec);
}

}  // namespace

Result<Hash128> hash_file(const std::string& path, uint64_t* bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return io_error(path + ": cannot open: " + std::strerror(errno));
  Hasher hasher(0);
  std::vector<char> buf(size_t{1} << 20);
  *bytes = 0;
  for (;;) {
    const size_t n = std::fread(buf.data(), 1, buf.size(), file.get());
    hasher.add_bytes(std::string_view(buf.data(), n));
    *bytes += n;
    if (n < buf.size()) break;
  }
  if (std::ferror(file.get())) return io_error(path + ": read failed");
  return hasher.digest();
}

Status save_checkpoint(const std::string& run_dir, const RewardModel& rm, const std::string& tokenizer_dir,
                       const model::TokenizerFacts* facts, TrainState& state, uint64_t keep) {
  const std::string name = kCheckpointPrefix + std::to_string(state.step);
  const std::string dir = (fs::path(run_dir) / name).string();
  const std::string tmp = dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  SP_RETURN_IF_ERROR(save_hf_folder(tmp, rm, tokenizer_dir, facts));
  SP_RETURN_IF_ERROR(checksum_files(tmp, state));
  const std::string state_path = (fs::path(tmp) / kStateFile).string();
  SP_RETURN_IF_ERROR(save_train_state(state_path, state));
  SP_RETURN_IF_ERROR(fsync_path(state_path));
  SP_RETURN_IF_ERROR(fsync_path(tmp));
  // A checkpoint of this step may exist already (written by an earlier attempt of this run): move it
  // aside rather than delete it first, so that `latest` names a folder for all but an instant.
  const std::string old = dir + ".old";
  fs::remove_all(old, ec);
  if (fs::exists(dir)) fs::rename(dir, old, ec);
  if (ec) return io_error(dir + ": cannot move aside: " + ec.message());
  fs::rename(tmp, dir, ec);
  if (ec) return io_error(tmp + ": cannot rename to " + dir + ": " + ec.message());
  fs::remove_all(old, ec);
  SP_RETURN_IF_ERROR(fsync_path(run_dir));
  const std::string latest = (fs::path(run_dir) / "latest").string();
  SP_RETURN_IF_ERROR(io::write_text(latest, name + "\n"));
  SP_RETURN_IF_ERROR(fsync_path(latest));
  SP_RETURN_IF_ERROR(fsync_path(run_dir));
  rotate_checkpoints(run_dir, keep, state.step);
  return Status::ok();
}

Result<std::string> latest_checkpoint(const std::string& run_dir) {
  const std::string latest = (fs::path(run_dir) / "latest").string();
  if (!fs::exists(latest)) return not_found(run_dir + ": no checkpoint to resume from (no 'latest' file)");
  SP_ASSIGN_OR_RETURN(std::string name, io::read_file(latest, 4096));
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  const std::string dir = (fs::path(run_dir) / name).string();
  if (!fs::is_directory(dir)) return not_found(latest + " names " + dir + ", which does not exist");
  return dir;
}

Result<TrainState> load_checkpoint(const std::string& dir, RewardModel& rm) {
  const std::string redo = " (the checkpoint is damaged; resume from an earlier checkpoint-* folder)";
  SP_ASSIGN_OR_RETURN(TrainState state,
                      load_train_state((fs::path(dir) / kStateFile).string(), rm.layout().n_trainable()));
  bool has_weights = false;
  for (const FileChecksum& file : state.files) {
    const std::string path = (fs::path(dir) / file.name).string();
    if (!fs::is_regular_file(path))
      return data_error(path + ": missing (listed in " + kStateFile + ")" + redo);
    uint64_t bytes = 0;
    SP_ASSIGN_OR_RETURN(const Hash128 hash, hash_file(path, &bytes));
    if (bytes != file.bytes) {
      return data_error(path + ": " + std::to_string(bytes) + " bytes, " + kStateFile + " recorded " +
                        std::to_string(file.bytes) + redo);
    }
    if (!(hash == file.xxh3)) return data_error(path + ": checksum mismatch (XXH3-128)" + redo);
    has_weights |= file.name == "model.safetensors";
  }
  if (!has_weights) return data_error(dir + ": " + kStateFile + " does not list model.safetensors" + redo);
  bool score_initialized = false;
  SP_RETURN_IF_ERROR(load_hf_weights(dir, rm, 0, &score_initialized));
  if (score_initialized) return data_error(dir + ": has no score.weight (not a synpref checkpoint)");
  return state;
}

}  // namespace synpref::train
