// SYNTHETIC attention: P = softmax(mask(logits)) row-wise, out = P V.
//   forward   P (saved: T x T per head is inherent to the Synthesizer), out = P V
//   backward  dV = P^T dO,   dP = dO V^T,   dlogits = P * (dP - rowsum(dP * P))
// With logits shared by the batch ([1, H, T, T]) dlogits sums over the batch, as a shared
// parameter's gradient must. Causal masking gives each row's softmax only its
// first i + 1 logits and writes P = 0 after them, so masked entries get no gradient.
#include "attention/synthetic_attention.h"

#include <algorithm>
#include <cmath>

#include "attention/softmax_row.h"
#include "engine/check.h"
#include "engine/gemm.h"
#include "engine/simd_math.h"
#include "engine/tape.h"

namespace attn {
namespace {

// P [B, H, T, T] (the T x T per head the Synthesizer needs) and v (for dP = dO V^T).
struct SyntheticSaved : Saved {
  Tensor P, v;
  bool shared = false;  // the logits are shared by the batch
  size_t bytes() const override { return tensor_bytes({&P, &v}); }
};

void synthetic_backward(Node& node) {
  const auto& s = node.state<SyntheticSaved>();
  const Tensor& P = s.P;
  const Tensor& v = s.v;
  const int64_t B = v.size(0), H = v.size(1), T = v.size(2), D = v.size(3);
  const float* dO = node.grad_out();
  const float* p = P.data();
  if (node.needs_grad(1))  // dV = P^T dO
    gemm(packed_gemm(T, D, T, true, false, true, B * H), p, dO, node.grad_in(1));
  if (!node.needs_grad(0)) return;
  Tensor dP = Tensor::empty(P.shape());  // dP = dO V^T, then dlogits in place
  gemm(packed_gemm(T, T, D, false, true, false, B * H), dO, v.data(), dP.data());
  float* dp = dP.data();
  const int64_t rows = B * H * T;
#pragma omp parallel for if (rows * T > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dp + r * T;
    const float* pr = p + r * T;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < T; ++j) dot += d[j] * pr[j];
#pragma omp simd
    for (int64_t j = 0; j < T; ++j) d[j] = pr[j] * (d[j] - dot);
  }
  float* dl = node.grad_in(0);
  const int64_t per_batch = H * T * T;
  if (s.shared) {  // shared logits: sum over the batch
    for (int64_t b = 0; b < B; ++b)
#pragma omp parallel for simd if (per_batch > (1 << 15))
      for (int64_t i = 0; i < per_batch; ++i) dl[i] += dp[b * per_batch + i];
  } else {
#pragma omp parallel for simd if (B * per_batch > (1 << 15))
    for (int64_t i = 0; i < B * per_batch; ++i) dl[i] += dp[i];
  }
}

}  // namespace

Tensor synthetic_attention(const Tensor& logits, const Tensor& v, bool causal) {
  const char* op = "synthetic_attention";
  check_defined(op, logits), check_defined(op, v);
  if (v.dim() != 4) arg_error(op, "v must be [B, H, T, D], got " + to_string(v.shape()));
  const int64_t B = v.size(0), H = v.size(1), T = v.size(2), D = v.size(3);
  if (T == 0 || D == 0) arg_error(op, "v must not be empty, got " + to_string(v.shape()));
  if (logits.dim() != 4 || (logits.size(0) != B && logits.size(0) != 1) ||
      logits.size(1) != H || logits.size(2) != T || logits.size(3) != T)
    shape_error(op, logits.shape(), v.shape(),
                "do not match: logits must be [B or 1, H, T, T] for v [B, H, T, D]");
  const bool shared = logits.size(0) == 1 && B > 1;
  Tensor P = Tensor::empty({B, H, T, T});
  const float* l = logits.data();
  float* p = P.data();
  const int64_t per_batch = H * T * T;
#pragma omp parallel for if (B * per_batch > (1 << 15))
  for (int64_t r = 0; r < B * H * T; ++r) {
    const int64_t i = r % T;  // query position
    const float* src = l + (shared ? (r * T) % per_batch : r * T);
    float* dst = p + r * T;
    masked_softmax_row(src, dst, causal ? i + 1 : T, T);
  }
  Tensor out = Tensor::empty(v.shape());
  gemm(packed_gemm(T, D, T, false, false, false, B * H), p, v.data(), out.data());
  if (Node* node = record(Op::ATTENTION_SYNTHETIC, synthetic_backward, out, {logits, v})) {
    auto& s = node->save<SyntheticSaved>();
    s.P = P, s.v = v, s.shared = shared;
  }
  return out;
}

}  // namespace attn
