// AdamW, clipping and schedules (see optimizer.h).
#include "synpref/train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "common/thread_pool.h"
#include "synpref/common/check.h"

namespace synpref::train {

namespace {

constexpr size_t kNormChunk = 4096;  // part of the numerics of grad_norm (fixed)

// The per-element update, shared by the dense and the fast path so that both give the same bits.
struct Update {
  float step_size, bc2_sqrt, b1, b2, eps;
  inline void apply(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                    size_t n, float decay, float scale) const {
    for (size_t i = 0; i < n; ++i) {
      const float gi = g[i] * scale;
      p[i] *= decay;
      m[i] = b1 * m[i] + (1.0f - b1) * gi;
      v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
      const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
      p[i] -= step_size * (m[i] / denom);
    }
  }
};

Update make_update(uint64_t step, double lr, const AdamWOptions& o) {
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(step));
  return {static_cast<float>(lr / bc1), static_cast<float>(std::sqrt(bc2)), static_cast<float>(o.beta1),
          static_cast<float>(o.beta2), static_cast<float>(o.eps)};
}

float decay_of(const ParamTensor& t, double lr, const AdamWOptions& o) {
  return t.decay ? static_cast<float>(1.0 - lr * o.weight_decay) : 1.0f;
}

}  // namespace

double grad_norm(std::span<const float> grads) {
  double total = 0;
  for (size_t i0 = 0; i0 < grads.size(); i0 += kNormChunk) {
    const size_t i1 = std::min(grads.size(), i0 + kNormChunk);
    double s = 0;
    for (size_t i = i0; i < i1; ++i) s += static_cast<double>(grads[i]) * grads[i];
    total += s;
  }
  return std::sqrt(total);
}

float clip_scale(double norm, double max_norm) {
  if (!(max_norm > 0) || !(norm > max_norm)) return 1.0f;
  return static_cast<float>(max_norm / (norm + 1e-6));
}

void clip_grads(std::span<float> grads, double norm, double max_norm) {
  const float coef = clip_scale(norm, max_norm);
  if (coef == 1.0f) return;
  for (float& g : grads) g *= coef;
}

void adamw_step(const ParamLayout& layout, std::span<float> params, std::span<const float> grads,
                std::span<float> m, std::span<float> v, uint64_t step, double lr, const AdamWOptions& o) {
  const Update u = make_update(step, lr, o);
  const size_t base = layout.trainable_begin();
  for (const ParamTensor& t : layout.tensors()) {
    if (!layout.trainable(t)) continue;
    const size_t off = t.offset - base;
    u.apply(params.data() + t.offset, grads.data() + off, m.data() + off, v.data() + off, t.size,
            decay_of(t, lr, o), 1.0f);
  }
}

// ---------------------------------------------------------------- the training path

AdamW::AdamW(const ParamLayout& layout, const AdamWOptions& options, ThreadPool* pool)
    : m(layout.n_trainable(), 0.0f),
      v(layout.n_trainable(), 0.0f),
      layout_(layout),
      options_(options),
      pool_(pool) {
  for (const ParamTensor& t : layout.tensors()) {
    if (t.role == model::TensorRole::embed && layout.trainable(t)) {
      embed_ = &t;
      row_size_ = t.shape[1];
      SP_CHECK(t.offset == layout.trainable_begin());  // the embedding leads the trainable suffix
    }
  }
  if (embed_) row_active_.assign(static_cast<size_t>(embed_->shape[0]), 0);
}

void AdamW::refresh() {
  if (!embed_) return;
  const int64_t rows = embed_->shape[0];
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t active = 0;
    for (int64_t c = 0; c < row_size_ && !active; ++c) {
      const size_t i = static_cast<size_t>(r * row_size_ + c);
      active = m[i] != 0.0f || v[i] != 0.0f;
    }
    row_active_[static_cast<size_t>(r)] = active;
  }
}

double AdamW::grad_norm(std::span<const float> grads, const std::vector<int32_t>* embed_rows) const {
  // The reference's chunk sums, computed in parallel (chunks entirely past the sparse embedding)
  // and from the listed rows (chunks inside it): element order within a chunk is preserved (rows
  // are sorted) and the skipped elements are exact zeros, which add nothing, so every chunk sum
  // and the total are bitwise the reference's.
  const size_t n_chunks = (grads.size() + kNormChunk - 1) / kNormChunk;
  std::vector<double> part(n_chunks, 0.0);
  const size_t sparse_end = embed_ && embed_rows ? embed_->size : 0;
  const size_t first_dense = (sparse_end + kNormChunk - 1) / kNormChunk;
  constexpr size_t kChunksPerTask = 16;
  pool_->parallel_for(static_cast<int64_t>((n_chunks - first_dense + kChunksPerTask - 1) / kChunksPerTask),
                      [&](int64_t task, int) {
                        const size_t c0 = first_dense + static_cast<size_t>(task) * kChunksPerTask;
                        for (size_t c = c0; c < std::min(n_chunks, c0 + kChunksPerTask); ++c) {
                          double s = 0;
                          for (size_t i = c * kNormChunk; i < std::min(grads.size(), (c + 1) * kNormChunk);
                               ++i)
                            s += static_cast<double>(grads[i]) * grads[i];
                          part[c] = s;
                        }
                      });
  if (sparse_end > 0) {
    for (int32_t r : *embed_rows) {
      const size_t i0 = static_cast<size_t>(r) * static_cast<size_t>(row_size_);
      for (size_t i = i0; i < i0 + static_cast<size_t>(row_size_); ++i)
        part[i / kNormChunk] += static_cast<double>(grads[i]) * grads[i];
    }
    // The chunk holding the end of the embedding continues over the tensors after it.
    if (sparse_end % kNormChunk != 0) {
      const size_t c = sparse_end / kNormChunk;
      for (size_t i = sparse_end; i < std::min(grads.size(), (c + 1) * kNormChunk); ++i)
        part[c] += static_cast<double>(grads[i]) * grads[i];
    }
  }
  double total = 0;
  for (double s : part) total += s;
  return std::sqrt(total);
}

void AdamW::step(std::span<float> params, std::span<const float> grads,
                 const std::vector<int32_t>* embed_rows, uint64_t step, double lr, float grad_scale) {
  const Update u = make_update(step, lr, options_);
  const size_t base = layout_.trainable_begin();
  constexpr size_t kBlock = 1 << 15;
  struct Job {
    const ParamTensor* t;
    size_t begin, end;  // elements of the tensor
  };
  std::vector<Job> jobs;
  for (const ParamTensor& t : layout_.tensors()) {
    if (!layout_.trainable(t) || (&t == embed_ && embed_rows)) continue;
    for (size_t b = 0; b < t.size; b += kBlock) jobs.push_back({&t, b, std::min(t.size, b + kBlock)});
  }
  pool_->parallel_for(static_cast<int64_t>(jobs.size()), [&](int64_t j, int) {
    const Job& job = jobs[static_cast<size_t>(j)];
    const size_t off = job.t->offset - base + job.begin;
    u.apply(params.data() + job.t->offset + job.begin, grads.data() + off, m.data() + off, v.data() + off,
            job.end - job.begin, decay_of(*job.t, lr, options_), grad_scale);
  });
  if (embed_ && embed_rows) {
    for (int32_t r : *embed_rows) row_active_[static_cast<size_t>(r)] = 1;
    const float decay = decay_of(*embed_, lr, options_);
    const int64_t rows = embed_->shape[0];
    constexpr int64_t kRowsPerTask = 1024;
    pool_->parallel_for((rows + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t task, int) {
      const int64_t r0 = task * kRowsPerTask, r1 = std::min(rows, r0 + kRowsPerTask);
      for (int64_t r = r0; r < r1; ++r) {
        const size_t off = static_cast<size_t>(r * row_size_);
        float* p = params.data() + embed_->offset + off;
        if (row_active_[static_cast<size_t>(r)]) {
          u.apply(p, grads.data() + (embed_->offset - base) + off, m.data() + off, v.data() + off,
                  static_cast<size_t>(row_size_), decay, grad_scale);
        } else if (decay != 1.0f) {
          for (int64_t c = 0; c < row_size_; ++c) p[c] *= decay;  // what the update does with g = m = v = 0
        }
      }
    });
  }
}

Result<Schedule> parse_schedule(const std::string& name) {
  if (name == "linear") return Schedule::linear;
  if (name == "constant") return Schedule::constant;
  if (name == "cosine") return Schedule::cosine;
  return invalid_argument("`schedule` must be linear, constant or cosine, got '" + name + "'");
}

double schedule_lr(Schedule schedule, double peak_lr, uint64_t step, uint64_t warmup, uint64_t total) {
  if (step < warmup)
    return peak_lr * static_cast<double>(step) / static_cast<double>(std::max<uint64_t>(1, warmup));
  switch (schedule) {
    case Schedule::constant:
      return peak_lr;
    case Schedule::linear:
      if (total <= warmup) return peak_lr;
      return peak_lr * std::max(0.0, static_cast<double>(total - std::min(step, total)) /
                                         static_cast<double>(total - warmup));
    case Schedule::cosine: {
      if (total <= warmup) return peak_lr;
      const double progress = static_cast<double>(step - warmup) / static_cast<double>(total - warmup);
      return peak_lr *
             std::max(0.0, 0.5 * (1.0 + std::cos(3.14159265358979323846 * std::min(1.0, progress))));
    }
  }
  return peak_lr;
}

}  // namespace synpref::train
