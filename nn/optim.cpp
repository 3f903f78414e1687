#include "nn/optim.h"

#include <cmath>

namespace attn {

AdamW::AdamW(ParameterArena& arena, AdamWOptions options)
    : arena_(arena),
      options_(options),
      m_(arena.size(), 0.0f),
      v_(arena.size(), 0.0f),
      decay_mask_(arena.size(), 0.0f),
      trainable_(arena.size(), 0) {
  const auto& params = arena.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t off = arena.offset_of(i), n = params[i].value.numel();
    for (int64_t j = 0; j < n; ++j) {
      decay_mask_[off + j] = params[i].decay ? 1.0f : 0.0f;
      trainable_[off + j] = params[i].trainable;
    }
  }
}

void AdamW::step(float lr) {
  ++t_;
  const float b1 = options_.beta1, b2 = options_.beta2, eps = options_.eps;
  const float wd = options_.weight_decay;
  const float c1 = 1.0f / (1.0f - std::pow(b1, static_cast<float>(t_)));
  const float c2 = 1.0f / (1.0f - std::pow(b2, static_cast<float>(t_)));
  float* theta = arena_.values();
  const float* g = arena_.grads();
  float *m = m_.data(), *v = v_.data();
  const float* decay = decay_mask_.data();
  const uint8_t* trainable = trainable_.data();
  const int64_t n = arena_.size();
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + (1.0f - b1) * g[i];
    v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    const float update = (m[i] * c1) / (std::sqrt(v[i] * c2) + eps) + wd * decay[i] * theta[i];
    theta[i] -= trainable[i] ? lr * update : 0.0f;
  }
}

SGD::SGD(ParameterArena& arena, float momentum)
    : arena_(arena), momentum_(momentum), velocity_(arena.size(), 0.0f) {}

void SGD::step(float lr) {
  float* theta = arena_.values();
  const float* g = arena_.grads();
  float* u = velocity_.data();
  const int64_t n = arena_.size();
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) {
    u[i] = momentum_ * u[i] + g[i];
    theta[i] -= lr * u[i];
  }
}

float learning_rate(int64_t step, int64_t warmup, int64_t total, float max_lr, float min_lr) {
  if (step < warmup) return max_lr * static_cast<float>(step + 1) / static_cast<float>(warmup);
  if (step >= total) return min_lr;
  const double progress = static_cast<double>(step - warmup) / std::max<int64_t>(1, total - warmup);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return static_cast<float>(min_lr + cosine * (max_lr - min_lr));
}

double clip_grad_norm(ParameterArena& arena, double max_norm) {
  const double norm = arena.grad_norm();
  if (max_norm > 0 && norm > max_norm) {
    const float factor = static_cast<float>(max_norm / (norm + 1e-6));
    float* g = arena.grads();
    const int64_t n = arena.size();
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; ++i) g[i] *= factor;
  }
  return norm;
}

}  // namespace attn
