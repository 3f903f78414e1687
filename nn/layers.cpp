#include "nn/layers.h"

namespace attn {

Linear::Linear(int64_t in, int64_t out, Rng& rng, float std, bool with_bias) {
  weight = Tensor::randn({in, out}, rng, std);
  register_parameter("weight", weight, /*decay=*/true);
  if (with_bias) {
    bias = Tensor::zeros({out});
    register_parameter("bias", bias, /*decay=*/false);
  }
}

Tensor Linear::forward(const Tensor& x) const { return linear(x, weight, bias); }

Embedding::Embedding(int64_t vocab, int64_t width, Rng& rng, float std) {
  weight = Tensor::randn({vocab, width}, rng, std);
  register_parameter("weight", weight, /*decay=*/false);
}

LayerNorm::LayerNorm(int64_t width, float eps) : eps_(eps) {
  weight = Tensor::ones({width});
  bias = Tensor::zeros({width});
  register_parameter("weight", weight, false);
  register_parameter("bias", bias, false);
}

MLP::MLP(int64_t width, Rng& rng, float proj_std)
    : c_fc(width, 4 * width, rng), c_proj(4 * width, width, rng, proj_std) {
  register_module("c_fc", c_fc);
  register_module("c_proj", c_proj);
}

}  // namespace attn
