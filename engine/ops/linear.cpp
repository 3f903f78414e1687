// LINEAR: Y = X W + b for X [..., K], W [K, N], b [N]: a Linear layer in one oneDNN call with
// the bias fused, instead of a matmul and a broadcast add (two passes over Y fewer forward,
// and no intermediate gradient buffer backward).
//   dX += dY W^T      dW += X^T dY      db += sum over rows of dY
// In bf16 precision (engine/bf16.h) the three products take bf16 copies of X, W and dY and
// accumulate in float32; the backward pass keeps X's bf16 copy instead of X.
#include <algorithm>

#include "engine/bf16.h"

#include "engine/check.h"
#include "engine/gemm.h"
#include "engine/parallel.h"
#include "engine/tape.h"

namespace attn {
namespace {

// db[j] += sum_r dy[r, j], walking blocks of columns row by row (vectorises over j).
void add_column_sums(float* db, const float* dy, int64_t rows, int64_t N) {
  constexpr int64_t kBlock = 256;
#pragma omp parallel for if (rows * N > kParallelMin)
  for (int64_t j0 = 0; j0 < N; j0 += kBlock) {
    const int64_t width = std::min(kBlock, N - j0);
    float partial[kBlock] = {0};
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = dy + r * N + j0;
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) partial[j] += row[j];
    }
    for (int64_t j = 0; j < width; ++j) db[j0 + j] += partial[j];
  }
}

// dX reads W, dW reads X: each is kept only when the other's gradient is needed.
struct LinearSaved : Saved {
  Tensor x, w;
  bool bf16 = false;
  Bf16Buffer x16;  // bf16: X rounded, instead of x
  size_t bytes() const override {
    return tensor_bytes({&x, &w}) + sizeof(bf16) * static_cast<size_t>(x16.size());
  }
};

// The weights' bf16 copy: the one registered for the model's parameters (refreshed once per
// optimizer step), or for any other W a fresh one held by `scratch`.
const bf16* bf16_weights(const Tensor& w, Bf16Buffer& scratch) {
  if (const bf16* copy = registered_bf16_weights(w.data(), w.numel())) return copy;
  scratch = Bf16Buffer::of(w.data(), w.numel());
  return scratch.data();
}

void linear_backward_bf16(Node& node, int64_t rows, int64_t K, int64_t N) {
  const auto& s = node.state<LinearSaved>();
  const Bf16Buffer dy = Bf16Buffer::of(node.grad_out(), rows * N);  // once, for both products
  if (node.needs_grad(0)) {
    Bf16Buffer scratch;
    bool fresh = false;
    float* dx = node.grad_in_for_overwrite(0, &fresh);
    gemm_bf16(packed_gemm(rows, K, N, false, true, !fresh), dy.data(), bf16_weights(s.w, scratch), dx);
  }
  if (node.needs_grad(1))
    gemm_bf16(packed_gemm(K, N, rows, true, false, true), s.x16.data(), dy.data(),
              node.grad_in(1));
}

void linear_backward(Node& node) {
  const auto& s = node.state<LinearSaved>();
  const int64_t K = node.in[1].size(0), N = node.in[1].size(1);
  const int64_t rows = node.in[0].numel() / K;
  const float* dy = node.grad_out();
  if (s.bf16) {
    linear_backward_bf16(node, rows, K, N);
  } else if (node.needs_grad(0)) {
    bool fresh = false;  // dX's first contribution overwrites: no zero fill, no read of zeros
    float* dx = node.grad_in_for_overwrite(0, &fresh);
    gemm(packed_gemm(rows, K, N, false, true, !fresh), dy, s.w.data(), dx);
  }
  if (!s.bf16 && node.needs_grad(1))
    gemm(packed_gemm(K, N, rows, true, false, true), s.x.data(), dy, node.grad_in(1));
  if (node.in.size() > 2 && node.needs_grad(2)) add_column_sums(node.grad_in(2), dy, rows, N);
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_defined("linear", x);
  check_defined("linear", w);
  if (w.dim() != 2) arg_error("linear", "weight must be [K, N], got " + to_string(w.shape()));
  if (x.dim() < 1 || x.size(-1) != w.size(0))
    shape_error("linear", x.shape(), w.shape(), "do not match: x must be [..., K] for W [K, N]");
  if (b.defined() && b.shape() != Shape{w.size(1)})
    shape_error("linear", w.shape(), b.shape(), "do not match: the bias must be [N]");
  const int64_t K = w.size(0), N = w.size(1), rows = x.numel() / std::max<int64_t>(K, 1);
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor out = Tensor::empty(out_shape);
  const GemmShape shape = packed_gemm(rows, N, K, false, false, false);
  const float* bias = b.defined() ? b.data() : nullptr;
  const bool bf16 = precision() == Precision::kBF16;
  Bf16Buffer x16, w_scratch;
  if (bf16) {
    x16 = Bf16Buffer::of(x.data(), x.numel());
    gemm_bf16(shape, x16.data(), bf16_weights(w, w_scratch), out.data(), bias);
  } else {
    gemm(shape, x.data(), w.data(), out.data(), bias);
  }
  std::vector<Tensor> inputs = {x, w};
  if (b.defined()) inputs.push_back(b);
  if (Node* node = record(Op::LINEAR, linear_backward, out, inputs)) {
    auto& s = node->save<LinearSaved>();
    s.bf16 = bf16;
    if (node->needs_grad(1) && bf16) s.x16 = std::move(x16);
    if (node->needs_grad(1) && !bf16) s.x = x;
    if (node->needs_grad(0)) s.w = w;
  }
  return out;
}

}  // namespace attn
