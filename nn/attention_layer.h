// AttentionLayer: the input projection (q, k, v side by side in one [C, 3C] matrix, as GPT-2;
// only v for the pure Synthesizer variants), the chosen attention variant with its own
// parameters, and the output projection. The variant comes from a spec string (see
// nn/attention_spec.h): "softmax", "linear", "linformer:k=64", "synth-random", ...
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "attention/linear_attention.h"
#include "nn/attention_spec.h"
#include "nn/config.h"
#include "nn/layers.h"

namespace attn {

// What one layer remembers between generation steps: keys and values for softmax attention,
// the RNN state for linear attention.
struct AttentionCache {
  Tensor k, v;  // [H, L, D]
  LinearAttentionState linear;
  int64_t length = 0;
};

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

  // One token x [1, 1, C] at position cache.length (softmax and linear variants only).
  bool supports_step() const { return spec_.name == "softmax" || spec_.name == "linear"; }
  Tensor step(const Tensor& x, AttentionCache& cache) const;
  AttentionCache new_cache() const;
  const AttentionSpec& spec() const { return spec_; }

  Linear c_attn, c_proj;
  // Variant parameters (undefined when the variant has none of them).
  Tensor proj_e, proj_f;           // Linformer E, F
  Tensor synth_r, synth_r2;        // Random R (or R1, R2 factors)
  Tensor mix_logit;                // mixtures: s = sigmoid(mix_logit)
  std::unique_ptr<Linear> dense_1, dense_2, dense_b;  // Dense MLP / factorized Dense

 private:
  Tensor synthesizer_logits(const Tensor& x, int64_t T) const;  // [B or 1, H, T, T]
  AttentionSpec spec_;
  int64_t n_head_, context_;
  bool causal_;
  const Tensor* layerwise_projection_;
  Tensor tile_a_, repeat_b_;  // factorized Dense expansion matrices (constants)
};

}  // namespace attn
