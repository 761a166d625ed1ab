#include "synpref/encode/shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>

namespace synpref::encode {

namespace {

constexpr char kMagic[8] = {'S', 'P', 'S', 'H', 'A', 'R', 'D', '1'};
constexpr char kRecordMagic[4] = {'S', 'P', 'R', '1'};
constexpr char kFooterMagic[8] = {'S', 'P', 'S', 'H', 'E', 'N', 'D', '1'};
constexpr size_t kHeaderBytes = 64, kFooterBytes = 32;

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // x86-64 and aarch64 are little-endian; checked below
  out.append(b, sizeof(T));
}
static_assert(std::endian::native == std::endian::little, "shards are little-endian");

template <typename T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

std::string hex_of(Hash128 h) {
  return h.hex();
}

}  // namespace

Result<std::unique_ptr<ShardWriter>> ShardWriter::open(const std::string& path, Hash128 fingerprint,
                                                       uint64_t max_length) {
  auto w = std::make_unique<ShardWriter>();
  SP_ASSIGN_OR_RETURN(w->writer_, io::Writer::open(path));
  std::string header(kMagic, 8);
  put<uint32_t>(header, kShardVersion);
  put<uint32_t>(header, kHeaderBytes);
  put<uint64_t>(header, fingerprint.lo);
  put<uint64_t>(header, fingerprint.hi);
  put<uint64_t>(header, max_length);
  header.append(16, '\0');
  put<uint64_t>(header, hash64(header));
  SP_CHECK(header.size() == kHeaderBytes);
  w->writer_->append(header);
  return w;
}

void ShardWriter::add(const std::string& id, data::RecordKind kind, const RmInput& input,
                      std::span<const float> labels, float margin, std::string_view task_category) {
  SP_CHECK(labels.empty() || labels.size() == input.suffixes.size());
  payload_.clear();
  put<uint32_t>(payload_, static_cast<uint32_t>(id.size()));
  payload_ += id;
  payload_.append((4 - id.size() % 4) % 4, '\0');  // keeps every id 4-byte aligned in the file
  put<uint32_t>(payload_, kind == data::RecordKind::pair ? 0 : 1);
  put<uint32_t>(payload_, static_cast<uint32_t>(input.suffixes.size()));
  put<uint32_t>(payload_, static_cast<uint32_t>(input.prefix.size()));
  for (const auto& s : input.suffixes) put<uint32_t>(payload_, static_cast<uint32_t>(s.size()));
  payload_.append(reinterpret_cast<const char*>(input.prefix.data()), input.prefix.size() * sizeof(int32_t));
  for (const auto& s : input.suffixes)
    payload_.append(reinterpret_cast<const char*>(s.data()), s.size() * sizeof(int32_t));
  for (size_t i = 0; i < input.suffixes.size(); ++i) put<float>(payload_, labels.empty() ? NAN : labels[i]);
  put<float>(payload_, margin);
  put<uint32_t>(payload_, static_cast<uint32_t>(task_category.size()));
  payload_ += task_category;
  payload_.append((4 - task_category.size() % 4) % 4, '\0');
  SP_CHECK(payload_.size() < (uint64_t{1} << 32));
  std::string& out = writer_->buffer();
  out.append(kRecordMagic, 4);
  put<uint32_t>(out, static_cast<uint32_t>(payload_.size()));
  out += payload_;
  put<uint64_t>(out, hash64(payload_));
  record_bytes_ += 16 + payload_.size();
  ++records_;
  writer_->maybe_flush();
}

Status ShardWriter::close() {
  std::string footer(kFooterMagic, 8);
  put<uint64_t>(footer, records_);
  put<uint64_t>(footer, record_bytes_);
  put<uint64_t>(footer, hash64(footer));
  writer_->append(footer);
  return writer_->close();
}

Result<std::unique_ptr<ShardReader>> ShardReader::open(const std::string& path, const Hash128* expected) {
  std::unique_ptr<ShardReader> r(new ShardReader());
  r->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return not_found(path + ": cannot open shard: " + std::strerror(errno));
  struct stat st {};
  fstat(fd, &st);
  r->size_ = static_cast<size_t>(st.st_size);
  if (r->size_ < kHeaderBytes) {
    ::close(fd);
    return data_error(path + ": not a synpref shard (" + std::to_string(r->size_) +
                      " bytes, shorter than the header)");
  }
  void* m = mmap(nullptr, r->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return io_error(path + ": mmap failed: " + std::strerror(errno));
  r->data_ = static_cast<const char*>(m);
  const char* h = r->data_;
  if (std::memcmp(h, kMagic, 8) != 0) return data_error(path + ": not a synpref shard (bad magic)");
  uint32_t version = get<uint32_t>(h + 8);
  if (version != kShardVersion) {
    return data_error(path + ": shard format version " + std::to_string(version) +
                      ", this synpref reads version " + std::to_string(kShardVersion) +
                      "; re-run `synpref data tokenize` to rebuild it");
  }
  if (get<uint64_t>(h + 56) != hash64(std::string_view(h, 56))) {
    return data_error(path +
                      ": shard header checksum mismatch (corrupt header); re-run `synpref data tokenize`");
  }
  r->fingerprint_ = {get<uint64_t>(h + 16), get<uint64_t>(h + 24)};
  r->max_length_ = get<uint64_t>(h + 32);
  if (expected && !(*expected == r->fingerprint_)) {
    return invalid_argument(path + ": shard was tokenized with tokenizer " + hex_of(r->fingerprint_) +
                            " but the tokenizer in use is " + hex_of(*expected) +
                            "; re-run `synpref data tokenize --tokenizer <model dir> ...` to rebuild it");
  }
  r->pos_ = kHeaderBytes;
  r->end_ = r->size_;
  // Footer: present and consistent, or the file was cut.
  if (r->size_ >= kHeaderBytes + kFooterBytes) {
    const char* f = r->data_ + r->size_ - kFooterBytes;
    if (std::memcmp(f, kFooterMagic, 8) == 0 && get<uint64_t>(f + 24) == hash64(std::string_view(f, 24)) &&
        get<uint64_t>(f + 16) == r->size_ - kHeaderBytes - kFooterBytes) {
      r->footer_ok_ = true;
      r->records_expected_ = get<uint64_t>(f + 8);
      r->end_ = r->size_ - kFooterBytes;
    }
  }
  if (!r->footer_ok_) {
    r->problems_.push_back(path +
                           ": no valid footer: the shard is truncated or was not closed; reading the intact "
                           "records before the damage");
  }
  return r;
}

ShardReader::~ShardReader() {
  if (data_) munmap(const_cast<char*>(data_), size_);
}

bool ShardReader::parse_payload(const char* p, uint32_t n, ShardRecord& rec, std::string& why) const {
  size_t at = 0;
  auto need = [&](size_t k) {
    if (at + k > n) {
      why = "payload ends early";
      return false;
    }
    return true;
  };
  if (!need(4)) return false;
  uint32_t id_len = get<uint32_t>(p);
  at = 4;
  const uint64_t padded = (uint64_t{id_len} + 3) / 4 * 4;
  if (!need(padded + 12)) return false;
  rec.id = std::string_view(p + at, id_len);
  at += padded;
  uint32_t kind = get<uint32_t>(p + at);
  at += 4;
  if (kind > 1) {
    why = "bad record kind";
    return false;
  }
  rec.kind = kind == 0 ? data::RecordKind::pair : data::RecordKind::response_set;
  uint32_t n_resp = get<uint32_t>(p + at);
  uint32_t prefix_len = get<uint32_t>(p + at + 4);
  at += 8;
  if (n_resp == 0 || (kind == 0 && n_resp != 2) || !need(uint64_t{n_resp} * 4)) {
    if (why.empty()) why = "bad response count";
    return false;
  }
  std::vector<uint32_t> lens(n_resp);
  uint64_t total = prefix_len;
  for (uint32_t i = 0; i < n_resp; ++i) {
    lens[i] = get<uint32_t>(p + at + 4 * i);
    total += lens[i];
  }
  at += uint64_t{n_resp} * 4;
  // ids, labels, margin, category length; then the category bytes.
  const uint64_t fixed = total * 4 + uint64_t{n_resp} * 4 + 8;
  if (!need(fixed)) return false;
  const uint32_t cat_len = get<uint32_t>(p + at + fixed - 4);
  if (at + fixed + (uint64_t{cat_len} + 3) / 4 * 4 != n) {
    why = "payload length disagrees with its token counts";
    return false;
  }
  // The writer pads so ids are 4-byte aligned (the header is 64 bytes, every field 4-aligned).
  if (reinterpret_cast<uintptr_t>(p + at) % alignof(int32_t) != 0) {
    why = "misaligned token ids";
    return false;
  }
  const auto* ids = reinterpret_cast<const int32_t*>(p + at);
  rec.prefix = {ids, prefix_len};
  rec.suffixes.clear();
  size_t off = prefix_len;
  for (uint32_t i = 0; i < n_resp; ++i) {
    rec.suffixes.push_back({ids + off, lens[i]});
    off += lens[i];
  }
  at += total * 4;
  rec.labels.resize(n_resp);
  for (uint32_t i = 0; i < n_resp; ++i) rec.labels[i] = get<float>(p + at + 4 * i);
  at += uint64_t{n_resp} * 4;
  rec.margin = get<float>(p + at);
  rec.task_category = std::string_view(p + at + 8, cat_len);
  return true;
}

bool ShardReader::next(ShardRecord& rec) {
  while (pos_ + 16 <= end_) {
    const char* p = data_ + pos_;
    std::string why;
    if (std::memcmp(p, kRecordMagic, 4) != 0) {
      why = "bad record magic";
    } else {
      uint32_t n = get<uint32_t>(p + 4);
      if (pos_ + 16 + uint64_t{n} > end_) {
        why = "record runs past the end of the file";
      } else if (get<uint64_t>(p + 8 + n) != hash64(std::string_view(p + 8, n))) {
        why = "checksum mismatch";
      } else if (parse_payload(p + 8, n, rec, why)) {
        pos_ += 16 + uint64_t{n};
        ++records_read_;
        return true;
      }
    }
    problems_.push_back(path_ + ": damaged record at byte " + std::to_string(pos_) + " (" + why +
                        "), skipped");
    // Resynchronize at the next record magic.
    const void* hit = memmem(data_ + pos_ + 1, end_ - pos_ - 1, kRecordMagic, 4);
    if (!hit) {
      pos_ = end_;
      break;
    }
    pos_ = static_cast<size_t>(static_cast<const char*>(hit) - data_);
  }
  if (pos_ < end_ && pos_ + 16 > end_) {
    problems_.push_back(path_ + ": " + std::to_string(end_ - pos_) + " trailing bytes at the end, ignored");
    pos_ = end_;
  }
  return false;
}

}  // namespace synpref::encode
