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
  // Tile products from bf16 copies of q, k, v (and dO) and of each P and dS tile, accumulated
  // in float32; the softmax statistics (m, l, lse, Delta) and the outputs stay float32. The
  // autograd entries below turn it on in bf16 precision (engine/bf16.h). Raw kernels: the
  // caller must have checked that the CPU multiplies bf16.
  bool bf16 = false;
  // Tile sizes (query rows x key rows), chosen with bench/attention.cpp on AVX-512 and 2
  // cores: larger key tiles amortise each small gemm's fixed cost; the S and P tiles stay in
  // L2. Tests set tiny tiles so that small shapes cross many tiles.
  struct Tiles {
    int64_t fwd_q = 128, fwd_k = 512, bwd_q = 128, bwd_k = 256;
  } tiles;
};

Tensor softmax_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                         const SoftmaxAttentionOptions& options = {});

// Self-attention straight from the fused projection: qkv [B, T, 3C] (q, k, v heads side by
// side, as a [C, 3C] projection makes them) -> out [B, T, C] with the heads merged. Same
// math as softmax_attention on the split heads, without the permute and split copies (and
// their gradients).
Tensor softmax_self_attention_packed(const Tensor& qkv, int64_t heads,
                                     const SoftmaxAttentionOptions& options = {});

// Raw kernels (no autograd), for the operators, the benchmarks and `attn op`.
struct AttentionDims {
  int64_t B, H, Tq, Tk, D;
};
// Where element (b, h, t, d) of a [B, H, T, D] view lives: b*batch + h*head + t*row + d.
struct HeadLayout {
  int64_t batch, head, row;
  static HeadLayout contiguous(int64_t H, int64_t T, int64_t D) { return {H * T * D, T * D, D}; }
};
struct AttentionLayouts {
  HeadLayout q, k, v, out;  // gradients share their tensor's layout; lse is [B, H, Tq]
  static AttentionLayouts contiguous(const AttentionDims& d);
};
// lse receives the log-sum-exp of each query's scaled scores.
void softmax_attention_forward(float* out, float* lse, const float* q, const float* k,
                               const float* v, const AttentionDims& dims,
                               const AttentionLayouts& layouts,
                               const SoftmaxAttentionOptions& options);
// Accumulates into dq, dk, dv (each may be null to skip it).
void softmax_attention_backward(float* dq, float* dk, float* dv, const float* d_out,
                                const float* out, const float* lse, const float* q,
                                const float* k, const float* v, const AttentionDims& dims,
                                const AttentionLayouts& layouts,
                                const SoftmaxAttentionOptions& options);

}  // namespace attn
