// The additive attention mask of the operators that materialise their T x T logits (the
// Synthesizer variants and the composed twins).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace attn {

// A constant [B, H, Tq, Tk] tensor: 0 where query i may see key j, -inf elsewhere.
Tensor attention_mask(int64_t B, int64_t H, int64_t Tq, int64_t Tk, bool causal,
                      const std::vector<int32_t>& key_lengths);

}  // namespace attn
