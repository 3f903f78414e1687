#include "nn/attention_variant.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/ops.h"

namespace attn {

AttentionCache AttentionVariant::new_cache(int64_t D) const {
  AttentionCache cache;
  cache.k = Tensor::zeros({H_, L_, D});
  cache.v = Tensor::zeros({H_, L_, D});
  return cache;
}

Tensor AttentionVariant::step(const Tensor&, const Tensor&, AttentionCache&) const {
  throw std::logic_error("this attention variant has no single-step form");
}

std::vector<Tensor> split_heads(const Tensor& qkv, int64_t H, int n) {
  const int64_t B = qkv.size(0), T = qkv.size(1), D = qkv.size(2) / (n * H);
  Tensor heads = permute(reshape(qkv, {B, T, n * H, D}), {0, 2, 1, 3});
  if (n == 1) return {heads};
  return split(heads, 1, std::vector<int64_t>(n, H));
}

Tensor merge_heads(const Tensor& y) {
  return reshape(permute(y, {0, 2, 1, 3}), {y.size(0), y.size(2), y.size(1) * y.size(3)});
}

Tensor key_mask(const std::vector<int32_t>& key_lengths, const Shape& v_shape) {
  const int64_t B = v_shape[0], H = v_shape[1], T = v_shape[2], D = v_shape[3];
  Tensor mask = Tensor::ones(v_shape);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = key_lengths[b]; t < T; ++t)
        std::fill_n(mask.data() + ((b * H + h) * T + t) * D, D, 0.0f);
  return mask;
}

void cache_keys_and_values(const float* k, const float* v, int64_t D, AttentionCache& cache) {
  const int64_t H = cache.v.size(0), L = cache.v.size(1);
  if (cache.length >= L)
    throw std::out_of_range("attention step: the cache holds " + std::to_string(L) +
                            " positions and is full");
  for (int64_t h = 0; h < H; ++h)
    for (int64_t d = 0; d < D; ++d) {
      if (k) cache.k.data()[(h * L + cache.length) * D + d] = k[h * D + d];
      cache.v.data()[(h * L + cache.length) * D + d] = v[h * D + d];
    }
}

void attend_cached_values(float* logits, const AttentionCache& cache, int64_t D, float* y) {
  const int64_t H = cache.v.size(0), L = cache.v.size(1), n = cache.length + 1;
  for (int64_t h = 0; h < H; ++h) {
    float* l = logits + h * n;
    const float mx = *std::max_element(l, l + n);
    double total = 0;
    for (int64_t j = 0; j < n; ++j) total += (l[j] = std::exp(l[j] - mx));
    std::fill_n(y + h * D, D, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const float p = static_cast<float>(l[j] / total);
      const float* vj = cache.v.data() + (h * L + j) * D;
      for (int64_t d = 0; d < D; ++d) y[h * D + d] += p * vj[d];
    }
  }
}

}  // namespace attn
