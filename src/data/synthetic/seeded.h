// src/data/synthetic/seeded.h: what both synthetic generators share: record i is a pure function
// of (seed, i), drawn from a counter-based stream, so any record can be regenerated alone.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "synpref/common/hash.h"

namespace synpref::data::synthetic {

// The top 53 bits of `bits` as a uniform double in [0, 1).
inline double unit_interval(uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// The seed of record `index` of stream `what` (e.g. a split name): a keyed hash, so streams of
// different names or seeds never overlap.
inline uint64_t record_seed(uint64_t seed, std::string_view what, uint64_t index) {
  Hasher h(seed);
  h.add_field("synpref.synth");
  h.add_field(what);
  h.add_u64(index);
  return h.digest().lo;
}

// SplitMix64: a small generator for one record's draws.
class Rand {
 public:
  explicit Rand(uint64_t state) : s_(state) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }
  double uniform() { return unit_interval(next()); }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(below(static_cast<int>(v.size())))];
  }

 private:
  uint64_t s_;
};

}  // namespace synpref::data::synthetic
