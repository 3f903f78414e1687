// Optimisers over a ParameterArena (one loop over one flat array), the learning-rate
// schedule and gradient clipping by global norm.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/module.h"

namespace attn {

struct AdamWOptions {
  float beta1 = 0.9f, beta2 = 0.99f, eps = 1e-8f, weight_decay = 0.1f;
};

// AdamW (Loshchilov and Hutter): decoupled decay, theta -= lr (m_hat / (sqrt(v_hat) + eps)
// + wd theta), decay only on parameters marked `decay`; untrainable ones never move.
class AdamW {
 public:
  AdamW(ParameterArena& arena, AdamWOptions options);
  void step(float lr);
  int64_t steps() const { return t_; }
  // State for checkpoints: the two moment arrays (arena-sized) and the step count.
  std::vector<float>& exp_avg() { return m_; }
  std::vector<float>& exp_avg_sq() { return v_; }
  void set_steps(int64_t t) { t_ = t; }

 private:
  ParameterArena& arena_;
  AdamWOptions options_;
  std::vector<float> m_, v_, decay_mask_;  // decay_mask_: 1 where decayed, 0 elsewhere
  std::vector<uint8_t> trainable_;
  int64_t t_ = 0;
};

// SGD with (heavy-ball) momentum: u = mu u + g; theta -= lr u.
class SGD {
 public:
  SGD(ParameterArena& arena, float momentum);
  void step(float lr);

 private:
  ParameterArena& arena_;
  float momentum_;
  std::vector<float> velocity_;
};

// Linear warmup to max_lr over `warmup` steps, then cosine decay to min_lr at `total`.
float learning_rate(int64_t step, int64_t warmup, int64_t total, float max_lr, float min_lr);

// Scales all gradients so their global L2 norm is at most max_norm. Returns the norm before.
double clip_grad_norm(ParameterArena& arena, double max_norm);

}  // namespace attn
