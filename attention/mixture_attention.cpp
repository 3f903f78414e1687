// MIXTURE attention, forward and backward (derivation in attention/mixture_attention.h's
// notation; D_qk = scale Q K^T):
//   forward   Z = (1 - a) D_qk + a S (masked entries -inf), P = softmax(Z), out = P V
//   backward  dV = P^T dO,  dP = dO V^T,  dZ = P * (dP - rowsum(dP * P))
//             G = scale dZ K:   dQ = (1 - a) G
//             dK = (1 - a) scale dZ^T Q
//             dS = a dZ                      (summed over the batch when S is shared)
//             da = sum(dZ * (S - D_qk)) = sum(dZ * S) - <Q, G>
// The last line avoids recomputing Q K^T: sum_ij dZ_ij scale q_i.k_j = sum_i q_i.G_i.
#include "attention/mixture_attention.h"

#include <algorithm>
#include <cmath>

#include "attention/softmax_row.h"
#include "engine/check.h"
#include "engine/gemm.h"
#include "engine/simd_math.h"
#include "engine/tape.h"

namespace attn {
namespace {

struct Dims {
  int64_t B, H, T, D;
  bool shared;  // S is [1, H, T, T]
};

int64_t visible(const MixtureAttentionOptions& o, int64_t b, int64_t i, int64_t T) {
  const int64_t keys = o.key_lengths.empty() ? T : std::clamp<int64_t>(o.key_lengths[b], 0, T);
  return o.causal ? std::min(i + 1, keys) : keys;
}

// P = softmax(mask((1 - a) scale Q K^T + a S)), [B, H, T, T].
Tensor probabilities(const Tensor& q, const Tensor& k, const Tensor& S, float a, const Dims& d,
                     const MixtureAttentionOptions& o) {
  Tensor P = Tensor::empty({d.B, d.H, d.T, d.T});
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.D));
  GemmShape qk = packed_gemm(d.T, d.T, d.D, false, true, false, d.B * d.H);
  qk.alpha = (1.0f - a) * scale;
  gemm(qk, q.data(), k.data(), P.data());
  const int64_t per_batch = d.H * d.T * d.T;
  float* p = P.data();
  const float* s = S.data();
#pragma omp parallel for if (d.B * per_batch > (1 << 15))
  for (int64_t r = 0; r < d.B * d.H * d.T; ++r) {
    const int64_t b = r / (d.H * d.T), i = r % d.T;
    float* z = p + r * d.T;
    const float* srow = s + (d.shared ? (r * d.T) % per_batch : r * d.T);
#pragma omp simd
    for (int64_t j = 0; j < d.T; ++j) z[j] += a * srow[j];
    masked_softmax_row(z, z, visible(o, b, i, d.T), d.T);
  }
  return P;
}

// The inputs (q, k, v, S; a as a number) and P = softmax(Z), [B, H, T, T].
struct MixtureSaved : Saved {
  Tensor q, k, v, S, P;
  Dims dims{};
  float a = 0;
  size_t bytes() const override { return tensor_bytes({&q, &k, &v, &S, &P}); }
};

// Inputs in order: q, k, v, S, a.
void mixture_backward(Node& node) {
  const auto& sv = node.state<MixtureSaved>();
  const Dims& d = sv.dims;
  const float a = sv.a, scale = 1.0f / std::sqrt(static_cast<float>(d.D));
  const Tensor &q = sv.q, &k = sv.k, &v = sv.v, &S = sv.S;
  const float* p = sv.P.data();
  const float* dO = node.grad_out();
  const int64_t BH = d.B * d.H, TT = d.T * d.T;
  if (node.needs_grad(2))  // dV = P^T dO
    gemm(packed_gemm(d.T, d.D, d.T, true, false, true, BH), p, dO, node.grad_in(2));
  const bool want_qk = node.needs_grad(0) || node.needs_grad(1);
  if (!want_qk && !node.needs_grad(3) && !node.needs_grad(4)) return;
  Tensor dZ = Tensor::empty({d.B, d.H, d.T, d.T});  // dP = dO V^T, then dZ in place
  float* dz = dZ.data();
  gemm(packed_gemm(d.T, d.T, d.D, false, true, false, BH), dO, v.data(), dz);
#pragma omp parallel for if (BH * TT > (1 << 15))
  for (int64_t r = 0; r < BH * d.T; ++r) {
    float* g = dz + r * d.T;
    const float* pr = p + r * d.T;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < d.T; ++j) dot += g[j] * pr[j];
#pragma omp simd
    for (int64_t j = 0; j < d.T; ++j) g[j] = pr[j] * (g[j] - dot);
  }
  double da = 0.0;
  if (want_qk || node.needs_grad(4)) {
    Tensor G = Tensor::empty(q.shape());  // G = scale dZ K
    GemmShape gk = packed_gemm(d.T, d.D, d.T, false, false, false, BH);
    gk.alpha = scale;
    gemm(gk, dz, k.data(), G.data());
    const float* gq = G.data();
    const float* qd = q.data();
    if (node.needs_grad(0)) {
      float* dq = node.grad_in(0);
#pragma omp parallel for simd if (q.numel() > (1 << 15))
      for (int64_t i = 0; i < q.numel(); ++i) dq[i] += (1.0f - a) * gq[i];
    }
    if (node.needs_grad(1)) {  // dK = (1 - a) scale dZ^T Q
      GemmShape kq = packed_gemm(d.T, d.D, d.T, true, false, true, BH);
      kq.alpha = (1.0f - a) * scale;
      gemm(kq, dz, qd, node.grad_in(1));
    }
    if (node.needs_grad(4)) {
      double qg = 0.0;
#pragma omp parallel for reduction(+ : qg) if (q.numel() > (1 << 15))
      for (int64_t i = 0; i < q.numel(); ++i) qg += static_cast<double>(qd[i]) * gq[i];
      da -= qg;
    }
  }
  const float* s = S.data();
  const int64_t per_batch = d.H * TT;
  if (node.needs_grad(4)) {
    double zs = 0.0;
#pragma omp parallel for reduction(+ : zs) if (BH * TT > (1 << 15))
    for (int64_t i = 0; i < BH * TT; ++i)
      zs += static_cast<double>(dz[i]) * s[d.shared ? i % per_batch : i];
    node.grad_in(4)[0] += static_cast<float>(da + zs);
  }
  if (node.needs_grad(3)) {  // dS = a dZ, summed over the batch when shared
    float* ds = node.grad_in(3);
    for (int64_t b = 0; b < (d.shared ? d.B : 1); ++b) {
      const float* src = dz + b * per_batch;
      const int64_t n = d.shared ? per_batch : BH * TT;
#pragma omp parallel for simd if (n > (1 << 15))
      for (int64_t i = 0; i < n; ++i) ds[i] += a * src[i];
    }
  }
}

}  // namespace

namespace {

// Checks the operands (v is checked against q when given) and returns their sizes.
Dims checked_dims(const char* op, const Tensor& q, const Tensor& k, const Tensor* v,
                  const Tensor& S, const Tensor& a, const MixtureAttentionOptions& options) {
  for (const Tensor* t : {&q, &k, &S, &a}) check_defined(op, *t);
  if (v) check_defined(op, *v);
  if (q.dim() != 4) arg_error(op, "q must be [B, H, T, D], got " + to_string(q.shape()));
  if (k.shape() != q.shape() || (v && v->shape() != q.shape()))
    shape_error(op, q.shape(), k.shape() == q.shape() ? v->shape() : k.shape(),
                "(q, k and v) must be equal");
  const Dims d{q.size(0), q.size(1), q.size(2), q.size(3), S.dim() == 4 && S.size(0) == 1};
  if (d.T == 0 || d.D == 0) arg_error(op, "q must not be empty, got " + to_string(q.shape()));
  if (S.dim() != 4 || (S.size(0) != d.B && S.size(0) != 1) || S.size(1) != d.H ||
      S.size(2) != d.T || S.size(3) != d.T)
    shape_error(op, S.shape(), q.shape(), "do not match: S must be [B or 1, H, T, T] for q [B, H, T, D]");
  if (a.numel() != 1) arg_error(op, "a must hold one value, got " + to_string(a.shape()));
  if (!options.key_lengths.empty() && static_cast<int64_t>(options.key_lengths.size()) != d.B)
    arg_error(op, "key_lengths has " + std::to_string(options.key_lengths.size()) +
                      " entries for a batch of " + std::to_string(d.B));
  return d;
}

}  // namespace

Tensor mixture_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& S,
                         const Tensor& a, const MixtureAttentionOptions& options) {
  const Dims d = checked_dims("mixture_attention", q, k, &v, S, a, options);
  const float a_value = a.data()[0];
  Tensor P = probabilities(q, k, S, a_value, d, options);
  Tensor out = Tensor::empty(q.shape());
  gemm(packed_gemm(d.T, d.D, d.T, false, false, false, d.B * d.H), P.data(), v.data(), out.data());
  if (Node* node = record(Op::ATTENTION_MIXTURE, mixture_backward, out, {q, k, v, S, a})) {
    auto& s = node->save<MixtureSaved>();
    s.q = q, s.k = k, s.v = v, s.S = S, s.P = P, s.dims = d, s.a = a_value;
  }
  return out;
}

Tensor mixture_attention_weights(const Tensor& q, const Tensor& k, const Tensor& S,
                                 const Tensor& a, const MixtureAttentionOptions& options) {
  const Dims d = checked_dims("mixture_attention_weights", q, k, nullptr, S, a, options);
  return probabilities(q, k, S, a.data()[0], d, options);
}

}  // namespace attn
