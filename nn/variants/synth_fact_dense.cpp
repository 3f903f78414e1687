// synth-fact-dense[:a=8]: factorized Dense Synthesizer (Tay et al. 2020, section 3.2): each
// token predicts a values A and b = ceil(L / a) values B per head; S[i, j] = A[i, j mod a]
// B[i, j div a] (A tiled, B repeated), built by attention/factorized_dense.h.
#include "attention/factorized_dense.h"
#include "nn/layers.h"
#include "nn/variants/synthesizer.h"
#include "nn/variants/variants.h"

namespace attn::variants {
namespace {

class FactorizedDenseLogits : public SynthesizerLogits {
 public:
  FactorizedDenseLogits(const VariantSetup& s, int64_t a)
      : H_(s.H), a_(a), b_((s.L + a - 1) / a),
        dense_a(s.C, s.H * a, s.rng, 0.2f), dense_b(s.C, s.H * b_, s.rng, 0.2f) {
    register_module("dense_a", dense_a);
    register_module("dense_b", dense_b);
  }
  Tensor logits(const Tensor& x, int64_t T) const override {
    const int64_t B = x.size(0);
    return factorized_dense_logits(reshape(dense_a.forward(x), {B, T, H_, a_}),
                                   reshape(dense_b.forward(x), {B, T, H_, b_}));
  }
  void row(const Tensor& x, int64_t t, float* out) const override {
    const Tensor A = dense_a.forward(x), Bv = dense_b.forward(x);  // [1, 1, H a], [1, 1, H b]
    for (int64_t h = 0; h < H_; ++h)
      for (int64_t j = 0; j <= t; ++j)
        out[h * (t + 1) + j] = A.data()[h * a_ + j % a_] * Bv.data()[h * b_ + j / a_];
  }

 private:
  int64_t H_, a_, b_;
  attn::Linear dense_a, dense_b;
};

}  // namespace

void validate_synth_fact_dense(const AttentionSpec& spec, int64_t L) {
  if (spec.integer("a", 8) > L) spec.fail("a exceeds the maximum length");
}

Made make_synth_fact_dense(const AttentionSpec& spec, const VariantSetup& setup) {
  return std::make_unique<SynthesizerAttention>(
      setup, std::make_unique<FactorizedDenseLogits>(setup, spec.integer("a", 8)), false);
}

}  // namespace attn::variants
