// add, sub, mul, div with trailing-suffix broadcasting.
//
// The result has the larger operand's shape; the smaller operand (shape a trailing suffix of
// the larger's, or one element) repeats every `n_small` elements. In the backward pass the
// smaller operand's gradient sums over those repeats.
#include <algorithm>

#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/tape.h"

namespace attn {
namespace {

bool is_suffix(const Shape& small, const Shape& big) {
  size_t skip = 0;  // leading ones in `small` repeat nothing
  while (skip < small.size() && small[skip] == 1) ++skip;
  const size_t len = small.size() - skip;
  return len <= big.size() && std::equal(small.begin() + skip, small.end(), big.end() - len);
}

// The output shape, or an error naming the op and both shapes.
Shape broadcast_shape(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b);
  if (a.shape() == b.shape()) return a.shape();
  if (b.numel() == 1 || (a.numel() >= b.numel() && is_suffix(b.shape(), a.shape())))
    return a.shape();
  if (a.numel() == 1 || is_suffix(a.shape(), b.shape())) return b.shape();
  shape_error(op, a.shape(), b.shape(),
              "cannot be broadcast (one must be a trailing part of the other, or one element)");
}

// out[i] = f(a[i % na], b[i % nb]) for i < n, where na and nb divide n.
template <class F>
void binary_forward(float* out, const float* a, int64_t na, const float* b, int64_t nb,
                    int64_t n, F f) {
  if (na == n && nb == n) {
#pragma omp parallel for simd if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (na == n) {
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t r = 0; r < n / nb; ++r) {
#pragma omp simd
      for (int64_t j = 0; j < nb; ++j) out[r * nb + j] = f(a[r * nb + j], b[j]);
    }
  } else {
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t r = 0; r < n / na; ++r) {
#pragma omp simd
      for (int64_t j = 0; j < na; ++j) out[r * na + j] = f(a[j], b[r * na + j]);
    }
  }
}

// dA[i % ng] += g(i) for i < n, into input k's gradient: plain accumulation when ng == n,
// else a sum over the n / ng repeats, walking blocks of columns row by row so the inner loop
// vectorises. The first contribution to the gradient writes instead (no zero fill, no read
// of zeros); add(x, x) still gets both, since its second input's slot is then not fresh.
template <class G>
void accumulate_reduced(Node& node, int k, int64_t n, G g) {
  const int64_t ng = node.in[k].numel();
  bool fresh = false;
  float* grad = node.grad_in_for_overwrite(k, &fresh);
  if (ng == n) {
    if (fresh) {
#pragma omp parallel for simd if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) grad[i] = g(i);
    } else {
#pragma omp parallel for simd if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) grad[i] += g(i);
    }
    return;
  }
  const int64_t repeats = n / ng;
  constexpr int64_t kBlock = 256;
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t j0 = 0; j0 < ng; j0 += kBlock) {
    const int64_t width = std::min(kBlock, ng - j0);
    float partial[kBlock] = {0};
    for (int64_t r = 0; r < repeats; ++r) {
      const int64_t base = r * ng + j0;
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) partial[j] += g(base + j);
    }
    for (int64_t j = 0; j < width; ++j) grad[j0 + j] = (fresh ? 0.0f : grad[j0 + j]) + partial[j];
  }
}

// MUL and DIV: the operands their gradients read, and only those (dA reads b; dB reads a,
// and b for DIV). ADD and SUB save nothing.
struct OperandsSaved : Saved {
  Tensor a, b;
  size_t bytes() const override { return tensor_bytes({&a, &b}); }
};

template <class F>
Tensor binary(Op op, const char* name, const Tensor& a, const Tensor& b, BackwardFn bwd, F f) {
  Tensor out = Tensor::empty(broadcast_shape(name, a, b));
  binary_forward(out.data(), a.data(), a.numel(), b.data(), b.numel(), out.numel(), f);
  Node* node = record(op, bwd, out, {a, b});
  if (node && (op == Op::MUL || op == Op::DIV)) {
    OperandsSaved& s = node->save<OperandsSaved>();
    if (node->needs_grad(1)) s.a = a;
    if (node->needs_grad(0) || op == Op::DIV) s.b = b;
  }
  return out;
}

// Backward of each op: dY is node.grad_out(), indexed over the output's n elements.
void add_backward(Node& node) {
  const float* dy = node.grad_out();
  const int64_t n = node.out.numel();
  for (int k = 0; k < 2; ++k)
    if (node.needs_grad(k))
      accumulate_reduced(node, k, n, [=](int64_t i) { return dy[i]; });
}

void sub_backward(Node& node) {
  const float* dy = node.grad_out();
  const int64_t n = node.out.numel();
  if (node.needs_grad(0))
    accumulate_reduced(node, 0, n, [=](int64_t i) { return dy[i]; });
  if (node.needs_grad(1))
    accumulate_reduced(node, 1, n, [=](int64_t i) { return -dy[i]; });
}

void mul_backward(Node& node) {
  const float* dy = node.grad_out();
  const int64_t n = node.out.numel();
  const auto& s = node.state<OperandsSaved>();
  const float* a = s.a.defined() ? s.a.data() : nullptr;
  const float* b = s.b.defined() ? s.b.data() : nullptr;
  const int64_t na = node.in[0].numel(), nb = node.in[1].numel();
  if (node.needs_grad(0))
    accumulate_reduced(node, 0, n, [=](int64_t i) { return dy[i] * b[i % nb]; });
  if (node.needs_grad(1))
    accumulate_reduced(node, 1, n, [=](int64_t i) { return dy[i] * a[i % na]; });
}

void div_backward(Node& node) {
  const float* dy = node.grad_out();
  const int64_t n = node.out.numel();
  const auto& s = node.state<OperandsSaved>();
  const float* a = s.a.defined() ? s.a.data() : nullptr;
  const float* b = s.b.data();
  const int64_t na = node.in[0].numel(), nb = node.in[1].numel();
  if (node.needs_grad(0))
    accumulate_reduced(node, 0, n, [=](int64_t i) { return dy[i] / b[i % nb]; });
  if (node.needs_grad(1))
    accumulate_reduced(node, 1, n, [=](int64_t i) {
      const float bi = b[i % nb];
      return -dy[i] * a[i % na] / (bi * bi);
    });
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(Op::ADD, "add", a, b, add_backward, [](float x, float y) { return x + y; });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(Op::SUB, "sub", a, b, sub_backward, [](float x, float y) { return x - y; });
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(Op::MUL, "mul", a, b, mul_backward, [](float x, float y) { return x * y; });
}
Tensor div(const Tensor& a, const Tensor& b) {
  return binary(Op::DIV, "div", a, b, div_backward, [](float x, float y) { return x / y; });
}

}  // namespace attn
