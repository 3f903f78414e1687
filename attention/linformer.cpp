#include "attention/linformer.h"

#include "engine/check.h"
#include "engine/ops.h"

namespace attn {

Tensor linformer_project(const Tensor& projection, const Tensor& x) {
  const char* op = "linformer_project";
  check_defined(op, projection), check_defined(op, x);
  if (x.dim() != 4) arg_error(op, "x must be [B, H, T, D], got " + to_string(x.shape()));
  const int64_t B = x.size(0), H = x.size(1), T = x.size(2), D = x.size(3);
  const bool per_head = projection.dim() == 3;
  if ((projection.dim() != 2 && !per_head) || (per_head && projection.size(0) != H) ||
      projection.size(-1) < T)
    shape_error(op, projection.shape(), x.shape(),
                "do not match: the projection must be [Kp, L] or [H, Kp, L] with L >= T");
  const int64_t Kp = projection.size(-2);
  Tensor P = slice(projection, projection.dim() - 1, 0, T);
  if (!per_head) {  // [B, H, T, D] -> [T, B H D]; [Kp, T] x [T, B H D] -> [Kp, B, H, D]
    Tensor flat = reshape(permute(x, {2, 0, 1, 3}), {T, B * H * D});
    return permute(reshape(matmul(P, flat), {Kp, B, H, D}), {1, 2, 0, 3});
  }
  // Per head: [B, H, T, D] -> [H, T, B D]; [H, Kp, T] x [H, T, B D] -> [H, Kp, B, D]
  Tensor flat = reshape(permute(x, {1, 2, 0, 3}), {H, T, B * D});
  return permute(reshape(matmul(P, flat), {H, Kp, B, D}), {2, 0, 1, 3});
}

}  // namespace attn
