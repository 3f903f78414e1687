#include "nn/variants/synthesizer.h"

#include <cmath>
#include <vector>

#include "attention/mask.h"
#include "attention/mixture_attention.h"
#include "attention/synthetic_attention.h"
#include "engine/tape.h"

namespace attn::variants {

SynthesizerAttention::SynthesizerAttention(const VariantSetup& setup,
                                           std::unique_ptr<SynthesizerLogits> source,
                                           bool mixture)
    : AttentionVariant(setup), source_(std::move(source)) {
  register_module("", *source_);  // its parameters keep their own names on the layer
  if (mixture) {
    mix_logit = Tensor::zeros({1});
    register_parameter("mix_logit", mix_logit, /*decay=*/false);
  }
}

Tensor SynthesizerAttention::forward(const Tensor& x, const Tensor& qkv,
                                     const std::vector<int32_t>& key_lengths) const {
  const int64_t B = x.size(0), T = x.size(1);
  auto heads = split_heads(qkv, H_, mix_logit.defined() ? 3 : 1);
  Tensor S = source_->logits(x, T);
  if (mix_logit.defined()) {
    MixtureAttentionOptions options;
    options.causal = causal_;
    options.key_lengths = key_lengths;
    return merge_heads(mixture_attention(heads[0], heads[1], heads[2], S, sigmoid(mix_logit),
                                         options));
  }
  if (!key_lengths.empty()) S = add(S, attention_mask(B, H_, T, T, false, key_lengths));
  return merge_heads(synthetic_attention(S, heads.back(), causal_));
}

Tensor SynthesizerAttention::weights(const Tensor& x, const Tensor& qkv) const {
  const int64_t B = x.size(0), T = x.size(1);
  Tensor logits = source_->logits(x, T);
  if (mix_logit.defined()) {  // the fused operator's own probabilities
    auto heads = split_heads(qkv, H_, 3);
    MixtureAttentionOptions options;
    options.causal = causal_;
    return mixture_attention_weights(heads[0], heads[1], logits, sigmoid(mix_logit), options);
  }
  if (logits.size(0) != B)  // batch-shared logits
    logits = add(Tensor::zeros({B, H_, T, T}), reshape(logits, {H_, T, T}));
  if (causal_) logits = add(logits, attention_mask(B, H_, T, T, true, {}));
  return softmax(logits);
}

// Position t = cache.length: its logits over keys 0..t (the source's row t, mixed with
// q_t . k_j / sqrt(D) for the mixtures), then the softmax-weighted cached values.
Tensor SynthesizerAttention::step(const Tensor& x, const Tensor& qkv,
                                  AttentionCache& cache) const {
  const bool mixture = mix_logit.defined();
  const int64_t n_proj = mixture ? 3 : 1, C = qkv.size(2) / n_proj, D = C / H_;
  const int64_t t = cache.length;
  const float* p = qkv.data();
  cache_keys_and_values(mixture ? p + C : nullptr, p + (n_proj - 1) * C, D, cache);
  std::vector<float> logits(H_ * (t + 1));
  source_->row(x, t, logits.data());
  if (mixture) {
    const float a = 1.0f / (1.0f + std::exp(-mix_logit.data()[0]));
    const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(D));
    for (int64_t h = 0; h < H_; ++h)
      for (int64_t j = 0; j <= t; ++j) {
        const float* k = cache.k.data() + (h * L_ + j) * D;
        float dot = 0.0f;
        for (int64_t d = 0; d < D; ++d) dot += p[h * D + d] * k[d];
        float& l = logits[h * (t + 1) + j];
        l = (1.0f - a) * dot * inv_sqrt_d + a * l;
      }
  }
  Tensor y = Tensor::empty({1, 1, C});
  attend_cached_values(logits.data(), cache, D, y.data());
  return y;
}

}  // namespace attn::variants
