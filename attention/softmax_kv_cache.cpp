#include "attention/softmax_kv_cache.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace attn {

void softmax_attention_step(float* out, const float* q, const float* k_cache,
                            const float* v_cache, int64_t H, int64_t D, int64_t L,
                            int64_t length) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  std::vector<float> p(length);
  for (int64_t h = 0; h < H; ++h) {
    const float* qh = q + h * D;
    const float* K = k_cache + h * L * D;
    const float* V = v_cache + h * L * D;
    float mx = -INFINITY;
    for (int64_t j = 0; j < length; ++j) {
      float s = 0.0f;
      for (int64_t d = 0; d < D; ++d) s += qh[d] * K[j * D + d];
      p[j] = s * scale;
      mx = std::max(mx, p[j]);
    }
    float total = 0.0f;
    for (int64_t j = 0; j < length; ++j) total += (p[j] = std::exp(p[j] - mx));
    float* o = out + h * D;
    std::fill(o, o + D, 0.0f);
    for (int64_t j = 0; j < length; ++j)
      for (int64_t d = 0; d < D; ++d) o[d] += p[j] / total * V[j * D + d];
  }
}

}  // namespace attn
