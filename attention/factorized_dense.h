// Factorized Dense Synthesizer logits (Tay et al. 2020, section 3.2): each token predicts
// a values A and b values B per head (b = ceil(L / a)); its row of logits over key j is
//   S[i, j] = A[i, j mod a] * B[i, j div a]        (A tiled b times, B repeated a times)
// built directly (no one-hot matrices) for the first T keys, as one tape node.
//   A [Bt, T, H, a], B [Bt, T, H, b] (b a >= T) -> S [Bt, H, T, T]
//   backward  dA[i, r] = sum over j = r (mod a) of dS[i, j] B[i, j div a]
//             dB[i, m] = sum over j in [m a, m a + a) of dS[i, j] A[i, j mod a]
#pragma once
#include "engine/tensor.h"

namespace attn {

Tensor factorized_dense_logits(const Tensor& A, const Tensor& B);

}  // namespace attn
