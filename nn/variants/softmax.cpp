// softmax: scaled dot-product attention (Vaswani et al. 2017), the fused flash-style operator
// of attention/softmax_attention.h reading q, k, v straight from the [B, T, 3C] projection;
// generation with a cache of keys and values.
#include <cmath>

#include "attention/mask.h"
#include "attention/softmax_attention.h"
#include "attention/softmax_kv_cache.h"
#include "engine/tape.h"
#include "nn/variants/variants.h"

namespace attn::variants {
namespace {

class Softmax : public AttentionVariant {
 public:
  using AttentionVariant::AttentionVariant;
  Tensor forward(const Tensor&, const Tensor& qkv,
                 const std::vector<int32_t>& key_lengths) const override {
    SoftmaxAttentionOptions options;
    options.causal = causal_;
    options.key_lengths = key_lengths;
    return softmax_self_attention_packed(qkv, H_, options);
  }
  Tensor weights(const Tensor&, const Tensor& qkv) const override {
    auto heads = split_heads(qkv, H_, 3);
    const int64_t B = qkv.size(0), T = qkv.size(1), D = heads[0].size(3);
    Tensor logits = scale(matmul(heads[0], heads[1], false, true), 1.0f / std::sqrt(float(D)));
    if (causal_) logits = add(logits, attention_mask(B, H_, T, T, true, {}));
    return softmax(logits);
  }
  bool has_step() const override { return causal_; }
  Tensor step(const Tensor&, const Tensor& qkv, AttentionCache& cache) const override {
    const int64_t C = qkv.size(2) / 3, D = C / H_;
    const float* p = qkv.data();  // q heads, then k heads, then v heads
    cache_keys_and_values(p + C, p + 2 * C, D, cache);
    Tensor y = Tensor::empty({1, 1, C});
    softmax_attention_step(y.data(), p, cache.k.data(), cache.v.data(), H_, D, L_,
                           cache.length + 1);
    return y;
  }
};

}  // namespace

Made make_softmax(const AttentionSpec&, const VariantSetup& setup) {
  return std::make_unique<Softmax>(setup);
}

}  // namespace attn::variants
