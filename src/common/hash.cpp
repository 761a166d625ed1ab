#include "synpref/common/hash.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstring>

#include "synpref/common/check.h"

namespace synpref {

std::string Hash128::hex() const {
  static const char* digits = "0123456789abcdef";
  std::string s(32, '0');
  for (int i = 0; i < 16; ++i) {
    s[i] = digits[(hi >> (60 - 4 * i)) & 15];
    s[16 + i] = digits[(lo >> (60 - 4 * i)) & 15];
  }
  return s;
}

Hash128 hash128(std::string_view bytes, uint64_t seed) {
  XXH128_hash_t h = XXH3_128bits_withSeed(bytes.data(), bytes.size(), seed);
  return {h.low64, h.high64};
}

uint64_t hash64(std::string_view bytes, uint64_t seed) {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

Hasher::Hasher(uint64_t seed) {
  auto* st = XXH3_createState();
  SP_CHECK(st != nullptr);
  XXH3_128bits_reset_withSeed(st, seed);
  state_ = st;
}

Hasher::~Hasher() {
  XXH3_freeState(static_cast<XXH3_state_t*>(state_));
}

void Hasher::add_bytes(std::string_view bytes) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), bytes.data(), bytes.size());
}

void Hasher::add_u64(uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), b, 8);
}

void Hasher::add_field(std::string_view bytes) {
  add_u64(bytes.size());
  add_bytes(bytes);
}

Hash128 Hasher::digest() const {
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_));
  return {h.low64, h.high64};
}

}  // namespace synpref
