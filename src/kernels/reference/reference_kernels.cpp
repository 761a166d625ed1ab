#include "reference_kernels.h"

#include <cmath>
#include <limits>

namespace synpref::kernels::reference {

namespace {
float load_elem(kernels::WType type, const void* base, int64_t index) {
  switch (type) {
    case kernels::WType::f32:
      return static_cast<const float*>(base)[index];
    case kernels::WType::bf16:
      return kernels::bf16_to_f32(static_cast<const uint16_t*>(base)[index]);
    case kernels::WType::f16:
      return kernels::f16_to_f32(static_cast<const uint16_t*>(base)[index]);
  }
  return 0.0f;
}
}  // namespace

void gemm_ref(float* c, int64_t ldc, const float* a, int64_t lda, kernels::WType type, const void* w,
              const float* bias, int64_t m, int64_t n, int64_t k, bool accumulate) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t kk = 0; kk < k; ++kk) acc = std::fma(a[i * lda + kk], load_elem(type, w, j * k + kk), acc);
      if (bias) acc = acc + bias[j];
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc : acc;
    }
  }
}

void rmsnorm_ref(float* out, const float* in, const float* weight, int64_t rows, int64_t cols, double eps) {
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c) ss += static_cast<double>(in[r * cols + c]) * in[r * cols + c];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = static_cast<float>(weight[c] * (in[r * cols + c] * inv));
  }
}

void silu_mul_ref(float* out, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

void attention_ref(const kernels::AttnArgs& a) {
  const int d_dim = a.head_dim;
  std::vector<double> scores;
  for (int64_t i = a.q_begin; i < a.q_end; ++i) {
    const int64_t pos = a.n_prefix + i;
    for (int h = 0; h < a.n_rep; ++h) {
      const float* q = a.q + i * a.q_stride + h * d_dim;
      scores.assign(static_cast<size_t>(pos + 1), 0.0);
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j <= pos; ++j) {
        const float* k =
            j < a.n_prefix ? a.k_prefix + j * a.kv_stride : a.k_own + (j - a.n_prefix) * a.kv_stride;
        double dot = 0;
        for (int d = 0; d < d_dim; ++d) dot += static_cast<double>(q[d]) * k[d];
        scores[j] = dot * a.scale;
        mx = std::max(mx, scores[j]);
      }
      double sum = 0;
      for (auto& s : scores) sum += (s = std::exp(s - mx));
      if (a.lse) a.lse[i * a.lse_stride + h] = static_cast<float>(mx + std::log(sum));
      float* out = a.out + i * a.out_stride + h * d_dim;
      for (int d = 0; d < d_dim; ++d) {
        double acc = 0;
        for (int64_t j = 0; j <= pos; ++j) {
          const float* v =
              j < a.n_prefix ? a.v_prefix + j * a.kv_stride : a.v_own + (j - a.n_prefix) * a.kv_stride;
          acc += scores[j] * v[d];
        }
        out[d] = static_cast<float>(acc / sum);
      }
    }
  }
}

}  // namespace synpref::kernels::reference
