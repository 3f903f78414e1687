// The matrix products the engine's gemm is checked and measured against: an obviously-correct
// triple loop (tests) and oneDNN's plain sgemm (the matmul benchmark's peer).
#pragma once
#include <cstdint>

#include "engine/gemm.h"

namespace attn {

// The obviously-correct triple loop with the same contract as gemm().
void gemm_reference(const GemmShape& shape, const float* A, const float* B, float* C,
                    const float* bias = nullptr);

// oneDNN's plain sgemm (row-major, one matrix).
void sgemm_direct(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc);

}  // namespace attn
