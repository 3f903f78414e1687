// Reductions: sum and mean over all elements or over the last dim; max over the last dim
// (not differentiable: used for argmax and numerics, its result requires no gradient).
// Sums accumulate in double so long reductions stay accurate.
#include <algorithm>
#include <limits>

#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/tape.h"

namespace attn {
namespace {

// Output shape of a last-dim reduction: [..., N] -> [...].
Shape without_last(const char* op, const Tensor& x) {
  check_defined(op, x);
  if (x.dim() == 0) arg_error(op, "needs at least one dim, got a scalar");
  Shape s = x.shape();
  s.pop_back();
  return s;
}

struct SumSaved : Saved {
  float factor = 1;   // 1, or 1/n for a mean
  int64_t group = 1;  // the forward summed groups of this many elements
};

void sum_backward(Node& node) {
  if (!node.needs_grad(0)) return;
  const auto& s = node.state<SumSaved>();
  const float* dy = node.grad_out();
  float* dx = node.grad_in(0);
  const float factor = s.factor;
  const int64_t group = s.group, n = node.in[0].numel();
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] += factor * dy[i / group];
}

Tensor reduce_all(Op op, const char* name, const Tensor& x, bool average) {
  check_defined(name, x);
  const int64_t n = x.numel();
  const float* p = x.data();
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) total += p[i];
  const float factor = average ? 1.0f / static_cast<float>(std::max<int64_t>(n, 1)) : 1.0f;
  Tensor out = Tensor::scalar(static_cast<float>(total * factor));
  if (Node* node = record(op, sum_backward, out, {x})) {
    auto& s = node->save<SumSaved>();
    s.factor = factor, s.group = std::max<int64_t>(n, 1);
  }
  return out;
}

Tensor reduce_last(Op op, const char* name, const Tensor& x, bool average) {
  Tensor out = Tensor::empty(without_last(name, x));
  const int64_t cols = x.size(-1), rows = out.numel();
  const float factor = average ? 1.0f / static_cast<float>(std::max<int64_t>(cols, 1)) : 1.0f;
  const float* p = x.data();
  float* y = out.data();
#pragma omp parallel for if (x.numel() > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0.0;
    for (int64_t c = 0; c < cols; ++c) total += p[r * cols + c];
    y[r] = static_cast<float>(total * factor);
  }
  if (Node* node = record(op, sum_backward, out, {x})) {
    auto& s = node->save<SumSaved>();
    s.factor = factor, s.group = std::max<int64_t>(cols, 1);
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce_all(Op::SUM, "sum", x, false); }
Tensor mean(const Tensor& x) { return reduce_all(Op::MEAN, "mean", x, true); }
Tensor sum_last(const Tensor& x) { return reduce_last(Op::SUM_LAST, "sum_last", x, false); }
Tensor mean_last(const Tensor& x) { return reduce_last(Op::MEAN_LAST, "mean_last", x, true); }

Tensor max_last(const Tensor& x) {
  Tensor out = Tensor::empty(without_last("max_last", x));
  const int64_t cols = x.size(-1), rows = out.numel();
  if (cols == 0) arg_error("max_last", "the last dim of " + to_string(x.shape()) + " is empty");
  const float* p = x.data();
  float* y = out.data();
#pragma omp parallel for if (x.numel() > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) y[r] = *std::max_element(p + r * cols, p + (r + 1) * cols);
  return out;
}

}  // namespace attn
