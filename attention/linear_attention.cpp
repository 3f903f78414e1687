// Linear attention: the non-causal kernels, the dispatch over (batch, head), the tape binding
// and the recurrent step. The causal kernels are in linear_attention_causal.cpp.
//
// Non-causal forward (eq. 6), per head, with Qf = phi(Q), Kf = phi(K):
//   S = Kf^T V [D, M],  z = colsum(Kf) [D],  out = (Qf S) / (Qf z + eps)
// Backward, with G_i = dO_i / den_i and g_i = -(dO_i . out_i) / den_i:
//   dQf = G S^T + g z^T,   dS = Qf^T G,   dz = Qf^T g
//   dKf = V dS^T + 1 dz^T, dV = Kf dS,    dQ = dQf phi'(Q), dK = dKf phi'(K)
// Saved: den [B, H, T] and the output; phi(Q), phi(K), S and z are recomputed.
#include "attention/linear_attention.h"

#include "attention/linear_attention_internal.h"
#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/tape.h"

namespace attn {

using namespace linear_detail;

namespace {

void forward_head(float* out, float* den, const float* q, const float* k, const float* v,
                  int64_t T, int64_t D, int64_t M, float eps, bool half) {
  Buffer Qf(T * D), Kf(T * D), S(D * M), z(D, true);
  apply_phi(Qf.data(), q, T * D);
  apply_phi(Kf.data(), k, T * D);
  mm(S.data(), Kf.data(), v, D, M, T, true, false, false, half);
  for (int64_t j = 0; j < T; ++j)
    for (int64_t e = 0; e < D; ++e) z[e] += Kf[j * D + e];
  mm(out, Qf.data(), S.data(), T, M, D, false, false, false, half);
  for (int64_t i = 0; i < T; ++i) {
    float d = eps;
    for (int64_t e = 0; e < D; ++e) d += Qf[i * D + e] * z[e];
    den[i] = d;
    for (int64_t m = 0; m < M; ++m) out[i * M + m] /= d;
  }
}

void backward_head(float* dq, float* dk, float* dv, const float* d_out, const float* out,
                   const float* den, const float* q, const float* k, const float* v, int64_t T,
                   int64_t D, int64_t M, bool half) {
  Buffer Qf(T * D), Kf(T * D), G(T * M), g(T), S(D * M), z(D, true), dS(D * M), dz(D, true),
      dF(T * D);
  apply_phi(Qf.data(), q, T * D);
  apply_phi(Kf.data(), k, T * D);
  split_gradient(G.data(), g.data(), d_out, out, den, T, M);
  if (dq) {
    mm(S.data(), Kf.data(), v, D, M, T, true, false, false, half);
    for (int64_t j = 0; j < T; ++j)
      for (int64_t e = 0; e < D; ++e) z[e] += Kf[j * D + e];
    mm(dF.data(), G.data(), S.data(), T, D, M, false, true, false, half);  // G S^T
    for (int64_t i = 0; i < T; ++i)
      for (int64_t e = 0; e < D; ++e) dF[i * D + e] += g[i] * z[e];
    add_through_phi(dq, dF.data(), q, Qf.data(), T * D);
  }
  if (!dk && !dv) return;
  mm(dS.data(), Qf.data(), G.data(), D, M, T, true, false, false, half);  // Qf^T G
  for (int64_t i = 0; i < T; ++i)
    for (int64_t e = 0; e < D; ++e) dz[e] += g[i] * Qf[i * D + e];
  if (dk) {
    mm(dF.data(), v, dS.data(), T, D, M, false, true, false, half);  // V dS^T
    for (int64_t j = 0; j < T; ++j)
      for (int64_t e = 0; e < D; ++e) dF[j * D + e] += dz[e];
    add_through_phi(dk, dF.data(), k, Kf.data(), T * D);
  }
  if (dv) mm(dv, Kf.data(), dS.data(), T, M, D, false, false, true, half);  // Kf dS
}

// The inputs, the output and den [B, H, T] (each query's normaliser); O(T D), never T x T.
struct LinearSaved : Saved {
  Tensor q, k, v, out, den;
  LinearDims dims{};
  LinearAttentionOptions options;
  size_t bytes() const override { return tensor_bytes({&q, &k, &v, &out, &den}); }
};

void linear_attention_node_backward(Node& node) {
  const auto& s = node.state<LinearSaved>();
  linear_attention_backward(node.needs_grad(0) ? node.grad_in(0) : nullptr,
                            node.needs_grad(1) ? node.grad_in(1) : nullptr,
                            node.needs_grad(2) ? node.grad_in(2) : nullptr, node.grad_out(),
                            s.out.data(), s.den.data(), s.q.data(), s.k.data(), s.v.data(),
                            s.dims, s.options);
}

}  // namespace

void linear_attention_forward(float* out, float* den, const float* q, const float* k,
                              const float* v, const LinearDims& d,
                              const LinearAttentionOptions& o) {
  ParallelErrors errors;  // the heads allocate their chunk buffers inside the region
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bh = 0; bh < d.B * d.H; ++bh)
    errors.capture([&] {
      const int64_t qo = bh * d.T * d.D, vo = bh * d.T * d.M;
      if (o.causal)
        causal_forward_head(out + vo, den + bh * d.T, q + qo, k + qo, v + vo, d.T, d.D, d.M, o);
      else
        forward_head(out + vo, den + bh * d.T, q + qo, k + qo, v + vo, d.T, d.D, d.M, o.eps,
                     o.bf16);
    });
  errors.rethrow();
}

void linear_attention_backward(float* dq, float* dk, float* dv, const float* d_out,
                               const float* out, const float* den, const float* q,
                               const float* k, const float* v, const LinearDims& d,
                               const LinearAttentionOptions& o) {
  ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bh = 0; bh < d.B * d.H; ++bh)
    errors.capture([&] {
      const int64_t qo = bh * d.T * d.D, vo = bh * d.T * d.M;
      float* dqh = dq ? dq + qo : nullptr;
      float* dkh = dk ? dk + qo : nullptr;
      float* dvh = dv ? dv + vo : nullptr;
      if (o.causal)
        causal_backward_head(dqh, dkh, dvh, d_out + vo, out + vo, den + bh * d.T, q + qo, k + qo,
                             v + vo, d.T, d.D, d.M, o);
      else
        backward_head(dqh, dkh, dvh, d_out + vo, out + vo, den + bh * d.T, q + qo, k + qo, v + vo,
                      d.T, d.D, d.M, o.bf16);
    });
  errors.rethrow();
}

Tensor linear_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                        const LinearAttentionOptions& options) {
  const char* op = "linear_attention";
  check_defined(op, q), check_defined(op, k), check_defined(op, v);
  if (q.dim() != 4) arg_error(op, "q must be [B, H, T, D], got " + to_string(q.shape()));
  if (k.shape() != q.shape()) shape_error(op, q.shape(), k.shape(), "(q and k) must be equal");
  if (v.dim() != 4 || v.size(0) != q.size(0) || v.size(1) != q.size(1) || v.size(2) != q.size(2))
    shape_error(op, q.shape(), v.shape(), "(q and v) must agree in B, H and T");
  const LinearDims dims{q.size(0), q.size(1), q.size(2), q.size(3), v.size(3)};
  if (dims.T == 0 || dims.D == 0 || dims.M == 0)
    shape_error(op, q.shape(), v.shape(), "(q and v) must not be empty");
  if (options.chunk < 1) arg_error(op, "chunk must be at least 1");
  LinearAttentionOptions run = options;  // bf16 products in bf16 precision (engine/bf16.h)
  run.bf16 = run.bf16 || precision() == Precision::kBF16;
  Tensor out = Tensor::empty(v.shape());
  Tensor den = Tensor::empty({dims.B, dims.H, dims.T});
  linear_attention_forward(out.data(), den.data(), q.data(), k.data(), v.data(), dims, run);
  if (Node* node = record(options.causal ? Op::ATTENTION_LINEAR_CAUSAL : Op::ATTENTION_LINEAR,
                          linear_attention_node_backward, out, {q, k, v})) {
    auto& s = node->save<LinearSaved>();
    s.q = q, s.k = k, s.v = v, s.out = out, s.den = den, s.dims = dims, s.options = run;
  }
  return out;
}

LinearAttentionState LinearAttentionState::zeros(int64_t H, int64_t D, int64_t M) {
  return {Tensor::zeros({H, D, M}), Tensor::zeros({H, D})};
}

void linear_attention_step(float* out, const float* q, const float* k, const float* v,
                           LinearAttentionState& state, float eps) {
  const int64_t H = state.S.size(0), D = state.S.size(1), M = state.S.size(2);
  for (int64_t h = 0; h < H; ++h) {
    float* S = state.S.data() + h * D * M;
    float* z = state.z.data() + h * D;
    // S += phi(k) v^T, z += phi(k)   (eqs. 18-19: the RNN state update; eq. 20 reads it)
    for (int64_t e = 0; e < D; ++e) {
      const float kf = phi(k[h * D + e]);
      z[e] += kf;
      for (int64_t m = 0; m < M; ++m) S[e * M + m] += kf * v[h * M + m];
    }
    // out = phi(q)^T S / (phi(q)^T z + eps)
    float den = eps;
    float* o = out + h * M;
    std::fill(o, o + M, 0.0f);
    for (int64_t e = 0; e < D; ++e) {
      const float qf = phi(q[h * D + e]);
      den += qf * z[e];
      for (int64_t m = 0; m < M; ++m) o[m] += qf * S[e * M + m];
    }
    for (int64_t m = 0; m < M; ++m) o[m] /= den;
  }
}

}  // namespace attn
