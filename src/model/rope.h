// RoPE tables (internal): inverse frequencies as transformers computes them in float32 (default,
// linear and llama3 scaling) and per-position cos/sin. One implementation for the inference engine
// and the trainer, so training and scoring agree exactly (tests/train/test_reward_model.cpp checks
// the agreement on every architecture).
#pragma once

#include <cstdint>
#include <vector>

#include "synpref/model/config.h"

namespace synpref::model {

std::vector<float> rope_inv_freq(const ModelConfig& config);

// cos/sin of position p: (head_dim / 2) floats at cos(p) / sin(p). Grows on demand (not thread-safe).
class RopeTable {
 public:
  RopeTable() = default;
  explicit RopeTable(const ModelConfig& config) : inv_freq_(rope_inv_freq(config)) {}
  void ensure(int64_t n_positions);
  const float* cos(int64_t pos) const { return cos_.data() + pos * half(); }
  const float* sin(int64_t pos) const { return sin_.data() + pos * half(); }
  int64_t half() const { return static_cast<int64_t>(inv_freq_.size()); }
  const std::vector<float>& inv_freq() const { return inv_freq_; }

 private:
  std::vector<float> inv_freq_, cos_, sin_;
  int64_t len_ = 0;
};

}  // namespace synpref::model
