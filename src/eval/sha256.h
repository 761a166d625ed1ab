// src/eval/sha256.h: SHA-256 (FIPS 180-4) for the data-file hashes in eval reports.
//
// Reports carry sha256 because that is what people compare against published checksums
// (Hugging Face and GitHub show it); XXH3-128 from synpref/common/hash.h is recorded beside it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "synpref/common/status.h"
#include "synpref/eval/report.h"  // FileHashes, hash_file (defined in sha256.cpp)

namespace synpref::eval {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> digest();
  std::string hex_digest();  // 64 lowercase hex digits

 private:
  void compress(const uint8_t* block);
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_;
  uint64_t n_bytes_ = 0;
  size_t buffered_ = 0;
};

std::string sha256_hex(std::string_view bytes);

}  // namespace synpref::eval
