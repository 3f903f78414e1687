#include "attention/factorized_dense.h"

#include "engine/check.h"
#include "engine/tape.h"

namespace attn {
namespace {

struct Dims {
  int64_t Bt, T, H, a, b;
};

Dims dims_of(const Tensor& A, const Tensor& B) {
  return {A.size(0), A.size(1), A.size(2), A.size(3), B.size(3)};
}

// dA reads B and dB reads A.
struct FactorizedDenseSaved : Saved {
  Tensor A, B;
  size_t bytes() const override { return tensor_bytes({&A, &B}); }
};

void factorized_dense_backward(Node& node) {
  const auto& s = node.state<FactorizedDenseSaved>();
  const Tensor &A = s.A, &B = s.B;
  const Dims d = dims_of(A, B);
  const float* dS = node.grad_out();
  float* dA = node.needs_grad(0) ? node.grad_in(0) : nullptr;
  float* dB = node.needs_grad(1) ? node.grad_in(1) : nullptr;
  const float *a = A.data(), *b = B.data();
#pragma omp parallel for collapse(2) if (d.Bt * d.H * d.T * d.T > (1 << 15))
  for (int64_t n = 0; n < d.Bt; ++n)
    for (int64_t i = 0; i < d.T; ++i)
      for (int64_t h = 0; h < d.H; ++h) {
        const int64_t row = (n * d.T + i) * d.H + h;  // [Bt, T, H] row of A and B
        const float* g = dS + ((n * d.H + h) * d.T + i) * d.T;
        const float *ar = a + row * d.a, *br = b + row * d.b;
        for (int64_t j = 0; j < d.T; ++j) {
          if (dA) dA[row * d.a + j % d.a] += g[j] * br[j / d.a];
          if (dB) dB[row * d.b + j / d.a] += g[j] * ar[j % d.a];
        }
      }
}

}  // namespace

Tensor factorized_dense_logits(const Tensor& A, const Tensor& B) {
  const char* op = "factorized_dense_logits";
  check_defined(op, A), check_defined(op, B);
  if (A.dim() != 4 || B.dim() != 4 || A.size(0) != B.size(0) || A.size(1) != B.size(1) ||
      A.size(2) != B.size(2))
    shape_error(op, A.shape(), B.shape(), "must be [Bt, T, H, a] and [Bt, T, H, b]");
  const Dims d = dims_of(A, B);
  if (d.a < 1 || d.b * d.a < d.T)
    shape_error(op, A.shape(), B.shape(), "must cover the T keys: a >= 1 and a b >= T");
  Tensor S = Tensor::empty({d.Bt, d.H, d.T, d.T});
  float* s = S.data();
  const float *a = A.data(), *b = B.data();
#pragma omp parallel for collapse(2) if (d.Bt * d.H * d.T * d.T > (1 << 15))
  for (int64_t n = 0; n < d.Bt; ++n)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t i = 0; i < d.T; ++i) {
        const int64_t row = (n * d.T + i) * d.H + h;
        const float *ar = a + row * d.a, *br = b + row * d.b;
        float* out = s + ((n * d.H + h) * d.T + i) * d.T;
        for (int64_t j = 0; j < d.T; ++j) out[j] = ar[j % d.a] * br[j / d.a];
      }
  if (Node* node = record(Op::ATTENTION_FACTORIZED_DENSE, factorized_dense_backward, S, {A, B})) {
    auto& saved = node->save<FactorizedDenseSaved>();
    saved.A = A, saved.B = B;
  }
  return S;
}

}  // namespace attn
