// The GEMM driver (internal): ONE driver for inference and training, on the packed micro-kernel.
//
// The kernel computes C (M, N) (+)= A (M, K) @ B^T for B packed in panels of `nr` rows (kernels.h):
// the inference engine's weights are packed once at load in their checkpoint dtype (run); training
// packs its f32 parameters per call. Training needs three products per linear layer; all map onto it:
//   forward   Y (T, N)   = X (T, K) @ W^T          B = W            pack_rows(W)
//   backward  dX (T, K) += dY (T, N) @ W           B = W^T          pack_cols(W)
//             dW (N, K) += dY^T (N, T) @ X         A = dY^T, B = X^T  run_transposed_a, pack_cols(X)
// Every output element is one fused multiply-add chain in a fixed order (k ascending), computed by
// exactly one task: results never depend on the thread count (resume and MPI equivalence rest on it).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/kernels.h"

namespace synpref::kernels {

// A grow-only, 64-byte aligned float array.
class FloatBuffer {
 public:
  FloatBuffer() = default;
  ~FloatBuffer() { std::free(data_); }
  FloatBuffer(const FloatBuffer&) = delete;
  FloatBuffer& operator=(const FloatBuffer&) = delete;
  FloatBuffer(FloatBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr, o.size_ = 0; }
  // Returns at least n floats (contents undefined after growth). Aborts when memory runs out.
  float* get(size_t n);
  float* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  float* data_ = nullptr;
  size_t size_ = 0;
};

// Single-threaded building blocks, for use inside one task of a parallel loop.
// Panels [p0, p1) of B (n, k) with B[i][j] = src[i * ld + j] into dst (laid out as for all panels).
void pack_rows_panels(float* dst, int nr, const float* src, int64_t ld, int64_t n, int64_t k, int64_t p0,
                      int64_t p1);
// Steps [k0, k1) of every panel of B (n, k) with B[i][j] = src[j * ld + i].
void pack_cols_steps(float* dst, int nr, const float* src, int64_t ld, int64_t n, int64_t k, int64_t k0,
                     int64_t k1);
PackedMatrix packed_view(int nr, int64_t n, int64_t k, float* data);
// Tiles [t0, t1) of A (rows, k) in the kernel's pack_a layout, from a row-major A (rows ld apart).
void pack_a_rows(float* dst, int mr, const float* src, int64_t ld, int64_t rows, int64_t k, int64_t t0,
                 int64_t t1);
// Tiles [t0, t1) of A (rows, k) in the kernel's pack_a layout, from A[i][j] = src[j * ld + i].
void pack_a_transposed(float* dst, int mr, const float* src, int64_t ld, int64_t rows, int64_t k, int64_t t0,
                       int64_t t1);
void gemm_serial_packed(const KernelSet* ks, const GemmArgs& args, const float* a_packed,
                        FloatBuffer& scratch);
// C (M, N) (+)= A @ B^T on the calling thread; a_buf and scratch grow as needed.
void gemm_serial(const KernelSet* ks, const GemmArgs& args, FloatBuffer& a_buf, FloatBuffer& scratch);
// The same with A read in place (KernelSet::gemm_block_inplace): A[i][k] = args.a[k * args.lda + i]
// (transposed) or args.a[i * args.lda + k]; A rows up to round_up(M, mr) must be readable.
void gemm_serial_inplace(const KernelSet* ks, const GemmArgs& args, bool transposed, FloatBuffer& scratch);

// Task shape of the parallel driver (results never depend on it: each output element is one
// task's fixed chain). A task computes row_tiles tiles of mr rows x a group of panels: at most
// max_panels, and about panel_group_bytes of weights, halved until every thread has ~4 tasks.
struct GemmTiling {
  int64_t row_tiles;
  int64_t max_panels;
  int64_t panel_group_bytes;
};
// Inference: packed checkpoint weights stream from memory once per batch; a group of panels (512
// KiB) stays in L2 while the row tiles pass.
inline constexpr GemmTiling kInferenceTiling{8, int64_t{1} << 40, 512 << 10};
// Training (f32 weights packed per call): 4 row tiles x 4 panels measured best on the training
// shapes (per CPU-second, Xeon AVX-512; docs/BENCHMARKS.md). The kernel streams K in L1-sized
// slices, so what a task reuses from L2 is its A block across its panels.
inline constexpr GemmTiling kTrainingTiling{4, 4, 2 << 20};

class Gemm {
 public:
  Gemm(const KernelSet* kernels, ThreadPool* pool, GemmTiling tiling = kTrainingTiling);

  // C (M, N) (+)= A (M, K) @ B^T (+ bias), B packed (args.w).
  void run(const GemmArgs& args);
  // The same with A given transposed: A[i][j] = args.a[j * args.lda + i] (packed without a copy).
  void run_transposed_a(const GemmArgs& args);
  // The same with A already in the kernel's packed layout.
  void run_packed(const GemmArgs& args, const float* a_packed);
  // B (n, k) with B[i][j] = src[i * ld + j] (a row-major matrix; weights in the forward pass).
  PackedMatrix pack_rows(const float* src, int64_t ld, int64_t n, int64_t k, FloatBuffer& out);
  // B (n, k) with B[i][j] = src[j * ld + i] (the transpose of a row-major (k, n) matrix).
  PackedMatrix pack_cols(const float* src, int64_t ld, int64_t n, int64_t k, FloatBuffer& out);

  // The three products of a linear layer y = x W^T (+ b) over `rows` rows:
  //   forward: out (rows, n) = inp (rows, k) @ w^T (+ bias); accumulate: out += (...). Rows of out
  //   are ldc floats apart (0: n), rows of inp lda apart (0: k).
  void linear_forward(float* out, const float* inp, const float* w, const float* bias, int64_t rows,
                      int64_t k, int64_t n, bool accumulate, int64_t ldc = 0, int64_t lda = 0);
  //   backward: dinp (rows, k) += dout @ w (or = when accumulate_dinp is false; skipped when null);
  //   dw (n, k) += dout^T @ inp and dbias (n) += colsum(dout) (skipped when null). Rows of dout are
  //   ld_dout floats apart (0: n).
  void linear_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                       const float* w, int64_t rows, int64_t k, int64_t n, bool accumulate_dinp = true,
                       int64_t ld_dout = 0);

  const KernelSet& kernels() const { return *kernels_; }
  ThreadPool& pool() { return *pool_; }

 private:
  const KernelSet* kernels_;
  ThreadPool* pool_;
  GemmTiling tiling_;
  std::vector<FloatBuffer> partial_;  // per thread
  FloatBuffer a_packed_, packed_;
};

}  // namespace synpref::kernels
