// Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs"), feature map
// phi(x) = elu(x) + 1. q, k [B, H, T, D], v [B, H, T, M] -> out [B, H, T, M]:
//   out_i = phi(q_i)^T S_i / (phi(q_i)^T z_i + eps)
// with S_i = sum_j phi(k_j) v_j^T and z_i = sum_j phi(k_j) over all j (non-causal, eq. 5-6)
// or over j <= i (causal, eqs. 9-12). Cost O(T D M) instead of O(T^2 D).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace attn {

struct LinearAttentionOptions {
  bool causal = false;
  int64_t chunk = 64;   // causal: rows per chunk (matmuls inside, running state across)
  float eps = 1e-6f;
  // Matrix products from bf16 copies of their operands, accumulated in float32 (the running
  // states, normalisers and every sum stay float32). linear_attention() turns it on in bf16
  // precision (engine/bf16.h); raw kernels: the caller must have checked that the CPU
  // multiplies bf16.
  bool bf16 = false;
};

Tensor linear_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                        const LinearAttentionOptions& options = {});

// The recurrent form for generation (eq. 18-20): one token per call, constant cost.
// state: S [H, D, M] and z [H, D], zero at the start; q, k [H, D], v [H, M] -> out [H, M].
struct LinearAttentionState {
  Tensor S, z;
  static LinearAttentionState zeros(int64_t H, int64_t D, int64_t M);
};
void linear_attention_step(float* out, const float* q, const float* k, const float* v,
                           LinearAttentionState& state, float eps = 1e-6f);

// Raw kernels. den [B, H, T] receives phi(q_i)^T z_i + eps, saved for the backward pass.
struct LinearDims {
  int64_t B, H, T, D, M;
};
void linear_attention_forward(float* out, float* den, const float* q, const float* k,
                              const float* v, const LinearDims& dims,
                              const LinearAttentionOptions& options);
// Accumulates into dq, dk, dv (null to skip).
void linear_attention_backward(float* dq, float* dk, float* dv, const float* d_out,
                               const float* out, const float* den, const float* q,
                               const float* k, const float* v, const LinearDims& dims,
                               const LinearAttentionOptions& options);

}  // namespace attn
