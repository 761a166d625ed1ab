// libFuzzer target: the tokenized shard reader (src/encode/shard.cpp; format in
// include/synpref/encode/shard.h) on arbitrary files. Random bytes rarely pass the XXH3 checksums, so
// when the first input byte is odd the target repairs them first (header, each record found by
// walking record headers, footer): the fuzzer then reaches the payload parser and the resync logic.
// Invariants beyond "no crash / no sanitizer report": every record's spans lie inside the file,
// suffixes match the responses, and reading stops.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "synpref/encode/shard.h"

namespace {

void put_u64(std::string& s, size_t at, uint64_t v) {
  if (at + 8 <= s.size()) std::memcpy(&s[at], &v, 8);
}
uint32_t get_u32(const std::string& s, size_t at) {
  uint32_t v = 0;
  if (at + 4 <= s.size()) std::memcpy(&v, &s[at], 4);
  return v;
}

// Recomputes the checksums a writer would have written, wherever the structure allows.
void repair_checksums(std::string& file) {
  using synpref::hash64;
  if (file.size() >= 64) put_u64(file, 56, hash64(std::string_view(file.data(), 56)));
  size_t pos = 64;
  while (pos + 8 <= file.size() && std::memcmp(&file[pos], "SPR1", 4) == 0) {
    const uint64_t payload = get_u32(file, pos + 4);
    if (pos + 8 + payload + 8 > file.size()) break;
    put_u64(file, pos + 8 + payload, hash64(std::string_view(file.data() + pos + 8, payload)));
    pos += 16 + payload;
  }
  if (pos + 32 <= file.size() && std::memcmp(&file[pos], "SPSHEND1", 8) == 0)
    put_u64(file, pos + 24, hash64(std::string_view(file.data() + pos, 24)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string file(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) repair_checksums(file);
  static const std::string path = "/tmp/fuzz_shard_reader." + std::to_string(::getpid()) + ".shard";
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (!file.empty() && std::fwrite(file.data(), 1, file.size(), f) != file.size()) std::abort();
    std::fclose(f);
  }
  auto reader = synpref::encode::ShardReader::open(path);
  if (!reader.is_ok()) {
    if (reader.status().message().empty()) std::abort();
    return 0;
  }
  synpref::encode::ShardRecord record;
  uint64_t n = 0;
  volatile int64_t sink = 0;
  while ((*reader)->next(record)) {
    if (++n > file.size()) std::abort();  // every record takes bytes: the loop must end
    if (record.suffixes.size() != record.labels.size() && !record.labels.empty()) std::abort();
    for (int32_t id : record.prefix) sink = sink + id;  // ASan: the spans lie inside the file
    for (const auto& s : record.suffixes)
      for (int32_t id : s) sink = sink + id;
    for (char c : record.id) sink = sink + c;
  }
  return 0;
}
