// Batched single-precision matrix products on raw pointers: the one place oneDNN is used.
//
//   C[b] = alpha * op(A[b]) op(B[b]) (+ bias) (+ C[b] if accumulate),   b < batch
//
// Row-major. op(X) = X^T when its trans flag is set; then X is stored as [K, M] (A) or
// [N, K] (B). Leading dims (lda, ldb, ldc) allow sub-blocks of bigger matrices; batch strides
// of 0 share one matrix across the batch. Transposes are strides handed to oneDNN, never
// copies. A oneDNN matmul primitive is built once per shape and reused (a cache per thread,
// so kernels may call gemm from inside their own OpenMP loops, where it runs sequentially).
// Which of oneDNN's implementations it uses is tuned per shape: engine/gemm_paths.h.
#pragma once
#include <cstdint>

#include "engine/gemm_paths.h"

namespace attn {

struct GemmShape {
  int64_t batch = 1, M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  int64_t lda = 0, ldb = 0, ldc = 0;                 // 0: packed (K or M, N or K, N)
  int64_t stride_a = -1, stride_b = -1, stride_c = -1;  // -1: packed; 0: shared by the batch
  float alpha = 1.0f;
  bool accumulate = false;
};

// `bias` (optional, N floats) is added to every row of C.
// The common case: `batch` packed matrices, C (+)= op(A) op(B).
inline GemmShape packed_gemm(int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b,
                             bool accumulate, int64_t batch = 1) {
  GemmShape s;
  s.batch = batch, s.M = M, s.N = N, s.K = K, s.trans_a = trans_a, s.trans_b = trans_b;
  s.accumulate = accumulate;
  return s;
}

void gemm(const GemmShape& shape, const float* A, const float* B, float* C,
          const float* bias = nullptr);

// The same with A and B in bfloat16 (engine/bf16.h), C and the bias float32: oneDNN's bf16
// matmul, accumulating in float32 (native on AVX512_BF16 and AMX CPUs).
void gemm_bf16(const GemmShape& shape, const uint16_t* A, const uint16_t* B, float* C,
               const float* bias = nullptr);

// The same products on a pinned path (kTune: as gemm() does), so that tests and benchmarks
// can compare the paths in one process. kGemm where oneDNN has no gemm-driver implementation
// of the shape runs the primitive.
void gemm_on_path(GemmPathPolicy policy, const GemmShape& shape, const float* A, const float* B,
                  float* C, const float* bias = nullptr);
void gemm_bf16_on_path(GemmPathPolicy policy, const GemmShape& shape, const uint16_t* A,
                       const uint16_t* B, float* C, const float* bias = nullptr);

}  // namespace attn
