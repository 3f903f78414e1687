// The Synthesizer (Tay et al. 2020): attention weights synthesized without query-key
// products, softmax(S) V, where S comes from a per-token MLP (Dense), a learned or fixed matrix
// (Random) or their factorized forms; and the mixtures with dot-product attention,
// softmax((1 - a) QK^T / sqrt(D) + a S) V with a = sigmoid(a learned scalar). A logits source
// is one file each (synth_*.cpp); the attention around it is written once, here.
#pragma once
#include <memory>

#include "nn/attention_variant.h"

namespace attn::variants {

// A source of Synthesizer logits.
class SynthesizerLogits : public Module {
 public:
  // [B or 1, H, T, T]: row i holds query i's logits over the first T keys (1: one matrix
  // shared by the batch, as Random's).
  virtual Tensor logits(const Tensor& x, int64_t T) const = 0;
  // Row t alone, for the token x [1, 1, C] at position t: out[h (t + 1) + j] for j <= t.
  virtual void row(const Tensor& x, int64_t t, float* out) const = 0;
};

class SynthesizerAttention : public AttentionVariant {
 public:
  // mixture: mix S with scaled dot products (the layer then projects q, k and v).
  SynthesizerAttention(const VariantSetup& setup, std::unique_ptr<SynthesizerLogits> source,
                       bool mixture);
  Tensor forward(const Tensor& x, const Tensor& qkv,
                 const std::vector<int32_t>& key_lengths) const override;
  Tensor weights(const Tensor& x, const Tensor& qkv) const override;
  bool has_step() const override { return causal_; }
  Tensor step(const Tensor& x, const Tensor& qkv, AttentionCache& cache) const override;

  Tensor mix_logit;  // mixtures: a = sigmoid(mix_logit), starting at 1/2

 private:
  std::unique_ptr<SynthesizerLogits> source_;
};

}  // namespace attn::variants
