// One attention variant as a unit: its parameters (a Module whose parameters the layer takes
// in under its own names), its forward from the layer's input projection, the attention
// weights it applies (for maps) and, for causal variants, its single-step generation form.
// AttentionLayer (nn/attention_layer.h) keeps only the projections and calls the variant;
// the registry (nn/attention_registry.h) makes a variant from its spec.
#pragma once
#include <cstdint>
#include <vector>

#include "attention/linear_attention.h"
#include "engine/rng.h"
#include "nn/attention_spec.h"
#include "nn/module.h"

namespace attn {

// What one layer remembers between generation steps: keys and values [H, L, D] (softmax, the
// Synthesizers and their mixtures), or the RNN state (linear attention).
struct AttentionCache {
  Tensor k, v;
  LinearAttentionState linear;
  int64_t length = 0;  // positions seen so far
};

// What a variant is built from.
struct VariantSetup {
  int64_t H, L, C;  // heads, maximum length, model width
  bool causal;
  Rng& rng;  // parameter initialisation, drawn in registration order
  const Tensor* layerwise_projection;  // model-wide Linformer projection (or null)
};

class AttentionVariant : public Module {
 public:
  explicit AttentionVariant(const VariantSetup& s) : H_(s.H), L_(s.L), causal_(s.causal) {}
  // x [B, T, C] (the layer's input) and qkv [B, T, nC] (its projection: q, k and v heads side
  // by side, or only v) -> [B, T, C] with the heads merged. key_lengths marks padding.
  virtual Tensor forward(const Tensor& x, const Tensor& qkv,
                         const std::vector<int32_t>& key_lengths) const = 0;
  // The weights the variant applies to the values, without the tape: [B, H, T, T] (Linformer:
  // [B, H, T, k] over its projected values), rows summing to 1.
  virtual Tensor weights(const Tensor& x, const Tensor& qkv) const = 0;
  // The values those weights multiply, from v [B, H, T, D] (Linformer: F v).
  virtual Tensor weighted_values(const Tensor& v) const { return v; }

  // Single-step generation: the token at position cache.length, x [1, 1, C] and qkv [1, 1, nC]
  // -> [1, 1, C]; equal to the full forward's row at that position.
  virtual bool has_step() const { return false; }
  virtual AttentionCache new_cache(int64_t D) const;  // keys and values [H, L, D]
  virtual Tensor step(const Tensor& x, const Tensor& qkv, AttentionCache& cache) const;

 protected:
  int64_t H_, L_;
  bool causal_;
};

// Helpers shared by the variants.
// [B, T, n C] -> n tensors [B, H, T, D]
std::vector<Tensor> split_heads(const Tensor& qkv, int64_t H, int n);
Tensor merge_heads(const Tensor& y);  // [B, H, T, D] -> [B, T, H D]
// 1 for real keys, 0 for padding: [B, H, T, D] shaped like v.
Tensor key_mask(const std::vector<int32_t>& key_lengths, const Shape& v_shape);
// Writes this position's k and v heads (k may be null) from a [nC] projection row into the
// cache at cache.length.
void cache_keys_and_values(const float* k, const float* v, int64_t D, AttentionCache& cache);
// y[h] = sum over j <= t of softmax(logits[h, :t+1])_j cache.v[h, j], for t = cache.length;
// logits [H, t + 1] (overwritten), y [H D].
void attend_cached_values(float* logits, const AttentionCache& cache, int64_t D, float* y);

}  // namespace attn
