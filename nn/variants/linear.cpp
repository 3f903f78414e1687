// linear[:chunk=64]: linear attention (Katharopoulos et al. 2020) with phi = elu + 1,
// attention/linear_attention.h; the causal form is chunked, and generation runs it as an RNN
// whose state (S [D, D], z [D] per head) costs the same at every token.
#include <algorithm>

#include "attention/linear_attention.h"
#include "engine/tape.h"
#include "nn/variants/variants.h"

namespace attn::variants {
namespace {

class LinearVariant : public AttentionVariant {
 public:
  LinearVariant(const AttentionSpec& spec, const VariantSetup& setup)
      : AttentionVariant(setup), chunk_(spec.integer("chunk", 64)) {}
  Tensor forward(const Tensor&, const Tensor& qkv,
                 const std::vector<int32_t>& key_lengths) const override {
    auto heads = split_heads(qkv, H_, 3);
    Tensor k = heads[1], v = heads[2];
    if (!key_lengths.empty()) {
      // Padded keys: phi(k) > 0 always, so a padded key is removed by zeroing its value and
      // by a large negative key (phi -> e^-30, about 1e-13).
      Tensor mask = key_mask(key_lengths, v.shape());
      k = add(mul(k, mask), scale(sub(mask, Tensor::scalar(1.0f)), 30.0f));
      v = mul(v, mask);
    }
    LinearAttentionOptions options;
    options.causal = causal_;
    options.chunk = chunk_;
    return merge_heads(linear_attention(heads[0], k, v, options));
  }
  // A_ij = phi(q_i).phi(k_j) / sum_j' phi(q_i).phi(k_j'), over j <= i when causal.
  Tensor weights(const Tensor&, const Tensor& qkv) const override {
    auto heads = split_heads(qkv, H_, 3);
    const int64_t B = qkv.size(0), T = qkv.size(1);
    auto phi = [](const Tensor& t) { return add(elu(t), Tensor::scalar(1.0f)); };
    Tensor a = matmul(phi(heads[0]), phi(heads[1]), false, true);
    for (int64_t row = 0; row < B * H_ * T; ++row) {
      float* r = a.data() + row * T;
      const int64_t visible = causal_ ? row % T + 1 : T;
      std::fill(r + visible, r + T, 0.0f);
      double total = 0;
      for (int64_t j = 0; j < visible; ++j) total += r[j];
      for (int64_t j = 0; j < visible; ++j) r[j] = static_cast<float>(r[j] / total);
    }
    return a;
  }
  bool has_step() const override { return causal_; }
  AttentionCache new_cache(int64_t D) const override {
    AttentionCache cache;
    cache.linear = LinearAttentionState::zeros(H_, D, D);
    return cache;
  }
  Tensor step(const Tensor&, const Tensor& qkv, AttentionCache& cache) const override {
    const int64_t C = qkv.size(2) / 3;
    const float* p = qkv.data();
    Tensor y = Tensor::empty({1, 1, C});
    linear_attention_step(y.data(), p, p + C, p + 2 * C, cache.linear);
    return y;
  }

 private:
  int64_t chunk_;
};

}  // namespace

void validate_linear(const AttentionSpec& spec, int64_t) { spec.integer("chunk", 64); }

Made make_linear(const AttentionSpec& spec, const VariantSetup& setup) {
  return std::make_unique<LinearVariant>(spec, setup);
}

}  // namespace attn::variants
