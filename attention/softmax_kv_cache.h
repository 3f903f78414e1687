// One generation step of softmax attention against a key/value cache: the new token's query
// attends to the `length` cached keys (its own included), so the prefix is never recomputed.
#pragma once
#include <cstdint>

namespace attn {

// out [H, D] = softmax(q k^T / sqrt(D)) v per head; q [H, D] (stride D), caches [H, L, D].
void softmax_attention_step(float* out, const float* q, const float* k_cache,
                            const float* v_cache, int64_t H, int64_t D, int64_t L,
                            int64_t length);

}  // namespace attn
