// Linformer's sequence projection (Wang et al. 2020, eq. 7): K' = E K along the sequence axis,
// so attention runs over Kp projected rows instead of T keys. The gradients (dE = dK' K^T,
// dK = E^T dK') come from the matmul it is built on.
#pragma once
#include "engine/tensor.h"

namespace attn {

// x [B, H, T, D]; projection [Kp, L] (shared by heads) or [H, Kp, L] (per head) with L >= T,
// of which the first T columns are used. Returns [B, H, Kp, D].
Tensor linformer_project(const Tensor& projection, const Tensor& x);

}  // namespace attn
