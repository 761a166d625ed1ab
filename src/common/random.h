// Deterministic, portable random numbers for model initialization (internal).
//
// Streams are keyed by (seed, name) so that a tensor's values never depend on the order in which
// tensors are generated. SplitMix64 bits; normals by Box-Muller in double, rounded to float.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

#include "synpref/common/hash.h"

namespace synpref {

class Rng {
 public:
  Rng(uint64_t seed, std::string_view stream) : state_(seed ^ hash64(stream, 0x5eed5eed5eed5eedull)) {}
  uint64_t next_u64() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    const double r = std::sqrt(-2.0 * std::log(u1)), t = 6.283185307179586 * u2;
    spare_ = r * std::sin(t);
    has_spare_ = true;
    return r * std::cos(t);
  }

 private:
  uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace synpref
