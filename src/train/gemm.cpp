// Training GEMMs on the model engine's micro-kernel (see gemm.h).
#include "gemm.h"

#include <algorithm>
#include <cstring>

#include "synpref/common/check.h"

namespace synpref::train {

using model::kernels::GemmArgs;
using model::kernels::PackedMatrix;
using model::kernels::WType;

float* FloatBuffer::get(size_t n) {
  if (n <= size_) return data_;
  std::free(data_);
  data_ = nullptr;
  size_ = 0;
  void* p = nullptr;
  const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  SP_CHECK_MSG(posix_memalign(&p, 64, bytes) == 0, "out of memory");
  data_ = static_cast<float*>(p);
  size_ = n;
  return data_;
}

Gemm::Gemm(const model::kernels::KernelSet* kernels, model::ThreadPool* pool)
    : kernels_(kernels), pool_(pool), partial_(static_cast<size_t>(pool->n_threads())) {}

namespace {

// The inference engine's split (Model::Impl::matmul): tasks (panel group, row block), each output
// element owned by exactly one task. The kernel interface packs A once (pack_a) and gives each
// task a scratch; written against the kernel set as a template so that it follows the engine's
// interface.
template <typename KS>
void run_gemm(const KS* ks, model::ThreadPool* pool, const GemmArgs& g, FloatBuffer& a_buf,
              std::vector<FloatBuffer>& per_thread) {
  const PackedMatrix& w = *g.w;
  const int64_t panels = w.n_panels();
  const int64_t mr = ks->mr;
  const int64_t block_rows = 8 * mr;
  const int64_t m_blocks = (g.m + block_rows - 1) / block_rows;
  const int64_t panel_bytes = w.k * w.nr * 4;
  int64_t group = std::max<int64_t>(1, (512 << 10) / std::max<int64_t>(1, panel_bytes));
  const int64_t want_tasks = 4 * pool->n_threads();
  while (group > 1 && ((panels + group - 1) / group) * m_blocks < want_tasks) group /= 2;
  const int64_t n_groups = (panels + group - 1) / group;
  if constexpr (requires(const KS& k) { k.pack_a; }) {
    const int64_t n_tiles = (g.m + mr - 1) / mr;
    float* a_packed = a_buf.get(static_cast<size_t>(n_tiles * mr * w.k));
    const int64_t tiles_per_task =
        std::max<int64_t>(1, (n_tiles + 2 * pool->n_threads() - 1) / (2 * pool->n_threads()));
    pool->parallel_for((n_tiles + tiles_per_task - 1) / tiles_per_task, [&](int64_t task, int) {
      const int64_t t0 = task * tiles_per_task, t1 = std::min(n_tiles, t0 + tiles_per_task);
      ks->pack_a(g.a + t0 * mr * g.lda, g.lda, std::min(g.m, t1 * mr) - t0 * mr, w.k,
                 a_packed + t0 * mr * w.k);
    });
    const size_t scratch = ks->gemm_scratch_floats(std::min(block_rows, g.m), group);
    for (auto& s : per_thread) s.get(scratch);
    pool->parallel_for(n_groups * m_blocks, [&](int64_t task, int thread) {
      const int64_t gi = task / m_blocks, mb = task % m_blocks;
      const int64_t m0 = mb * block_rows, m1 = std::min(g.m, m0 + block_rows);
      const int64_t p0 = gi * group, p1 = std::min(panels, p0 + group);
      ks->gemm_block(g, a_packed, m0, m1, p0, p1, per_thread[static_cast<size_t>(thread)].data());
    });
  } else {
    const size_t scratch = static_cast<size_t>(std::min(block_rows, ((g.m + mr - 1) / mr) * mr) * w.k);
    for (auto& s : per_thread) s.get(scratch);
    pool->parallel_for(n_groups * m_blocks, [&](int64_t task, int thread) {
      const int64_t gi = task / m_blocks, mb = task % m_blocks;
      const int64_t m0 = mb * block_rows, m1 = std::min(g.m, m0 + block_rows);
      const int64_t p0 = gi * group, p1 = std::min(panels, p0 + group);
      ks->gemm_block(g, m0, m1, p0, p1, per_thread[static_cast<size_t>(thread)].data());
    });
  }
}

}  // namespace

void Gemm::run(const GemmArgs& g) {
  if (g.m == 0) return;
  run_gemm(kernels_, pool_, g, a_packed_, partial_);
}

PackedMatrix Gemm::pack_rows(const float* src, int64_t ld, int64_t n, int64_t k, FloatBuffer& out) {
  const int nr = kernels_->nr;
  PackedMatrix pm{WType::f32, n, k, nr, nullptr};
  float* dst = out.get(static_cast<size_t>(pm.n_panels() * k * nr));
  pm.data = dst;
  pool_->parallel_for(pm.n_panels(), [&](int64_t p, int) {
    float* panel = dst + p * k * nr;
    for (int j = 0; j < nr; ++j) {
      const int64_t row = p * nr + j;
      if (row < n) {
        const float* s = src + row * ld;
        for (int64_t kk = 0; kk < k; ++kk) panel[kk * nr + j] = s[kk];
      } else {
        for (int64_t kk = 0; kk < k; ++kk) panel[kk * nr + j] = 0.0f;
      }
    }
  });
  return pm;
}

PackedMatrix Gemm::pack_cols(const float* src, int64_t ld, int64_t n, int64_t k, FloatBuffer& out) {
  const int nr = kernels_->nr;
  PackedMatrix pm{WType::f32, n, k, nr, nullptr};
  float* dst = out.get(static_cast<size_t>(pm.n_panels() * k * nr));
  pm.data = dst;
  // B[i][j] = src[j*ld + i]: panel p, step kk holds src[kk*ld + p*nr .. + nr): contiguous copies.
  const int64_t per_task = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, pm.n_panels()));
  const int64_t k_tasks = (k + per_task - 1) / per_task;
  pool_->parallel_for(k_tasks, [&](int64_t task, int) {
    const int64_t k0 = task * per_task, k1 = std::min(k, k0 + per_task);
    for (int64_t p = 0; p < pm.n_panels(); ++p) {
      const int64_t c0 = p * nr, cols = std::min<int64_t>(nr, n - c0);
      float* panel = dst + p * k * nr;
      for (int64_t kk = k0; kk < k1; ++kk) {
        std::memcpy(panel + kk * nr, src + kk * ld + c0, static_cast<size_t>(cols) * sizeof(float));
        for (int64_t j = cols; j < nr; ++j) panel[kk * nr + j] = 0.0f;
      }
    }
  });
  return pm;
}

void Gemm::transpose(float* dst, const float* src, int64_t ld, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 64;
  const int64_t col_tiles = (cols + kTile - 1) / kTile;
  pool_->parallel_for(col_tiles, [&](int64_t ct, int) {
    const int64_t c0 = ct * kTile, c1 = std::min(cols, c0 + kTile);
    for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) dst[c * rows + r] = src[r * ld + c];
    }
  });
}

void Gemm::linear_forward(float* out, const float* inp, const float* w, const float* bias, int64_t rows,
                          int64_t k, int64_t n, bool accumulate) {
  if (rows == 0) return;
  const PackedMatrix pm = pack_rows(w, k, n, k, packed_);
  run({inp, k, &pm, bias, out, n, rows, accumulate});
}

void Gemm::linear_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                           const float* w, int64_t rows, int64_t k, int64_t n) {
  if (rows == 0) return;
  if (dinp) {
    // dinp (rows, k) += dout (rows, n) @ w (n, k): B (k, n) = w^T.
    const PackedMatrix pm = pack_cols(w, k, k, n, packed_);
    run({dout, n, &pm, nullptr, dinp, k, rows, true});
  }
  if (dw) {
    // dw (n, k) += dout^T (n, rows) @ inp (rows, k): A = dout^T, B (k, rows) = inp^T.
    float* dout_t = transposed_.get(static_cast<size_t>(n * rows));
    transpose(dout_t, dout, n, rows, n);
    const PackedMatrix pm = pack_cols(inp, k, k, rows, packed_);
    run({dout_t, rows, &pm, nullptr, dw, k, n, true});
    if (dbias) {
      // Row sums of dout^T, one task per block of outputs, rows ascending (deterministic).
      pool_->parallel_for((n + 63) / 64, [&](int64_t task, int) {
        const int64_t o0 = task * 64, o1 = std::min(n, o0 + 64);
        for (int64_t o = o0; o < o1; ++o) {
          float s = 0.0f;
          const float* row = dout_t + o * rows;
          for (int64_t r = 0; r < rows; ++r) s += row[r];
          dbias[o] += s;
        }
      });
    }
  } else if (dbias) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < n; ++o) dbias[o] += dout[r * n + o];
  }
}

}  // namespace synpref::train
