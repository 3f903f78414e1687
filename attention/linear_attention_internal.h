// Pieces shared by the non-causal and causal linear-attention kernels.
#pragma once
#include <algorithm>
#include <vector>

#include "attention/linear_attention.h"
#include "engine/bf16.h"
#include "engine/gemm.h"
#include "engine/simd_math.h"
#include "engine/tensor.h"

namespace attn::linear_detail {

// Working memory of one head, from the engine's caching allocator: not zero-filled unless
// asked, and no fresh pages after the first call of a size (a std::vector would zero every
// buffer and, at large T, fault in new pages on every call: half the causal backward's time
// at T = 4096 went there).
class Buffer {
 public:
  explicit Buffer(int64_t n, bool zero = false) : storage_(static_cast<size_t>(n)) {
    if (zero) std::fill_n(storage_.data, n, 0.0f);
  }
  float* data() { return storage_.data; }
  float& operator[](int64_t i) { return storage_.data[i]; }

 private:
  Storage storage_;
};

// phi(x) = elu(x) + 1 = x + 1 for x > 0, e^x otherwise; phi'(x) = 1 or e^x = phi(x).
inline float phi(float x) { return x > 0.0f ? x + 1.0f : fast_exp(x); }
inline float phi_derivative(float x, float phi_x) { return x > 0.0f ? 1.0f : phi_x; }

inline void apply_phi(float* out, const float* in, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = phi(in[i]);
}

// dX += dPhi * phi'(X) elementwise (the chain rule through the feature map).
inline void add_through_phi(float* dx, const float* d_phi, const float* x, const float* phi_x,
                            int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] += d_phi[i] * phi_derivative(x[i], phi_x[i]);
}

// C[b] (+)= op(A[b]) op(B[b]), b < batch, matrices `stride_*` floats apart. In float32, or
// (half: LinearAttentionOptions::bf16) from bf16 copies of A and B rounded here: oneDNN's
// bf16 matmul, accumulating in float32; each rounding is off by at most 2^-8 relative.
// Rounding at each product costs ~3% of a 64 x 64 x 64 one.
inline void mm_batched(float* C, const float* A, const float* B, int64_t batch, int64_t M,
                       int64_t N, int64_t K, bool ta, bool tb, bool accumulate,
                       int64_t stride_a, int64_t stride_b, int64_t stride_c, bool half) {
  GemmShape s = packed_gemm(M, N, K, ta, tb, accumulate, batch);
  s.stride_a = stride_a, s.stride_b = stride_b, s.stride_c = stride_c;
  if (!half) return gemm(s, A, B, C);
  // From the caching allocator: no fresh pages after the first call of a size, and counted
  // in the peak-memory figures.
  const int64_t na = (batch - 1) * stride_a + M * K, nb = (batch - 1) * stride_b + K * N;
  Bf16Buffer a16(na), b16(nb);
  to_bf16_serial(A, a16.data(), na);
  to_bf16_serial(B, b16.data(), nb);
  gemm_bf16(s, a16.data(), b16.data(), C);
}

// C (+)= op(A) op(B) for packed row-major matrices.
inline void mm(float* C, const float* A, const float* B, int64_t M, int64_t N, int64_t K,
               bool ta, bool tb, bool accumulate, bool half) {
  mm_batched(C, A, B, 1, M, N, K, ta, tb, accumulate, M * K, K * N, M * N, half);
}

// The upstream gradient split into the numerator's and the denominator's parts:
//   out = num / den   =>   G_i = dO_i / den_i,   g_i = -(dO_i . out_i) / den_i
inline void split_gradient(float* G, float* g, const float* d_out, const float* out,
                           const float* den, int64_t T, int64_t M) {
  for (int64_t i = 0; i < T; ++i) {
    float dot = 0.0f;
    const float inv = 1.0f / den[i];
#pragma omp simd reduction(+ : dot)
    for (int64_t m = 0; m < M; ++m) {
      G[i * M + m] = d_out[i * M + m] * inv;
      dot += d_out[i * M + m] * out[i * M + m];
    }
    g[i] = -dot * inv;
  }
}

}  // namespace attn::linear_detail

namespace attn::linear_detail {

// One (batch, head) of the causal kernels (linear_attention_causal.cpp).
void causal_forward_head(float* out, float* den, const float* q, const float* k, const float* v,
                         int64_t T, int64_t D, int64_t M, const LinearAttentionOptions& o);
void causal_backward_head(float* dq, float* dk, float* dv, const float* d_out, const float* out,
                          const float* den, const float* q, const float* k, const float* v,
                          int64_t T, int64_t D, int64_t M, const LinearAttentionOptions& o);

}  // namespace attn::linear_detail
