// safetensors reading (hardened), memory mapping and writing. Format: docs/formats/safetensors.md.
#include "synpref/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "status_util.h"
#include "synpref/common/io.h"

namespace synpref::model {

namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::BOOL, "BOOL", 1},       {DType::U8, "U8", 1},           {DType::I8, "I8", 1},
    {DType::F8_E5M2, "F8_E5M2", 1}, {DType::F8_E4M3, "F8_E4M3", 1}, {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},         {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2},
    {DType::I32, "I32", 4},         {DType::U32, "U32", 4},         {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},         {DType::I64, "I64", 8},         {DType::U64, "U64", 8},
};

const DTypeInfo& info(DType d) {
  for (const auto& i : kDTypes)
    if (i.dtype == d) return i;
  SP_CHECK_MSG(false, "unknown DType value");
  return kDTypes[0];
}

std::string printable(std::string_view s) {
  // Tensor names come from untrusted files: keep messages printable and bounded.
  std::string out = "'";
  for (char c : s.substr(0, 200)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (s.size() > 200) out += "...";
  return out + "'";
}

const char* kAdvice = " (the file is corrupt or not a safetensors file: re-download or re-export it)";

// Reads a JSON number as a non-negative 64-bit integer.
bool as_u64(const nlohmann::json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

}  // namespace

const char* dtype_name(DType dtype) {
  return info(dtype).name;
}
size_t dtype_size(DType dtype) {
  return info(dtype).size;
}
bool parse_dtype(std::string_view name, DType* out) {
  for (const auto& i : kDTypes) {
    if (name == i.name) {
      *out = i.dtype;
      return true;
    }
  }
  return false;
}

uint64_t TensorEntry::n_elements() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

std::string TensorEntry::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

const TensorEntry* SafetensorsHeader::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors[it->second];
}

Result<SafetensorsHeader> parse_safetensors_header(const uint8_t* data, size_t available, uint64_t file_size,
                                                   const std::string& file_name) {
  const std::string& f = file_name;
  if (available > file_size) return internal_error(f + ": more bytes available than the file size");
  if (file_size < 8) {
    return data_error(f + ": " + std::to_string(file_size) +
                      " bytes, too short for a safetensors file (8-byte header length missing)" + kAdvice);
  }
  if (available < 8) return data_error(f + ": fewer than 8 bytes readable");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // little-endian u64
  if (n == 0 || n > kMaxHeaderBytes) {
    return data_error(f + ": header length " + std::to_string(n) + " is outside [1, " +
                      std::to_string(kMaxHeaderBytes) + "]" + kAdvice);
  }
  if (n > file_size - 8) {
    return data_error(f + ": truncated: header length " + std::to_string(n) + " needs " +
                      std::to_string(8 + n) + " bytes but the file has " + std::to_string(file_size) +
                      kAdvice);
  }
  if (available < 8 + n) return data_error(f + ": header not fully readable");
  const char* text = reinterpret_cast<const char*>(data + 8);
  if (text[0] != '{') return data_error(f + ": header does not start with '{'" + kAdvice);

  // Duplicate keys are ambiguous (which one is the tensor?): nlohmann keeps the last silently, so
  // they are detected during parsing.
  std::string duplicate;
  std::set<std::string> top_keys, inner_keys;
  auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::object_start && depth == 1) inner_keys.clear();
    if (event == nlohmann::json::parse_event_t::key && duplicate.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (depth == 1 && !top_keys.insert(key).second) duplicate = "tensor " + printable(key);
      if (depth == 2 && !inner_keys.insert(key).second) duplicate = "field " + printable(key);
    }
    return true;
  };
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text, text + n, callback);
  } catch (const nlohmann::json::exception& e) {
    return data_error(f + ": header is not valid JSON: " + e.what() + kAdvice);
  }
  if (!duplicate.empty()) return data_error(f + ": header lists " + duplicate + " twice" + kAdvice);
  if (!root.is_object()) return data_error(f + ": header is not a JSON object" + kAdvice);

  SafetensorsHeader header;
  header.header_bytes = n;
  header.data_begin = 8 + n;
  const uint64_t data_size = file_size - header.data_begin;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) return data_error(f + ": __metadata__ is not an object of strings" + kAdvice);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) {
          return data_error(f + ": __metadata__ value " + printable(m.key()) + " is not a string" + kAdvice);
        }
        header.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = f + ": tensor " + printable(name);
    if (name.empty()) return data_error(f + ": a tensor has an empty name" + kAdvice);
    if (!v.is_object()) return data_error(where + ": entry is not an object" + kAdvice);
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string())
      return data_error(where + ": missing or non-string \"dtype\"" + kAdvice);
    if (sh == v.end() || !sh->is_array())
      return data_error(where + ": missing or non-array \"shape\"" + kAdvice);
    if (off == v.end() || !off->is_array() || off->size() != 2) {
      return data_error(where + ": \"data_offsets\" must be an array [begin, end]" + kAdvice);
    }
    TensorEntry t;
    t.name = name;
    const std::string& dtype_str = dt->get_ref<const std::string&>();
    if (!parse_dtype(dtype_str, &t.dtype)) {
      return unsupported(
          where + ": unknown dtype " + printable(dtype_str) +
          " (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)");
    }
    if (sh->size() > kMaxTensorRank) {
      return data_error(where + ": rank " + std::to_string(sh->size()) + " exceeds " +
                        std::to_string(kMaxTensorRank) + kAdvice);
    }
    uint64_t n_bytes = dtype_size(t.dtype);
    for (const auto& d : *sh) {
      uint64_t dim = 0;
      if (!as_u64(d, &dim) || dim > (uint64_t{1} << 62)) {
        return data_error(where + ": shape entries must be non-negative integers" + kAdvice);
      }
      if (__builtin_mul_overflow(n_bytes, dim, &n_bytes)) {
        return data_error(where + ": shape " + sh->dump() + " overflows 64 bits" + kAdvice);
      }
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    uint64_t begin = 0, end = 0;
    if (!as_u64((*off)[0], &begin) || !as_u64((*off)[1], &end)) {
      return data_error(where + ": data_offsets must be non-negative integers" + kAdvice);
    }
    if (begin > end) {
      return data_error(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                        ") has begin > end" + kAdvice);
    }
    if (end > data_size) {
      return data_error(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                        ") run past the end of the data (" + std::to_string(data_size) +
                        " bytes after the header; file truncated?)" + kAdvice);
    }
    if (end - begin != n_bytes) {
      return data_error(where + ": data_offsets cover " + std::to_string(end - begin) + " bytes but dtype " +
                        dtype_str + " and shape " + sh->dump() + " need " + std::to_string(n_bytes) +
                        kAdvice);
    }
    t.begin = header.data_begin + begin;
    t.end = header.data_begin + end;
    header.tensors.push_back(std::move(t));
  }
  // The ranges must tile the data buffer: sorted by begin, each starts where the previous ended.
  std::stable_sort(header.tensors.begin(), header.tensors.end(),
                   [](const TensorEntry& a, const TensorEntry& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  uint64_t cursor = header.data_begin;
  for (size_t i = 0; i < header.tensors.size(); ++i) {
    const TensorEntry& t = header.tensors[i];
    if (t.begin < cursor) {
      return data_error(f + ": tensor " + printable(t.name) + " overlaps tensor " +
                        printable(header.tensors[i - 1].name) + " (data_offsets " +
                        std::to_string(t.begin - header.data_begin) + " < " +
                        std::to_string(cursor - header.data_begin) + ")" + kAdvice);
    }
    if (t.begin > cursor) {
      return data_error(f + ": " + std::to_string(t.begin - cursor) + " unindexed bytes before tensor " +
                        printable(t.name) + " (holes are not allowed)" + kAdvice);
    }
    cursor = t.end;
  }
  if (cursor != file_size) {
    return data_error(f + ": tensors cover " + std::to_string(cursor - header.data_begin) +
                      " data bytes but " + std::to_string(data_size) +
                      " follow the header (trailing garbage or wrong offsets)" + kAdvice);
  }
  for (size_t i = 0; i < header.tensors.size(); ++i) header.by_name_.emplace(header.tensors[i].name, i);
  return header;
}

namespace {

// Reads [0, size) of `fd` into `dst`. An error when the file ends early: it shrank since fstat.
Status read_all(int fd, uint8_t* dst, uint64_t size, const std::string& path) {
  constexpr uint64_t kChunk = uint64_t{64} << 20;
  uint64_t done = 0;
  while (done < size) {
    const size_t want = static_cast<size_t>(std::min(kChunk, size - done));
    const ssize_t got = ::pread(fd, dst + done, want, static_cast<off_t>(done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return io_error(path + ": read failed at byte " + std::to_string(done) + ": " + std::strerror(errno));
    }
    if (got == 0) {
      return io_error(path + ": the file shrank while it was being read (" + std::to_string(done) + " of " +
                      std::to_string(size) +
                      " bytes); was it truncated or rewritten? Load it again once it is "
                      "complete");
    }
    done += static_cast<uint64_t>(got);
  }
  return Status::ok();
}

}  // namespace

// Why the bytes are copied, not mapped: a Model keeps pointers into them for its whole life (the
// embedding table is read at every forward). With a file mapping, a checkpoint truncated or
// rewritten while `score` runs kills the process with SIGBUS at the next read of a vanished page,
// with no message. Reading the file into private anonymous memory at open turns truncation during
// load into an error naming the file, and makes any later change to the file invisible: nothing
// reads the file after open() returns. release() hands pages of already-packed tensors back to the
// kernel, so peak memory stays about one checkpoint plus its packed copy, as with a mapping.
Result<std::unique_ptr<MappedFile>> MappedFile::open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the S_ISREG check below rejects it (the
  // flag changes nothing for regular files).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return io_error(path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid_argument(path +
                            ": not a regular file (a FIFO, device or directory); model files must be "
                            "regular files");
  }
  auto file = std::unique_ptr<MappedFile>(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<uint64_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = mmap(nullptr, file->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return io_error(path + ": cannot allocate " + std::to_string(file->size_ >> 20) +
                      " MiB to load it: " + std::strerror(e));
    }
    file->data_ = static_cast<const uint8_t*>(p);  // owned from here: the destructor unmaps it
    Status read = read_all(fd, static_cast<uint8_t*>(p), file->size_, path);
    if (!read.is_ok()) {
      ::close(fd);
      return read;
    }
    mprotect(p, file->size_, PROT_READ);  // the bytes are the checkpoint: read-only from here
  }
  ::close(fd);
  return file;
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::release(uint64_t begin, uint64_t end) const {
  if (!data_ || begin >= end || end > size_) return;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t b = (begin + page - 1) / page * page;  // only pages fully inside the range
  uint64_t e = end / page * page;
  if (e > b) madvise(const_cast<uint8_t*>(data_) + b, e - b, MADV_DONTNEED);
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  SP_ASSIGN_OR_RETURN(auto mapped, MappedFile::open(path));
  SP_ASSIGN_OR_RETURN(auto header,
                      parse_safetensors_header(mapped->data(), mapped->size(), mapped->size(), path));
  auto file = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  file->file_ = std::move(mapped);
  file->header_ = std::move(header);
  return file;
}

Result<CheckpointFiles> open_checkpoint_files(const std::string& dir) {
  namespace fs = std::filesystem;
  CheckpointFiles c;
  const std::string single = (fs::path(dir) / "model.safetensors").string();
  const std::string index_path = (fs::path(dir) / "model.safetensors.index.json").string();
  if (fs::exists(single)) {
    SP_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(single));
    for (const auto& t : file->header().tensors) c.tensors[t.name] = {file.get(), &t};
    c.file_list = single;
    c.files.push_back(std::move(file));
  } else if (fs::exists(index_path)) {
    SP_RETURN_IF_ERROR(require_regular_file(index_path));  // a FIFO would block the read
    SP_ASSIGN_OR_RETURN(std::string index_text, io::read_file(index_path, uint64_t{256} << 20));
    nlohmann::json index;
    try {
      index = nlohmann::json::parse(index_text);
    } catch (const nlohmann::json::exception& e) {
      return data_error(index_path + ": not valid JSON: " + e.what());
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      return data_error(index_path + ": missing \"weight_map\" object");
    }
    std::map<std::string, const SafetensorsFile*> shards;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!it.value().is_string()) {
        return data_error(index_path + ": weight_map entry for tensor '" + it.key() + "' is not a file name");
      }
      const std::string shard = it.value().get<std::string>();
      if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
          shard == "." || shard == "..") {
        return data_error(index_path + ": weight_map names shard '" + shard + "' for tensor '" + it.key() +
                          "'; shards must be plain file names in the model folder");
      }
      auto sit = shards.find(shard);
      if (sit == shards.end()) {
        const std::string shard_path = (fs::path(dir) / shard).string();
        auto opened = SafetensorsFile::open(shard_path);
        if (!opened) return opened.status().with_context(index_path + " names shard '" + shard + "'");
        sit = shards.emplace(shard, opened.value().get()).first;
        c.file_list += (c.file_list.empty() ? "" : ", ") + shard_path;
        c.files.push_back(std::move(opened).value());
      }
      const TensorEntry* e = sit->second->header().find(it.key());
      if (!e) {
        return data_error(index_path + ": weight_map puts tensor '" + it.key() + "' in " +
                          sit->second->path() +
                          ", which has no such tensor (index and shards disagree; re-download the model)");
      }
      c.tensors[it.key()] = {sit->second, e};
    }
  } else {
    return not_found(dir +
                     ": no model.safetensors or model.safetensors.index.json (only safetensors checkpoints "
                     "are supported; convert pytorch_model.bin with transformers' save_pretrained)");
  }
  return c;
}

namespace {

Result<std::string> header_json(const std::vector<TensorSpec>& tensors,
                                const std::map<std::string, std::string>& metadata,
                                std::vector<uint64_t>* sizes) {
  // nlohmann::ordered_json keeps insertion order; readers sort by offset anyway.
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const auto& t : tensors) {
    if (!names.insert(t.name).second)
      return invalid_argument("write_safetensors: tensor '" + t.name + "' twice");
    uint64_t n = dtype_size(t.dtype);
    for (int64_t d : t.shape) {
      if (d < 0) return invalid_argument("write_safetensors: negative dimension in '" + t.name + "'");
      n *= static_cast<uint64_t>(d);
    }
    sizes->push_back(n);
    h[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text = h.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  return text;
}

}  // namespace

Status write_safetensors_streaming(const std::string& path, const std::vector<TensorSpec>& tensors,
                                   const std::function<Status(size_t, std::string*)>& produce,
                                   const std::map<std::string, std::string>& metadata) {
  std::vector<uint64_t> sizes;
  SP_ASSIGN_OR_RETURN(std::string text, header_json(tensors, metadata, &sizes));
  SP_ASSIGN_OR_RETURN(auto out, io::Writer::open(path));
  char len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out->append(std::string_view(len, 8));
  out->append(text);
  std::string bytes;
  for (size_t i = 0; i < tensors.size(); ++i) {
    bytes.clear();
    SP_RETURN_IF_ERROR(produce(i, &bytes));
    if (bytes.size() != sizes[i]) {
      return internal_error("write_safetensors: tensor '" + tensors[i].name + "' produced " +
                            std::to_string(bytes.size()) + " bytes, expected " + std::to_string(sizes[i]));
    }
    out->append(bytes);
  }
  return out->close();
}

Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSpec> specs;
  for (const auto& t : tensors) specs.push_back({t.name, t.dtype, t.shape});
  return write_safetensors_streaming(
      path, specs,
      [&](size_t i, std::string* bytes) {
        bytes->assign(tensors[i].data);
        return Status::ok();
      },
      metadata);
}

}  // namespace synpref::model
