// linformer[:k=64,share=headwise]: keys and values projected along the sequence to k rows
// (Wang et al. 2020, eq. 7), then softmax attention over them. share: none (E, F per head),
// headwise (one E, F for all heads), kv (E = F), layerwise (one projection, E = F for every
// head of every layer, owned by the model). Encoders only: each projected key mixes every position, future ones included.
#include <cmath>

#include "attention/linformer.h"
#include "attention/softmax_attention.h"
#include "engine/tape.h"
#include "nn/variants/variants.h"

namespace attn::variants {
namespace {

class Linformer : public AttentionVariant {
 public:
  Linformer(const AttentionSpec& spec, const VariantSetup& s)
      : AttentionVariant(s), layerwise_(s.layerwise_projection) {
    const int64_t k = spec.integer("k", 64);
    const std::string share = spec.word("share", "headwise");
    const float std = 1.0f / std::sqrt(static_cast<float>(s.L));
    const Shape shape = share == "none" ? Shape{s.H, k, s.L} : Shape{k, s.L};
    if (share == "layerwise") {
      if (!layerwise_)
        spec.fail("share=layerwise needs a model that owns the shared projection (the "
                  "encoder classifier)");
      return;
    }
    proj_e = Tensor::randn(shape, s.rng, std);
    register_parameter("proj_e", proj_e);
    if (share != "kv") {
      proj_f = Tensor::randn(shape, s.rng, std);
      register_parameter("proj_f", proj_f);
    }
  }
  Tensor forward(const Tensor&, const Tensor& qkv,
                 const std::vector<int32_t>& key_lengths) const override {
    auto heads = split_heads(qkv, H_, 3);
    Tensor k = heads[1], v = heads[2];
    if (!key_lengths.empty()) {
      Tensor mask = key_mask(key_lengths, v.shape());
      k = mul(k, mask), v = mul(v, mask);
    }
    return merge_heads(softmax_attention(heads[0], linformer_project(E(), k),
                                         linformer_project(F(), v)));
  }
  Tensor weights(const Tensor&, const Tensor& qkv) const override {
    auto heads = split_heads(qkv, H_, 3);
    const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(heads[0].size(3)));
    Tensor logits = matmul(heads[0], linformer_project(E(), heads[1]), false, true);
    return softmax(scale(logits, inv_sqrt_d));
  }
  Tensor weighted_values(const Tensor& v) const override { return linformer_project(F(), v); }

  Tensor proj_e, proj_f;

 private:
  const Tensor& E() const { return layerwise_ ? *layerwise_ : proj_e; }
  const Tensor& F() const { return proj_f.defined() ? proj_f : E(); }
  const Tensor* layerwise_;
};

}  // namespace

void validate_linformer(const AttentionSpec& spec, int64_t L) {
  const std::string share = spec.word("share", "headwise");
  if (share != "none" && share != "headwise" && share != "kv" && share != "layerwise")
    spec.fail("share must be none, headwise, kv or layerwise, got '" + share + "'");
  const int64_t k = spec.integer("k", 64);
  if (k > L)
    spec.fail("k = " + std::to_string(k) + " exceeds the maximum length " + std::to_string(L));
}

int64_t linformer_shared_rows(const AttentionSpec& spec) {
  return spec.word("share", "headwise") == "layerwise" ? spec.integer("k", 64) : 0;
}

Made make_linformer(const AttentionSpec& spec, const VariantSetup& setup) {
  return std::make_unique<Linformer>(spec, setup);
}

}  // namespace attn::variants
