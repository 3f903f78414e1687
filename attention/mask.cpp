#include "attention/mask.h"

#include <cmath>

namespace attn {

Tensor attention_mask(int64_t B, int64_t H, int64_t Tq, int64_t Tk, bool causal,
                      const std::vector<int32_t>& key_lengths) {
  Tensor mask = Tensor::zeros({B, H, Tq, Tk});
  float* m = mask.data();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t j = 0; j < Tk; ++j) {
          const bool padded = !key_lengths.empty() && j >= key_lengths[b];
          if ((causal && j > i) || padded) m[((b * H + h) * Tq + i) * Tk + j] = -INFINITY;
        }
  return mask;
}

}  // namespace attn
