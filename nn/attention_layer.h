// AttentionLayer: the q, k, v projections (one fused [C, 3C] matrix, as GPT-2), the chosen
// attention variant, and the output projection. The variant is picked by a spec string:
//   softmax                     scaled dot-product attention (fused, flash-style)
// (further variants register in attention_variants.cpp).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/config.h"
#include "nn/layers.h"

namespace attn {

// Keys and values of the tokens seen so far, for generation one token at a time.
struct KVCache {
  Tensor k, v;  // [H, L, D]
  int64_t length = 0;
};

class AttentionLayer : public Module {
 public:
  AttentionLayer(const ModelConfig& config, Rng& rng, float proj_std);
  // x [B, T, C] -> [B, T, C]. key_lengths (per batch) marks padding for encoders.
  Tensor forward(const Tensor& x, const std::vector<int32_t>& key_lengths = {}) const;
  // One token x [1, 1, C] at position cache.length; appends its key and value.
  Tensor step(const Tensor& x, KVCache& cache) const;
  KVCache new_cache() const;

  Linear c_attn, c_proj;

 private:
  int64_t n_head_, context_;
  bool causal_;
};

// The variant names `attn --help` lists.
std::vector<std::string> attention_variant_names();
// Throws std::invalid_argument for an unknown or malformed spec.
void validate_attention_spec(const std::string& spec, bool causal);

}  // namespace attn
