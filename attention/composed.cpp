#include "attention/composed.h"

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

Tensor softmax_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                                  const std::vector<int32_t>& key_lengths, float scale) {
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Tk = k.size(2), D = q.size(3);
  if (scale == 0.0f) scale = 1.0f / std::sqrt(static_cast<float>(D));
  Tensor scores = attn::scale(matmul(q, k, false, true), scale);
  Tensor p = softmax(add(scores, attention_mask(B, H, Tq, Tk, causal, key_lengths)));
  return matmul(p, v);
}

Tensor linear_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                                 float eps) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), M = v.size(3);
  const Tensor one = Tensor::scalar(1.0f);
  Tensor A = matmul(add(elu(q), one), add(elu(k), one), false, true);  // [B, H, T, T]
  if (causal) {
    Tensor lower = Tensor::zeros({T, T});
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j <= i; ++j) lower.data()[i * T + j] = 1.0f;
    A = mul(A, lower);
  }
  Tensor den = add(sum_last(A), Tensor::scalar(eps));  // [B, H, T]
  // Spread den over the M columns: [B, H, T, 1] x [1, M].
  Tensor den_wide = matmul(reshape(den, {B, H, T, 1}), Tensor::ones({1, M}));
  return div(matmul(A, v), den_wide);
}

Tensor synthetic_attention_composed(const Tensor& logits, const Tensor& v, bool causal) {
  const int64_t B = v.size(0), H = v.size(1), T = v.size(2);
  Tensor l = logits;
  if (logits.size(0) != B) {  // spread a shared [1, H, T, T] over the batch: ones [B, 1] x l
    l = reshape(matmul(Tensor::ones({B, 1}), reshape(logits, {1, H * T * T})), {B, H, T, T});
  }
  return matmul(softmax(add(l, attention_mask(B, H, T, T, causal, {}))), v);
}

}  // namespace attn
