// MATMUL: Y = op(A) op(B), batched over leading dims, or with a 2-D B shared by every row of A.
//
// Backward (with op(X) = X or X^T), derived from dY = op(A) op(B):
//   plain       Y = A B       dA += dY B^T        dB += A^T dY
//   trans_a     Y = A^T B     dA += B dY^T        dB += A dY
//   trans_b     Y = A B^T     dA += dY B          dB += dY^T A
//   both        Y = A^T B^T   dA += B^T dY^T      dB += dY^T A^T
// Each is one more gemm with the accumulate flag, so the gradient is added in place.
#include "engine/check.h"
#include "engine/gemm.h"
#include "engine/tape.h"

namespace attn {
namespace {

// The product as one gemm call: sizes, and whether B is shared by the batch.
struct Plan {
  int64_t batch, M, N, K;
  bool shared_b;
};

Plan plan_for(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  check_defined("matmul", a);
  check_defined("matmul", b);
  if (a.dim() < 2 || b.dim() < 2)
    shape_error("matmul", a.shape(), b.shape(), "need at least 2 dims each");
  Plan p{};
  p.shared_b = b.dim() == 2 && a.dim() > 2;
  if (p.shared_b && ta)
    shape_error("matmul", a.shape(), b.shape(),
                "cannot transpose A when B is a shared 2-D matrix");
  if (!p.shared_b && a.dim() != b.dim())
    shape_error("matmul", a.shape(), b.shape(), "need the same number of dims (or a 2-D B)");
  if (!p.shared_b)
    for (int d = 0; d < a.dim() - 2; ++d)
      if (a.size(d) != b.size(d))
        shape_error("matmul", a.shape(), b.shape(), "have different batch dims");
  const int64_t a_rows = a.size(-2), a_cols = a.size(-1);
  p.M = ta ? a_cols : a_rows;
  p.K = ta ? a_rows : a_cols;
  const int64_t kb = tb ? b.size(-1) : b.size(-2);
  p.N = tb ? b.size(-2) : b.size(-1);
  if (p.K != kb)
    shape_error("matmul", a.shape(), b.shape(),
                "have inner dims " + std::to_string(p.K) + " and " + std::to_string(kb) +
                    (ta || tb ? std::string(" (with transposes a=") + (ta ? "T" : "N") +
                                    ", b=" + (tb ? "T" : "N") + ")"
                              : ""));
  p.batch = a.numel() / (a_rows * a_cols == 0 ? 1 : a_rows * a_cols);
  if (p.shared_b) {  // fold the batch into the rows of A
    p.M *= p.batch;
    p.batch = 1;
  }
  return p;
}

// dA reads B and dB reads A: each operand is kept only when the other's gradient is needed.
struct MatmulSaved : Saved {
  Tensor a, b;
  bool trans_a = false, trans_b = false;
  int64_t batch = 1, M = 0, N = 0, K = 0;  // the forward's gemm (batch folded for a shared B)
  size_t bytes() const override { return tensor_bytes({&a, &b}); }
};

void matmul_backward(Node& node) {
  const auto& s = node.state<MatmulSaved>();
  const bool ta = s.trans_a, tb = s.trans_b;
  const int64_t batch = s.batch, M = s.M, N = s.N, K = s.K;
  const float* dy = node.grad_out();  // [batch, M, N]
  const float* a = s.a.defined() ? s.a.data() : nullptr;
  const float* b = s.b.defined() ? s.b.data() : nullptr;
  if (node.needs_grad(0)) {
    float* da = node.grad_in(0);  // stored [M, K], or [K, M] if ta
    if (!ta) gemm(packed_gemm(M, K, N, false, !tb, true, batch), dy, b, da);  // dY op(B)^T
    else gemm(packed_gemm(K, M, N, tb, true, true, batch), b, dy, da);        // op(B) dY^T
  }
  if (node.needs_grad(1)) {
    float* db = node.grad_in(1);  // stored [K, N], or [N, K] if tb
    // A shared B sums its gradient over the batch: with the batch folded into M this is one
    // gemm over M rows (batch is 1 then).
    if (!tb) gemm(packed_gemm(K, N, M, !ta, false, true, batch), a, dy, db);  // op(A)^T dY
    else gemm(packed_gemm(N, K, M, true, ta, true, batch), dy, a, db);        // dY^T op(A)
  }
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const Plan p = plan_for(a, b, trans_a, trans_b);
  Shape out_shape = a.shape();
  out_shape[out_shape.size() - 2] = trans_a ? a.size(-1) : a.size(-2);
  out_shape.back() = p.N;
  Tensor out = Tensor::empty(out_shape);
  gemm(packed_gemm(p.M, p.N, p.K, trans_a, trans_b, false, p.batch), a.data(), b.data(),
       out.data());
  if (Node* node = record(Op::MATMUL, matmul_backward, out, {a, b})) {
    auto& s = node->save<MatmulSaved>();
    if (node->needs_grad(1)) s.a = a;
    if (node->needs_grad(0)) s.b = b;
    s.trans_a = trans_a, s.trans_b = trans_b;
    s.batch = p.batch, s.M = p.M, s.N = p.N, s.K = p.K;
  }
  return out;
}

}  // namespace attn
