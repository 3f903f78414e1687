// The Synthesizer's mixture with dot-product attention (Tay et al. 2020, section 3.4), fused
// into one tape node:
//   Z = (1 - a) scale Q K^T + a S,   P = softmax(mask(Z)) row-wise,   out = P V
// with a in (0, 1) (the layer passes sigmoid of a learned scalar) and S the Synthesizer's
// logits, [B, H, T, T] (Dense) or [1, H, T, T] (Random, shared by the batch). It stores P
// (the T x T per head the Synthesizer needs anyway) and keeps a reference to S (the
// backward's da needs it), besides q, k, v; no other T x T.
//   q, k, v [B, H, T, D], S [B or 1, H, T, T], a [1] -> out [B, H, T, D]
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace attn {

struct MixtureAttentionOptions {
  bool causal = false;
  std::vector<int32_t> key_lengths;  // per batch: keys at >= length are padding (empty: none)
};

Tensor mixture_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& S,
                         const Tensor& a, const MixtureAttentionOptions& options = {});

// The weights P [B, H, T, T] that mixture_attention applies to v (rows sum to 1), from the
// same kernel, without the tape: what attention maps draw.
Tensor mixture_attention_weights(const Tensor& q, const Tensor& k, const Tensor& S,
                                 const Tensor& a, const MixtureAttentionOptions& options = {});

}  // namespace attn
