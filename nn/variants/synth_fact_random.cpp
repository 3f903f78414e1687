// synth-fact-random[:r=8]: factorized Random Synthesizer (Tay et al. 2020, section 3.2):
// R = R1 R2^T with R1, R2 [H, L, r], so S[:, i, j] = R1[:, i] . R2[:, j]; shared by the batch.
#include "engine/ops.h"
#include "nn/variants/synthesizer.h"
#include "nn/variants/variants.h"

namespace attn::variants {
namespace {

class FactorizedRandomLogits : public SynthesizerLogits {
 public:
  FactorizedRandomLogits(const VariantSetup& s, int64_t r) : H_(s.H), L_(s.L), r_(r) {
    synth_r1 = Tensor::randn({s.H, s.L, r}, s.rng, 0.1f);
    synth_r2 = Tensor::randn({s.H, s.L, r}, s.rng, 0.1f);
    register_parameter("synth_r1", synth_r1, false);
    register_parameter("synth_r2", synth_r2, false);
  }
  Tensor logits(const Tensor&, int64_t T) const override {
    Tensor R = matmul(slice(synth_r1, 1, 0, T), slice(synth_r2, 1, 0, T), false, true);
    return reshape(R, {1, H_, T, T});
  }
  void row(const Tensor&, int64_t t, float* out) const override {
    for (int64_t h = 0; h < H_; ++h)
      for (int64_t j = 0; j <= t; ++j) {
        const float* a = synth_r1.data() + (h * L_ + t) * r_;
        const float* b = synth_r2.data() + (h * L_ + j) * r_;
        float dot = 0.0f;
        for (int64_t k = 0; k < r_; ++k) dot += a[k] * b[k];
        out[h * (t + 1) + j] = dot;
      }
  }

  Tensor synth_r1, synth_r2;

 private:
  int64_t H_, L_, r_;
};

}  // namespace

void validate_synth_fact_random(const AttentionSpec& spec, int64_t) { spec.integer("r", 8); }

Made make_synth_fact_random(const AttentionSpec& spec, const VariantSetup& setup) {
  return std::make_unique<SynthesizerAttention>(
      setup, std::make_unique<FactorizedRandomLogits>(setup, spec.integer("r", 8)), false);
}

}  // namespace attn::variants
