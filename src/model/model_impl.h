// Model internals: weights (one packed buffer + named views); the forward pass is the graph's
// (graph.h) over these weights.
#pragma once

#include <cstdlib>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "model/graph.h"
#include "synpref/model/batch.h"
#include "synpref/model/model.h"
#include "synpref/model/safetensors.h"

namespace synpref::model {

// 64-byte aligned heap buffer (panels and activations are read with full-width vector loads).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  // Returns false when the allocation fails.
  bool allocate(size_t bytes) {
    std::free(data_);
    data_ = nullptr;
    size_ = 0;
    if (bytes == 0) return true;
    void* p = nullptr;
    if (posix_memalign(&p, 64, (bytes + 63) / 64 * 64) != 0) return false;
    data_ = static_cast<uint8_t*>(p);
    size_ = bytes;
    return true;
  }
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// A float scratch array that only grows (reused across forward passes: no page faults per call).
struct Scratch {
  std::vector<float> v;
  float* get(size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
  }
};

struct LayerWeights {
  // f32 copies (small): norms and biases; nullptr when absent.
  const float* attn_norm = nullptr;  // (C)
  const float* ffn_norm = nullptr;   // (C)
  const float* q_norm = nullptr;     // (D) Qwen3
  const float* k_norm = nullptr;     // (D) Qwen3
  const float* b_qkv = nullptr;      // (Hq*D + 2*Hkv*D) when attention_bias
  const float* b_o = nullptr;        // (C) when attention_bias
  const float* b_gate_up = nullptr;  // (2F) when mlp_bias
  const float* b_down = nullptr;     // (C) when mlp_bias
  // Packed matrices (views into Model::Impl::packed).
  kernels::PackedMatrix w_qkv;  // (Hq*D + 2*Hkv*D, C): q, k, v projections stacked
  // The last layer keeps q and k, v apart (its pruned form projects them for different rows);
  // w_qkv is then empty and the fused product runs as these two.
  kernels::PackedMatrix w_q;        // (Hq*D, C)
  kernels::PackedMatrix w_kv;       // (2*Hkv*D, C)
  kernels::PackedMatrix w_o;        // (C, Hq*D)
  kernels::PackedMatrix w_gate_up;  // (2F, C): gate then up
  kernels::PackedMatrix w_down;     // (C, F)
};

struct Model::Impl {
  ModelConfig config;
  std::string dir;
  const kernels::KernelSet* kernels = nullptr;
  std::unique_ptr<ThreadPool> pool;
  std::vector<std::unique_ptr<SafetensorsFile>> files;

  // Token embedding, memory-mapped in its checkpoint dtype: (V, C).
  kernels::WType embed_type = kernels::WType::f32;
  const uint8_t* embed = nullptr;

  AlignedBuffer packed;      // every packed matrix, one allocation
  std::vector<float> small;  // every norm weight and bias as f32, one allocation
  std::vector<LayerWeights> layers;
  const float* final_norm = nullptr;  // (C)
  bool has_score = false;
  kernels::PackedMatrix score;  // (num_labels, C)

  // LM head (lm_head.weight or the tied embedding), packed on first use.
  bool has_lm = false;
  kernels::WType lm_source_type = kernels::WType::f32;
  const uint8_t* lm_source = nullptr;  // (V, C)
  std::once_flag lm_once;
  AlignedBuffer lm_packed;
  kernels::PackedMatrix lm;

  std::unique_ptr<kernels::Gemm> gemm;  // the GEMM driver (inference tiling)
  std::unique_ptr<Graph> graph;         // the forward pass

  Model::Profile profile;  // guarded by mu
  std::mutex mu;           // serializes forward passes (and guards the scratch below)
  Scratch x, xn, qkv, att, gate_up, tail, out_rows;

  // loading (model_load.cpp)
  Status load(const std::string& dir, const LoadOptions& options);
  // forward (model.cpp). Requires `mu` held. Writes the final-norm hidden states of `out_rows` to
  // `hidden` (out_rows.size(), C) and, when `scores` is non-null, their rewards. prune_last_layer:
  // the last layer runs for the out rows only (same bits; graph.h).
  void forward(const PackedRows& batch, std::span<const int64_t> out_rows, bool prune_last_layer,
               float* hidden, float* scores);
  // C (+)= A @ W^T on the GEMM driver, timed into the profile.
  void matmul(const kernels::GemmArgs& args);
  Status pack_lm_head();
};

}  // namespace synpref::model
