// synpref/train/optimizer.h: AdamW over the flat parameter buffer, global-norm clipping, LR schedules.
//
// Semantics are torch.optim.AdamW's and torch.nn.utils.clip_grad_norm_'s (fp32 master weights):
//   g <- g * min(1, max_norm / (|g| + 1e-6))    (global-norm clipping)
//   p <- p * (1 - lr * wd)                      (decoupled weight decay; matrices only)
//   m <- b1 m + (1 - b1) g ; v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// One loop over the tensor list (ParamLayout::tensors): frozen tensors are skipped.
//
// Sparse embedding rows. A step touches a few hundred of the ~150k embedding rows; the other rows
// have zero gradient and, until first touched, zero moments, for which the update above reduces
// exactly (bit for bit) to p <- p * (1 - lr * wd): a no-op without weight decay. AdamW therefore
// takes the list of rows whose gradient may be nonzero and skips the rest, which leaves every bit
// of the result as the dense update would (tests/train/test_optimizer.cpp checks it).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/train/params.h"

namespace synpref {
class ThreadPool;  // common/thread_pool.h
}

namespace synpref::train {

struct AdamWOptions {
  double lr = 2e-6;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;
};

// The dense reference path (single-threaded, every element).
// Global L2 norm: double sums over fixed 4096-element chunks, added in order.
double grad_norm(std::span<const float> grads);
// torch's clip_grad_norm_: when norm > max_norm, grads *= max_norm / (norm + 1e-6).
void clip_grads(std::span<float> grads, double norm, double max_norm);
float clip_scale(double norm, double max_norm);  // the factor clip_grads applies (1 when not clipping)
// One AdamW update. `step` is the 1-based update count (bias correction), `lr` this step's rate.
// params: the whole buffer; grads, m, v: the trainable suffix (layout.n_trainable() floats).
void adamw_step(const ParamLayout& layout, std::span<float> params, std::span<const float> grads,
                std::span<float> m, std::span<float> v, uint64_t step, double lr,
                const AdamWOptions& options);

// The training path: threaded, embedding-row sparse, clipping fused into the update. Bitwise the
// same results as grad_norm + clip_grads + adamw_step.
class AdamW {
 public:
  AdamW(const ParamLayout& layout, const AdamWOptions& options, ThreadPool* pool);
  // Moments of the trainable suffix; assign them (e.g. from a training state) then call refresh().
  std::vector<float> m, v;
  void refresh();  // recomputes which embedding rows have nonzero moments

  // embed_rows: sorted rows of the embedding gradient that may be nonzero (the others are exactly
  // zero), or nullptr for "any row". Ignored when the embeddings are frozen.
  double grad_norm(std::span<const float> grads, const std::vector<int32_t>* embed_rows) const;
  void step(std::span<float> params, std::span<const float> grads, const std::vector<int32_t>* embed_rows,
            uint64_t step, double lr, float grad_scale);

 private:
  const ParamLayout& layout_;
  AdamWOptions options_;
  ThreadPool* pool_;
  const ParamTensor* embed_ = nullptr;  // trainable embedding tensor, or null
  int64_t row_size_ = 0;
  std::vector<uint8_t> row_active_;  // embedding rows with nonzero moments (superset)
};

// Learning-rate schedules, as transformers' get_*_schedule_with_warmup (step = updates done so far).
enum class Schedule { linear, constant, cosine };
Result<Schedule> parse_schedule(const std::string& name);  // "linear", "constant", "cosine"
double schedule_lr(Schedule schedule, double peak_lr, uint64_t step, uint64_t warmup_steps,
                   uint64_t total_steps);

}  // namespace synpref::train
