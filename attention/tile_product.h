// The tile products of the fused attention kernels, in float32 or from bf16 copies.
//
// A kernel that multiplies in bf16 (SoftmaxAttentionOptions::bf16) rounds the rows of q, k, v
// (and dO) it works on into per-thread bf16 buffers when its task starts, and each P or dS tile
// once after computing it in float32; the products accumulate in float32 (oneDNN's bf16
// matmul), and every softmax statistic stays float32. Each rounding is off by at most 2^-8
// relative. Rounding per task rather than whole tensors up front reads each row from memory
// once, as the float32 products would, instead of an extra pass over q, k and v.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/bf16.h"
#include "engine/gemm.h"

namespace attn {

// One operand of a tile product: rows of float32 (stride ld) and, in bf16, the same rows
// rounded (stride ld16); b16 is null in float32.
struct TileOperand {
  const float* f32;
  int64_t ld;
  const bf16* b16 = nullptr;
  int64_t ld16 = 0;
  TileOperand row(int64_t r) const { return {f32 + r * ld, ld, b16 ? b16 + r * ld16 : nullptr, ld16}; }
};

// C (ldc) (+)= alpha op(A) op(B), M x N x K: from the bf16 rows when A has them, else float32.
inline void tile_product(int64_t M, int64_t N, int64_t K, const TileOperand& A, bool ta,
                         const TileOperand& B, bool tb, float* C, int64_t ldc, float alpha,
                         bool accumulate) {
  GemmShape s;
  s.M = M, s.N = N, s.K = K, s.trans_a = ta, s.trans_b = tb;
  s.ldc = ldc, s.alpha = alpha, s.accumulate = accumulate;
  if (A.b16) {
    s.lda = A.ld16, s.ldb = B.ld16;
    gemm_bf16(s, A.b16, B.b16, C);
  } else {
    s.lda = A.ld, s.ldb = B.ld;
    gemm(s, A.f32, B.f32, C);
  }
}

// rows x cols of float32 (row stride ld) rounded into `out` (row stride ld_out).
inline void round_rows(const float* x, int64_t ld, bf16* out, int64_t ld_out, int64_t rows,
                       int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) to_bf16_serial(x + r * ld, out + r * ld_out, cols);
}

// `rows` rows of D floats (stride ld) as a TileOperand: in bf16, rounded into `buffer`
// (resized as needed, rows packed with stride D); in float32, the rows themselves.
inline TileOperand tile_operand(const float* x, int64_t ld, int64_t rows, int64_t D, bool half,
                                std::vector<bf16>& buffer) {
  if (!half) return {x, ld};
  if (static_cast<int64_t>(buffer.size()) < rows * D) buffer.resize(rows * D);
  round_rows(x, ld, buffer.data(), D, rows, D);
  return {x, ld, buffer.data(), D};
}

}  // namespace attn
