// SOFTMAX and LOG_SOFTMAX over the last dim. Both save only their output y.
//   softmax:      y = e^(x - max) / sum e^(x - max)      dX = y (dY - sum(dY y))
//   log_softmax:  y = x - max - log sum e^(x - max)      dX = dY - e^y sum(dY)
#include <algorithm>
#include <cmath>

#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/simd_math.h"
#include "engine/tape.h"

namespace attn {
namespace {

// One row: writes e^(x - max) into y and returns the sum of the row.
inline float exp_shifted_row(const float* x, float* y, int64_t n) {
  float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < n; ++j) mx = std::max(mx, x[j]);
  if (mx == -INFINITY) mx = 0.0f;  // a fully masked row stays finite (all zeros / -inf)
  float total = 0.0f;
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < n; ++j) {
    y[j] = fast_exp(x[j] - mx);
    total += y[j];
  }
  return total;
}

struct SoftmaxSaved : Saved {
  Tensor y;  // the output: both gradients are functions of it
  size_t bytes() const override { return tensor_bytes({&y}); }
};

void softmax_backward(Node& node) {
  if (!node.needs_grad(0)) return;
  const float* y = node.state<SoftmaxSaved>().y.data();
  const float* dy = node.grad_out();
  float* dx = node.grad_in(0);
  const int64_t n = node.out.size(-1), rows = node.out.numel() / std::max<int64_t>(n, 1);
#pragma omp parallel for if (rows * n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float *yr = y + r * n, *dyr = dy + r * n;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < n; ++j) dot += dyr[j] * yr[j];
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) dx[r * n + j] += yr[j] * (dyr[j] - dot);
  }
}

void log_softmax_backward(Node& node) {
  if (!node.needs_grad(0)) return;
  const float* y = node.state<SoftmaxSaved>().y.data();
  const float* dy = node.grad_out();
  float* dx = node.grad_in(0);
  const int64_t n = node.out.size(-1), rows = node.out.numel() / std::max<int64_t>(n, 1);
#pragma omp parallel for if (rows * n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float *yr = y + r * n, *dyr = dy + r * n;
    float total = 0.0f;
#pragma omp simd reduction(+ : total)
    for (int64_t j = 0; j < n; ++j) total += dyr[j];
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) dx[r * n + j] += dyr[j] - fast_exp(yr[j]) * total;
  }
}

Tensor softmax_like(Op op, const char* name, const Tensor& x, bool log_form) {
  check_defined(name, x);
  if (x.dim() == 0) arg_error(name, "needs at least one dim, got a scalar");
  Tensor out = Tensor::empty(x.shape());
  const int64_t n = x.size(-1), rows = x.numel() / std::max<int64_t>(n, 1);
  const float* in = x.data();
  float* y = out.data();
#pragma omp parallel for if (rows * n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = in + r * n;
    float* yr = y + r * n;
    const float total = exp_shifted_row(xr, yr, n);
    if (log_form) {
      float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
      for (int64_t j = 0; j < n; ++j) mx = std::max(mx, xr[j]);
      const float shift = mx + std::log(total);
      for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] - shift;
    } else {
      const float inv = total > 0.0f ? 1.0f / total : 0.0f;  // fully masked row: zeros
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) yr[j] *= inv;
    }
  }
  if (Node* node = record(op, log_form ? log_softmax_backward : softmax_backward, out, {x}))
    node->save<SoftmaxSaved>().y = out;
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x) { return softmax_like(Op::SOFTMAX, "softmax", x, false); }
Tensor log_softmax(const Tensor& x) {
  return softmax_like(Op::LOG_SOFTMAX, "log_softmax", x, true);
}

}  // namespace attn
