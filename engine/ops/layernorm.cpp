// LAYERNORM over the last dim C, fused. Saves mean and rstd per row.
//   forward:  xhat = (x - mean) rstd,  rstd = 1 / sqrt(var + eps),  y = xhat W + B
//   backward: g = dY W;  dX += rstd (g - mean(g) - xhat mean(g xhat))
//             dW += sum over rows of dY xhat;  dB += sum over rows of dY
#include <cmath>

#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/tape.h"

namespace attn {
namespace {

struct LayernormSaved : Saved {
  Tensor x, weight, mean, rstd;  // mean and rstd [rows]
  size_t bytes() const override { return tensor_bytes({&x, &weight, &mean, &rstd}); }
};

void layernorm_backward(Node& node) {
  const auto& saved = node.state<LayernormSaved>();
  const Tensor& x = saved.x;
  const int64_t C = x.size(-1), rows = x.numel() / C;
  const float* xp = x.data();
  const float* w = saved.weight.data();
  const float* dy = node.grad_out();
  const float* mean = saved.mean.data();
  const float* rstd = saved.rstd.data();
  if (node.needs_grad(0)) {
    float* dx = node.grad_in(0);
#pragma omp parallel for if (rows * C > kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const float *xr = xp + r * C, *dyr = dy + r * C;
      const float m = mean[r], s = rstd[r];
      float g_mean = 0.0f, gx_mean = 0.0f;
#pragma omp simd reduction(+ : g_mean, gx_mean)
      for (int64_t c = 0; c < C; ++c) {
        const float g = dyr[c] * w[c];
        g_mean += g;
        gx_mean += g * (xr[c] - m) * s;
      }
      g_mean /= C;
      gx_mean /= C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        const float xhat = (xr[c] - m) * s;
        dx[r * C + c] += s * (dyr[c] * w[c] - g_mean - xhat * gx_mean);
      }
    }
  }
  const bool dw = node.needs_grad(1), db = node.needs_grad(2);
  if (!dw && !db) return;
  float* gw = dw ? node.grad_in(1) : nullptr;
  float* gb = db ? node.grad_in(2) : nullptr;
  // Column sums: each thread takes a block of columns and walks every row.
#pragma omp parallel for if (rows * C > kParallelMin)
  for (int64_t c0 = 0; c0 < C; c0 += 16) {
    const int64_t c1 = std::min(C, c0 + 16);
    float sw[16] = {0}, sb[16] = {0};
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = c0; c < c1; ++c) {
        const float d = dy[r * C + c];
        sw[c - c0] += d * (xp[r * C + c] - mean[r]) * rstd[r];
        sb[c - c0] += d;
      }
    for (int64_t c = c0; c < c1; ++c) {
      if (gw) gw[c] += sw[c - c0];
      if (gb) gb[c] += sb[c - c0];
    }
  }
}

}  // namespace

Tensor layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  check_defined("layernorm", x);
  check_defined("layernorm", weight);
  check_defined("layernorm", bias);
  if (x.dim() == 0) arg_error("layernorm", "needs at least one dim, got a scalar");
  const int64_t C = x.size(-1);
  if (weight.shape() != Shape{C})
    shape_error("layernorm", x.shape(), weight.shape(), "do not match (weight must be [C])");
  if (bias.shape() != Shape{C})
    shape_error("layernorm", x.shape(), bias.shape(), "do not match (bias must be [C])");
  const int64_t rows = C == 0 ? 0 : x.numel() / C;
  Tensor out = Tensor::empty(x.shape());
  Tensor mean = Tensor::empty({rows}), rstd = Tensor::empty({rows});
  const float *xp = x.data(), *w = weight.data(), *b = bias.data();
  float *y = out.data(), *mp = mean.data(), *sp = rstd.data();
#pragma omp parallel for if (rows * C > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * C;
    float total = 0.0f;
#pragma omp simd reduction(+ : total)
    for (int64_t c = 0; c < C; ++c) total += xr[c];
    const float m = total / C;
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int64_t c = 0; c < C; ++c) var += (xr[c] - m) * (xr[c] - m);
    const float s = 1.0f / std::sqrt(var / C + eps);
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y[r * C + c] = (xr[c] - m) * s * w[c] + b[c];
    mp[r] = m;
    sp[r] = s;
  }
  if (Node* node = record(Op::LAYERNORM, layernorm_backward, out, {x, weight, bias})) {
    auto& s = node->save<LayernormSaved>();
    s.x = x, s.weight = weight, s.mean = mean, s.rstd = rstd;
  }
  return out;
}

}  // namespace attn
