// RoPE tables (see rope.h). Mirrors transformers' _compute_default_rope_parameters,
// _compute_linear_scaling_rope_parameters and _compute_llama3_parameters in float32.
#include "rope.h"

#include <algorithm>
#include <cmath>

namespace synpref::model {

std::vector<float> rope_inv_freq(const ModelConfig& config) {
  const int64_t D = config.head_dim;
  std::vector<float> inv_freq(static_cast<size_t>(D / 2));
  for (int64_t i = 0; i < D / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(D);
    const float base_pow = static_cast<float>(
        std::pow(static_cast<double>(static_cast<float>(config.rope_theta)), static_cast<double>(exponent)));
    inv_freq[static_cast<size_t>(i)] = 1.0f / base_pow;
  }
  const RopeScaling& rs = config.rope_scaling;
  if (rs.type == RopeScaling::Type::linear) {
    for (auto& f : inv_freq) f = f / static_cast<float>(rs.factor);
  } else if (rs.type == RopeScaling::Type::llama3) {
    const float factor = static_cast<float>(rs.factor);
    const float low = static_cast<float>(rs.low_freq_factor);
    const float old_len = static_cast<float>(rs.original_max_position_embeddings);
    const float low_freq_wavelen =
        static_cast<float>(static_cast<double>(rs.original_max_position_embeddings) / rs.low_freq_factor);
    const float high_freq_wavelen =
        static_cast<float>(static_cast<double>(rs.original_max_position_embeddings) / rs.high_freq_factor);
    const float two_pi = static_cast<float>(2.0 * 3.14159265358979323846);
    for (auto& f : inv_freq) {
      const float wavelen = (1.0f / f) * two_pi;  // torch: 2*pi / t == t.reciprocal() * 2*pi
      const float scaled = wavelen > low_freq_wavelen ? f / factor : f;
      const float smooth =
          ((1.0f / wavelen) * old_len - low) / static_cast<float>(rs.high_freq_factor - rs.low_freq_factor);
      const float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
      const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
      f = medium ? smoothed : scaled;
    }
  }
  return inv_freq;
}

void RopeTable::ensure(int64_t n_positions) {
  if (n_positions <= len_) return;
  const int64_t h = half();
  const int64_t new_len = std::max<int64_t>(n_positions, std::min<int64_t>(2 * len_, n_positions + 4096));
  cos_.resize(static_cast<size_t>(new_len * h));
  sin_.resize(static_cast<size_t>(new_len * h));
  for (int64_t p = len_; p < new_len; ++p) {
    for (int64_t i = 0; i < h; ++i) {
      // transformers: freqs = inv_freq @ position_ids in float32 (one rounding), then cos/sin.
      const float f = inv_freq_[static_cast<size_t>(i)] * static_cast<float>(p);
      cos_[static_cast<size_t>(p * h + i)] = static_cast<float>(std::cos(static_cast<double>(f)));
      sin_[static_cast<size_t>(p * h + i)] = static_cast<float>(std::sin(static_cast<double>(f)));
    }
  }
  len_ = new_len;
}

}  // namespace synpref::model
