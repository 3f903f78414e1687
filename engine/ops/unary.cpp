// Elementwise functions of one tensor. Each saves the minimum for its backward: the output
// where the derivative is a function of it (exp, sqrt, relu, elu, sigmoid, tanh), the input
// otherwise (log, gelu), nothing for scale and neg; the saved tensor is UnarySaved::kept.
#include <cmath>

#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/simd_math.h"
#include "engine/tape.h"

namespace attn {
namespace {

enum class Keep { kNothing, kInput, kOutput };

struct UnarySaved : Saved {
  Tensor kept;    // the input or the output, as the op's derivative needs
  float arg = 0;  // scale's factor
  size_t bytes() const override { return tensor_bytes({&kept}); }
};

// y = f(x) elementwise, recorded with `bwd`, keeping what `keep` says for the backward.
template <class F>
Tensor unary(Op op, const char* name, const Tensor& x, BackwardFn bwd, Keep keep, F f,
             float arg = 0) {
  check_defined(name, x);
  Tensor out = Tensor::empty(x.shape());
  const float* in = x.data();
  float* y = out.data();
  const int64_t n = x.numel();
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = f(in[i]);
  if (Node* node = record(op, bwd, out, {x})) {
    auto& s = node->save<UnarySaved>();
    s.arg = arg;
    if (keep != Keep::kNothing) s.kept = keep == Keep::kInput ? x : out;
  }
  return out;
}

// dX += g(i) * dY for every element (the pattern of every backward here); the first
// contribution to dX writes instead (no zero fill, no read of zeros).
template <class G>
void accumulate(Node& node, G local_derivative) {
  if (!node.needs_grad(0)) return;
  const float* dy = node.grad_out();
  bool fresh = false;
  float* dx = node.grad_in_for_overwrite(0, &fresh);
  const int64_t n = node.out.numel();
  if (fresh) {
#pragma omp parallel for simd if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * local_derivative(i);
  } else {
#pragma omp parallel for simd if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) dx[i] += dy[i] * local_derivative(i);
  }
}

// GELU, tanh form: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3). Computed through
// 0.5 (1 + tanh u) = sigmoid(2u) = s, one exp and one division, all vectorised:
//   gelu(x) = x s,   gelu'(x) = s + x s (1 - s) 2 du/dx,   du/dx = sqrt(2/pi) (1 + 3 0.044715 x^2)
constexpr float kGeluC = 0.7978845608028654f;
inline float gelu_gate(float x) {
  const float u = kGeluC * (x + 0.044715f * x * x * x);
  return 1.0f / (1.0f + fast_exp(-2.0f * u));
}
inline float gelu_value(float x) { return x * gelu_gate(x); }
inline float gelu_derivative(float x) {
  const float s = gelu_gate(x);
  return s + x * s * (1.0f - s) * 2.0f * kGeluC * (1.0f + 0.134145f * x * x);
}

void scale_backward(Node& n) {
  const float s = n.state<UnarySaved>().arg;
  accumulate(n, [=](int64_t) { return s; });
}
void neg_backward(Node& n) { accumulate(n, [](int64_t) { return -1.0f; }); }
void exp_backward(Node& n) {
  const float* y = n.state<UnarySaved>().kept.data();
  accumulate(n, [=](int64_t i) { return y[i]; });
}
void log_backward(Node& n) {
  const float* x = n.state<UnarySaved>().kept.data();
  accumulate(n, [=](int64_t i) { return 1.0f / x[i]; });
}
void sqrt_backward(Node& n) {
  const float* y = n.state<UnarySaved>().kept.data();
  accumulate(n, [=](int64_t i) { return 0.5f / y[i]; });
}
void relu_backward(Node& n) {
  const float* y = n.state<UnarySaved>().kept.data();
  accumulate(n, [=](int64_t i) { return y[i] > 0.0f ? 1.0f : 0.0f; });
}
void gelu_backward(Node& n) {
  const float* x = n.state<UnarySaved>().kept.data();
  accumulate(n, [=](int64_t i) { return gelu_derivative(x[i]); });
}
void elu_backward(Node& n) {
  const float* y = n.state<UnarySaved>().kept.data();  // y > 0 exactly where x > 0; below, dy/dx = e^x = y + 1
  accumulate(n, [=](int64_t i) { return y[i] > 0.0f ? 1.0f : y[i] + 1.0f; });
}
void sigmoid_backward(Node& n) {
  const float* y = n.state<UnarySaved>().kept.data();
  accumulate(n, [=](int64_t i) { return y[i] * (1.0f - y[i]); });
}
void tanh_backward(Node& n) {
  const float* y = n.state<UnarySaved>().kept.data();
  accumulate(n, [=](int64_t i) { return 1.0f - y[i] * y[i]; });
}

}  // namespace

Tensor scale(const Tensor& x, float s) {
  return unary(Op::SCALE, "scale", x, scale_backward, Keep::kNothing, [=](float v) { return s * v; }, s);
}
Tensor neg(const Tensor& x) {
  return unary(Op::NEG, "neg", x, neg_backward, Keep::kNothing, [](float v) { return -v; });
}
Tensor exp(const Tensor& x) {
  return unary(Op::EXP, "exp", x, exp_backward, Keep::kOutput, [](float v) { return fast_exp(v); });
}
Tensor log(const Tensor& x) {
  return unary(Op::LOG, "log", x, log_backward, Keep::kInput, [](float v) { return std::log(v); });
}
Tensor sqrt(const Tensor& x) {
  return unary(Op::SQRT, "sqrt", x, sqrt_backward, Keep::kOutput, [](float v) { return std::sqrt(v); });
}
Tensor relu(const Tensor& x) {
  return unary(Op::RELU, "relu", x, relu_backward, Keep::kOutput, [](float v) { return v > 0.0f ? v : 0.0f; });
}
Tensor gelu(const Tensor& x) {
  return unary(Op::GELU, "gelu", x, gelu_backward, Keep::kInput, [](float v) { return gelu_value(v); });
}
Tensor elu(const Tensor& x) {
  return unary(Op::ELU, "elu", x, elu_backward, Keep::kOutput,
               [](float v) { return v > 0.0f ? v : fast_exp(v) - 1.0f; });
}
Tensor sigmoid(const Tensor& x) {
  return unary(Op::SIGMOID, "sigmoid", x, sigmoid_backward, Keep::kOutput,
               [](float v) { return 1.0f / (1.0f + fast_exp(-v)); });
}
Tensor tanh(const Tensor& x) {
  return unary(Op::TANH, "tanh", x, tanh_backward, Keep::kOutput, [](float v) { return fast_tanh(v); });
}

}  // namespace attn
