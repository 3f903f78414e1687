// Scaled dot-product (softmax) attention as one tape node, flash-style: the T x T matrix of
// scores is never stored. q [B, H, Tq, D], k and v [B, H, Tk, D] -> out [B, H, Tq, D].
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace attn {

struct SoftmaxAttentionOptions {
  bool causal = false;                // query t sees keys <= t (needs Tq == Tk)
  std::vector<int32_t> key_lengths;   // per batch: keys at >= length are padding (empty: none)
  float scale = 0.0f;                 // 0: 1 / sqrt(D)
};

Tensor softmax_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                         const SoftmaxAttentionOptions& options = {});

// Raw kernels (no autograd), for the operator, the benchmarks and `attn op`.
// lse [B, H, Tq] receives the log-sum-exp of each query's scaled scores.
struct AttentionDims {
  int64_t B, H, Tq, Tk, D;
};
void softmax_attention_forward(float* out, float* lse, const float* q, const float* k,
                               const float* v, const AttentionDims& dims,
                               const SoftmaxAttentionOptions& options);
// Accumulates into dq, dk, dv (each may be null to skip it).
void softmax_attention_backward(float* dq, float* dk, float* dv, const float* d_out,
                                const float* out, const float* lse, const float* q,
                                const float* k, const float* v, const AttentionDims& dims,
                                const SoftmaxAttentionOptions& options);

}  // namespace attn
