// synpref/train/optimizer.h: AdamW over the flat parameter buffer, global-norm clipping, LR schedules.
//
// Semantics are torch.optim.AdamW's and torch.nn.utils.clip_grad_norm_'s (fp32 master weights):
//   p <- p * (1 - lr * wd)                      (decoupled weight decay; matrices only)
//   m <- b1 m + (1 - b1) g ; v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// One loop over the tensor list (ParamLayout::tensors): frozen tensors are skipped.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "synpref/common/status.h"
#include "synpref/train/params.h"

namespace synpref::model {
class ThreadPool;
}

namespace synpref::train {

struct AdamWOptions {
  double lr = 2e-6;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;
};

// Global L2 norm of the gradients (double accumulation over fixed chunks, deterministic).
double grad_norm(std::span<const float> grads);
// torch's clip_grad_norm_: when norm > max_norm, grads *= max_norm / (norm + 1e-6).
void clip_grads(std::span<float> grads, double norm, double max_norm);

// One AdamW update. `step` is the 1-based update count (bias correction), `lr` this step's rate.
// params: the whole buffer; grads, m, v: the trainable suffix (layout.n_trainable() floats).
void adamw_step(const ParamLayout& layout, std::span<float> params, std::span<const float> grads,
                std::span<float> m, std::span<float> v, uint64_t step, double lr,
                const AdamWOptions& options);

// Learning-rate schedules, as transformers' get_*_schedule_with_warmup (step = updates done so far).
enum class Schedule { linear, constant, cosine };
Result<Schedule> parse_schedule(const std::string& name);  // "linear", "constant", "cosine"
double schedule_lr(Schedule schedule, double peak_lr, uint64_t step, uint64_t warmup_steps,
                   uint64_t total_steps);

}  // namespace synpref::train
