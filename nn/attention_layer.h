// AttentionLayer: the input projection (q, k, v side by side in one [C, 3C] matrix, as GPT-2;
// only v for the pure Synthesizer variants), the chosen attention variant with its own
// parameters (nn/attention_variant.h, made by the registry from a spec string such as
// "softmax", "linear", "linformer:k=64", "synth-random"), and the output projection.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/attention_registry.h"
#include "nn/config.h"
#include "nn/layers.h"

namespace attn {

class AttentionLayer : public Module {
 public:
  // `layerwise_projection` is the model-wide Linformer projection for share=layerwise.
  AttentionLayer(const ModelConfig& config, Rng& rng, float proj_std,
                 const Tensor* layerwise_projection = nullptr);
  // x [B, T, C] -> [B, T, C]. key_lengths (per batch) marks padding for encoders.
  Tensor forward(const Tensor& x, const std::vector<int32_t>& key_lengths = {}) const;

  // The attention weights this layer applies to x [B, T, C], for inspection (no gradient):
  // [B, H, T, T] with rows summing to 1; for linear attention the implied normalised
  // phi(q) phi(k)^T; for Linformer [B, H, T, k] over the k projected keys.
  Tensor weights(const Tensor& x) const;
  const AttentionVariant& variant() const { return *variant_; }

  // One token x [1, 1, C] at position cache.length (causal variants).
  bool supports_step() const { return variant_->has_step(); }
  Tensor step(const Tensor& x, AttentionCache& cache) const;
  AttentionCache new_cache() const;
  const AttentionSpec& spec() const { return spec_; }

  Linear c_attn, c_proj;

 private:
  void check_length(int64_t T) const;
  AttentionSpec spec_;
  int64_t n_head_, context_;
  std::unique_ptr<AttentionVariant> variant_;
};

}  // namespace attn
