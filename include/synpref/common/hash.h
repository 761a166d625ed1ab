// synpref/common/hash.h: 128-bit content hashes (XXH3-128) for ids and dedup keys.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace synpref {

struct Hash128 {
  uint64_t lo = 0, hi = 0;
  bool operator==(const Hash128&) const = default;
  std::string hex() const;  // 32 lowercase hex digits, high word first
};

Hash128 hash128(std::string_view bytes, uint64_t seed = 0);
uint64_t hash64(std::string_view bytes, uint64_t seed = 0);

// Streaming hasher. Fields are length-prefixed by the caller (add_field) so that ("ab","c") and
// ("a","bc") never collide by construction.
class Hasher {
 public:
  explicit Hasher(uint64_t seed = 0);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  void add_bytes(std::string_view bytes);
  void add_field(std::string_view bytes);  // 8-byte little-endian length, then the bytes
  void add_u64(uint64_t v);
  Hash128 digest() const;

 private:
  void* state_;
};

}  // namespace synpref
