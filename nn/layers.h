// Basic layers: Linear, Embedding, LayerNorm, MLP. Each holds its parameters and calls the
// engine's ops in forward().
#pragma once
#include "engine/ops.h"
#include "engine/rng.h"
#include "nn/module.h"

namespace attn {

// y = x W + b with W [in, out]. Initialised N(0, std) (GPT-2: 0.02), b = 0.
class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, Rng& rng, float std = 0.02f, bool bias = true);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;  // bias undefined when disabled
};

// Rows of W [V, C] looked up by id. Initialised N(0, 0.02); not weight-decayed.
class Embedding : public Module {
 public:
  Embedding(int64_t vocab, int64_t width, Rng& rng, float std = 0.02f);
  Tensor forward(const Ids& ids) const { return embedding(weight, ids); }
  Tensor weight;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t width, float eps = 1e-5f);
  Tensor forward(const Tensor& x) const { return layernorm(x, weight, bias, eps_); }
  Tensor weight, bias;

 private:
  float eps_;
};

// GPT-2's feed-forward: c_proj(gelu(c_fc(x))), hidden width 4C. `proj_std` is the scaled
// init of the residual projection, 0.02 / sqrt(2 n_layer).
class MLP : public Module {
 public:
  MLP(int64_t width, Rng& rng, float proj_std);
  Tensor forward(const Tensor& x) const { return c_proj.forward(gelu(c_fc.forward(x))); }
  Linear c_fc, c_proj;
};

}  // namespace attn
