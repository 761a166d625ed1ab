// synpref/model/safetensors.h: the safetensors file format (read, validate, memory-map, write).
//
// Layout (byte by byte; full spec and our validation rules in docs/formats/safetensors.md):
//
//   offset 0      u64 little-endian N: length of the JSON header in bytes (1 <= N <= 100,000,000)
//   offset 8      N bytes of UTF-8 JSON: an object mapping tensor name ->
//                   {"dtype": "F32"|"F16"|"BF16"|..., "shape": [d0, d1, ...], "data_offsets": [begin, end]}
//                 plus an optional "__metadata__": {string: string}. Trailing spaces pad the header.
//   offset 8+N    the data buffer. data_offsets are relative to it, half-open [begin, end).
//
// A file is accepted only if every tensor's byte range has exactly prod(shape) * sizeof(dtype) bytes,
// the ranges sorted by begin tile the data buffer from 0 to its end with no hole and no overlap, and
// the data buffer ends exactly at the end of the file (the rules of the reference implementation).
// Every failure is a Status naming the file and, where one is involved, the tensor.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::model {

// Element types of the safetensors format. The model engine computes with F32, F16 and BF16;
// the others are parsed (so files holding them validate) but rejected where a weight is needed.
enum class DType : uint8_t {
  BOOL,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  F64,
  I64,
  U64
};

const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);
// Parses "F32", "BF16", ... (the spelling used in safetensors headers).
bool parse_dtype(std::string_view name, DType* out);

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // absolute byte offset in the file (8 + N + data_offsets[0])
  uint64_t end = 0;    // absolute, exclusive
  uint64_t n_elements() const;
  std::string shape_string() const;  // "[1024, 2048]"
};

struct SafetensorsHeader {
  uint64_t header_bytes = 0;         // N
  uint64_t data_begin = 0;           // 8 + N
  std::vector<TensorEntry> tensors;  // sorted by begin
  std::map<std::string, std::string> metadata;
  const TensorEntry* find(std::string_view name) const;  // nullptr when absent

 private:
  friend Result<SafetensorsHeader> parse_safetensors_header(const uint8_t*, size_t, uint64_t,
                                                            const std::string&);
  std::map<std::string, size_t, std::less<>> by_name_;
};

// Limits guarding against hostile headers (the reference implementation uses the same header cap).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;
inline constexpr size_t kMaxTensorRank = 8;

// Validates the header of a safetensors file whose first `available` bytes are `data` and whose total
// size is `file_size` (available may be less than file_size, but must cover 8 + N). Never reads
// outside data[0, available). `file_name` is used in error messages only.
Result<SafetensorsHeader> parse_safetensors_header(const uint8_t* data, size_t available, uint64_t file_size,
                                                   const std::string& file_name);

// The bytes of a whole file, read at open() into private read-only memory (not a file mapping: a
// truncated or rewritten file cannot SIGBUS its readers; see safetensors.cpp). Errors: not a
// regular file, or the file shrank while being read. Non-copyable; frees on destruction.
class MappedFile {
 public:
  static Result<std::unique_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Returns the pages covering [begin, end) to the kernel (they read as zeros if touched again).
  // Used after a tensor was copied into packed form and is never read again.
  void release(uint64_t begin, uint64_t end) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

// A loaded, validated safetensors file.
class SafetensorsFile {
 public:
  static Result<std::unique_ptr<SafetensorsFile>> open(const std::string& path);
  const SafetensorsHeader& header() const { return header_; }
  const MappedFile& mapped() const { return *file_; }
  const std::string& path() const { return file_->path(); }
  const uint8_t* tensor_data(const TensorEntry& t) const { return file_->data() + t.begin; }

 private:
  std::unique_ptr<MappedFile> file_;
  SafetensorsHeader header_;
};

// The tensors of a Hugging Face model folder: model.safetensors, or the shards named by
// model.safetensors.index.json (plain file names inside the folder; every listed tensor must exist in
// the shard the index names). Errors name the folder, the index or the shard.
struct CheckpointFiles {
  struct Located {
    const SafetensorsFile* file = nullptr;
    const TensorEntry* entry = nullptr;
  };
  std::vector<std::unique_ptr<SafetensorsFile>> files;  // owners; Located points into them
  std::map<std::string, Located> tensors;               // by transformers' tensor name
  std::string file_list;                                // the files opened, for messages
};
Result<CheckpointFiles> open_checkpoint_files(const std::string& dir);

// One tensor to write. `data` holds n_elements * dtype_size bytes, little-endian.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::string_view data;
};

// Writes a safetensors file (atomically: "<path>.tmp" then rename). Tensors are laid out in the given
// order; the header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
// `produce` variant: tensors whose bytes are generated on the fly, one at a time, so that writing a
// multi-GB model needs memory for one tensor only.
Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
};
// produce(i, &bytes) fills the bytes of tensors[i] (exactly n_elements * dtype_size).
Status write_safetensors_streaming(const std::string& path, const std::vector<TensorSpec>& tensors,
                                   const std::function<Status(size_t, std::string*)>& produce,
                                   const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace synpref::model
