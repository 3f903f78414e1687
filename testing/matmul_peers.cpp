#include "testing/matmul_peers.h"

#include <oneapi/dnnl/dnnl.hpp>

namespace attn {

void gemm_reference(const GemmShape& shape, const float* A, const float* B, float* C,
                    const float* bias) {
  GemmShape s = shape;
  if (s.lda == 0) s.lda = s.trans_a ? s.M : s.K;
  if (s.ldb == 0) s.ldb = s.trans_b ? s.K : s.N;
  if (s.ldc == 0) s.ldc = s.N;
  if (s.stride_a < 0) s.stride_a = s.M * s.K;
  if (s.stride_b < 0) s.stride_b = s.K * s.N;
  if (s.stride_c < 0) s.stride_c = s.M * s.N;
  for (int64_t b = 0; b < s.batch; ++b) {
    const float* a = A + b * s.stride_a;
    const float* w = B + b * s.stride_b;
    float* c = C + b * s.stride_c;
    for (int64_t i = 0; i < s.M; ++i)
      for (int64_t j = 0; j < s.N; ++j) {
        double total = 0.0;
        for (int64_t k = 0; k < s.K; ++k) {
          const float x = s.trans_a ? a[k * s.lda + i] : a[i * s.lda + k];
          const float y = s.trans_b ? w[j * s.ldb + k] : w[k * s.ldb + j];
          total += static_cast<double>(x) * y;
        }
        const float value = s.alpha * static_cast<float>(total) + (bias ? bias[j] : 0.0f);
        c[i * s.ldc + j] = s.accumulate ? c[i * s.ldc + j] + value : value;
      }
  }
}

void sgemm_direct(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc) {
  dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C,
             ldc);
}

}  // namespace attn
