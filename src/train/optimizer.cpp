// AdamW, clipping and schedules (see optimizer.h).
#include "synpref/train/optimizer.h"

#include <algorithm>
#include <cmath>

namespace synpref::train {

double grad_norm(std::span<const float> grads) {
  // Fixed 4096-element chunks summed in double, then chunk sums in order.
  constexpr size_t kChunk = 4096;
  double total = 0;
  for (size_t i0 = 0; i0 < grads.size(); i0 += kChunk) {
    const size_t i1 = std::min(grads.size(), i0 + kChunk);
    double s = 0;
    for (size_t i = i0; i < i1; ++i) s += static_cast<double>(grads[i]) * grads[i];
    total += s;
  }
  return std::sqrt(total);
}

void clip_grads(std::span<float> grads, double norm, double max_norm) {
  if (!(max_norm > 0) || !(norm > max_norm)) return;
  const float coef = static_cast<float>(max_norm / (norm + 1e-6));
  for (float& g : grads) g *= coef;
}

void adamw_step(const ParamLayout& layout, std::span<float> params, std::span<const float> grads,
                std::span<float> m, std::span<float> v, uint64_t step, double lr, const AdamWOptions& o) {
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(step));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
  const float eps = static_cast<float>(o.eps);
  const size_t base = layout.trainable_begin();
  for (const ParamTensor& t : layout.tensors()) {
    if (!layout.trainable(t)) continue;
    float* p = params.data() + t.offset;
    const float* g = grads.data() + (t.offset - base);
    float* mt = m.data() + (t.offset - base);
    float* vt = v.data() + (t.offset - base);
    const float decay = t.decay ? static_cast<float>(1.0 - lr * o.weight_decay) : 1.0f;
    for (size_t i = 0; i < t.size; ++i) {
      p[i] *= decay;
      mt[i] = b1 * mt[i] + (1.0f - b1) * g[i];
      vt[i] = b2 * vt[i] + (1.0f - b2) * g[i] * g[i];
      const float denom = std::sqrt(vt[i]) / bc2_sqrt + eps;
      p[i] -= step_size * (mt[i] / denom);
    }
  }
}

Result<Schedule> parse_schedule(const std::string& name) {
  if (name == "linear") return Schedule::linear;
  if (name == "constant") return Schedule::constant;
  if (name == "cosine") return Schedule::cosine;
  return invalid_argument("--schedule must be linear, constant or cosine, got '" + name + "'");
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
