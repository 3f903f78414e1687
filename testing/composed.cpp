#include "testing/composed.h"

#include "attention/mask.h"

#include <cmath>

namespace attn {

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

Tensor mixture_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& S, const Tensor& a, bool causal,
                                  const std::vector<int32_t>& key_lengths) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  Tensor dot = scale(matmul(q, k, false, true), 1.0f / std::sqrt(static_cast<float>(D)));
  // A batch-shared S broadcasts as its trailing [H, T, T].
  Tensor s = S.size(0) == 1 && B > 1 ? reshape(S, {H, T, T}) : S;
  Tensor logits = add(mul(dot, sub(Tensor::scalar(1.0f), a)), mul(s, a));
  return matmul(softmax(add(logits, attention_mask(B, H, T, T, causal, key_lengths))), v);
}

}  // namespace attn
