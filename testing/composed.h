// Composed twins of the fused attention operators: the same math written with basic engine
// ops (matmul, softmax, ...), so autograd derives their gradients independently. Tests check
// each fused operator against its twin, forward and backward. Slow and memory-hungry on
// purpose (they materialise T x T). Test and benchmark support, never used by the layers.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/ops.h"
#include "engine/tensor.h"

namespace attn {

// softmax(q k^T scale + mask) v
Tensor softmax_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                                  const std::vector<int32_t>& key_lengths = {},
                                  float scale = 0.0f);

// phi(q) phi(k)^T (masked to j <= i when causal) v, normalised by the masked row sums + eps,
// with phi = elu + 1: linear attention written the quadratic way.
Tensor linear_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                                 float eps = 1e-6f);

// softmax(mask((1 - a) q k^T / sqrt(D) + a S)) v, S [B or 1, H, T, T], a [1].
Tensor mixture_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& S, const Tensor& a, bool causal,
                                  const std::vector<int32_t>& key_lengths = {});

// softmax(logits + mask) v with logits [B or 1, H, T, T] (broadcast over the batch).
Tensor synthetic_attention_composed(const Tensor& logits, const Tensor& v, bool causal);

}  // namespace attn
