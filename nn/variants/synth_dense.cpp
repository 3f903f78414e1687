// synth-dense (and synth-dense+softmax): Dense Synthesizer logits (Tay et al. 2020, eq. 1):
// each token's row B_i = W2 relu(W1 x_i + b1) + b2, H rows of L logits, of which the first T
// are kept. Per example, so S is [B, H, T, T].
#include "nn/layers.h"
#include "nn/variants/synthesizer.h"
#include "nn/variants/variants.h"

namespace attn::variants {
namespace {

class DenseLogits : public SynthesizerLogits {
 public:
  explicit DenseLogits(const VariantSetup& s)
      : H_(s.H), L_(s.L), dense_1(s.C, s.C, s.rng), dense_2(s.C, s.H * s.L, s.rng) {
    register_module("dense_1", dense_1);
    register_module("dense_2", dense_2);
  }
  Tensor logits(const Tensor& x, int64_t T) const override {
    const int64_t B = x.size(0);
    Tensor rows = dense_2.forward(relu(dense_1.forward(x)));  // [B, T, H L]
    rows = slice(reshape(rows, {B, T, H_, L_}), 3, 0, T);
    return permute(rows, {0, 2, 1, 3});
  }
  void row(const Tensor& x, int64_t t, float* out) const override {
    const Tensor r = dense_2.forward(relu(dense_1.forward(x)));  // [1, 1, H L]
    for (int64_t h = 0; h < H_; ++h)
      for (int64_t j = 0; j <= t; ++j) out[h * (t + 1) + j] = r.data()[h * L_ + j];
  }

 private:
  int64_t H_, L_;
  attn::Linear dense_1, dense_2;
};

}  // namespace

Made make_synth_dense(const AttentionSpec&, const VariantSetup& setup) {
  return std::make_unique<SynthesizerAttention>(setup, std::make_unique<DenseLogits>(setup), false);
}

Made make_synth_dense_mixture(const AttentionSpec&, const VariantSetup& setup) {
  return std::make_unique<SynthesizerAttention>(setup, std::make_unique<DenseLogits>(setup), true);
}

}  // namespace attn::variants
