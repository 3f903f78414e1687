// synth-random, synth-random-fixed (and synth-random+softmax): Random Synthesizer logits
// (Tay et al. 2020, eq. 3): one [H, L, L] matrix R, the same for every input, learned or fixed
// at initialisation (a random, not uniform, pattern that is never trained). S = R[:, :T, :T],
// shared by the batch.
#include "engine/ops.h"
#include "nn/variants/synthesizer.h"
#include "nn/variants/variants.h"

namespace attn::variants {
namespace {

class RandomLogits : public SynthesizerLogits {
 public:
  RandomLogits(const VariantSetup& s, bool fixed) : H_(s.H), L_(s.L) {
    synth_r = Tensor::randn({s.H, s.L, s.L}, s.rng, fixed ? 1.0f : 0.02f);
    register_parameter("synth_r", synth_r, /*decay=*/false, /*trainable=*/!fixed);
  }
  Tensor logits(const Tensor&, int64_t T) const override {
    return reshape(slice(slice(synth_r, 1, 0, T), 2, 0, T), {1, H_, T, T});
  }
  void row(const Tensor&, int64_t t, float* out) const override {  // R[h, t, :t+1]
    for (int64_t h = 0; h < H_; ++h)
      for (int64_t j = 0; j <= t; ++j) out[h * (t + 1) + j] = synth_r.data()[(h * L_ + t) * L_ + j];
  }

  Tensor synth_r;

 private:
  int64_t H_, L_;
};

Made make(const VariantSetup& setup, bool fixed, bool mixture) {
  return std::make_unique<SynthesizerAttention>(
      setup, std::make_unique<RandomLogits>(setup, fixed), mixture);
}

}  // namespace

Made make_synth_random(const AttentionSpec&, const VariantSetup& s) { return make(s, false, false); }
Made make_synth_random_mixture(const AttentionSpec&, const VariantSetup& s) { return make(s, false, true); }
Made make_synth_random_fixed(const AttentionSpec&, const VariantSetup& s) { return make(s, true, false); }

}  // namespace attn::variants
