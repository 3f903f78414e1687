// One row of a materialised attention matrix: dst = softmax(src) over the first `seen` keys,
// 0 for the masked rest (a row that sees no key is all 0). src may equal dst. Shared by the
// Synthesizer and mixture operators.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "engine/simd_math.h"

namespace attn {

inline void masked_softmax_row(const float* src, float* dst, int64_t seen, int64_t T) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < seen; ++j) mx = std::max(mx, src[j]);
  float total = 0.0f;
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < seen; ++j) {
    dst[j] = fast_exp(src[j] - mx);
    total += dst[j];
  }
  const float inv = total > 0.0f ? 1.0f / total : 0.0f;
  for (int64_t j = 0; j < seen; ++j) dst[j] *= inv;
  std::fill(dst + seen, dst + T, 0.0f);
}

}  // namespace attn
