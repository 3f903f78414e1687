// The Synthesizer's attention (Tay et al. 2020): out = softmax(mask(logits)) V, where the
// logits come from anything but query-key dot products: a per-token MLP (Dense), a learned or
// fixed matrix (Random), their factorized forms, or a mixture with dot products. The logits'
// producers are composed from engine ops in nn/; this operator is the shared fused tail.
//   logits [B, H, T, T] (per example) or [1, H, T, T] (shared by the batch, e.g. Random),
//   v [B, H, T, D] -> out [B, H, T, D]
#pragma once
#include "engine/tensor.h"

namespace attn {

Tensor synthetic_attention(const Tensor& logits, const Tensor& v, bool causal);

}  // namespace attn
