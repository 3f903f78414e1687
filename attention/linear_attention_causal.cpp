// Causal linear attention, chunked (per (batch, head); pointers already at the head).
//
// Forward, chunk c of n rows with running S = sum_{j < c0} phi(k_j) v_j^T and z likewise:
//   A = tril(Qf_c Kf_c^T)                         (the chunk's own causal scores, n x n)
//   num_c = Qf_c S + A V_c,   den_c = Qf_c z + rowsum(A) + eps,   out_c = num_c / den_c
//   S += Kf_c^T V_c,  z += colsum(Kf_c)
// Backward (the paper's eqs. 13-15, extended with the normaliser's gradient). With
// G_i = dO_i / den_i and g_i = -(dO_i . out_i) / den_i, and Bm = tril(G_c V_c^T + g_c 1^T):
//   forward pass   dQf_c = G_c S^T + g_c z^T + Bm Kf_c                       (eq. 13)
//   reverse pass   with U = sum_{i >= c1} Qf_i G_i^T, u = sum_{i >= c1} g_i Qf_i:
//                  dKf_c = V_c U^T + 1 u^T + Bm^T Qf_c                        (eq. 14)
//                  dV_c  = Kf_c U + A^T G_c                                   (eq. 15)
// Extra memory per head: phi(Q), phi(K) and their gradients (T x D each), G (T x M), g (T),
// S and U (D x M), two c x c tiles (A, Bm); never T x D x M.
#include "attention/linear_attention_internal.h"

namespace attn::linear_detail {

namespace {

// A = Qf_c Kf_c^T with entries above the diagonal zeroed (n x n, row stride n).
void causal_scores(float* A, const float* Qf, const float* Kf, int64_t n, int64_t D) {
  mm(A, Qf, Kf, n, n, D, false, true, false);
  for (int64_t i = 0; i < n; ++i) std::fill(A + i * n + i + 1, A + (i + 1) * n, 0.0f);
}

// Bm = tril(G_c V_c^T + g_c 1^T)
void causal_gradient_scores(float* Bm, const float* G, const float* g, const float* V,
                            int64_t n, int64_t M) {
  mm(Bm, G, V, n, n, M, false, true, false);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j <= i; ++j) Bm[i * n + j] += g[i];
    std::fill(Bm + i * n + i + 1, Bm + (i + 1) * n, 0.0f);
  }
}

}  // namespace

void causal_forward_head(float* out, float* den, const float* q, const float* k, const float* v,
                         int64_t T, int64_t D, int64_t M, const LinearAttentionOptions& o) {
  const int64_t chunk = std::min(o.chunk, T);  // a chunk past T is one chunk of T rows
  Buffer Qf(T * D), Kf(T * D), S(D * M, true), z(D, true), A(chunk * chunk);
  apply_phi(Qf.data(), q, T * D);
  apply_phi(Kf.data(), k, T * D);
  for (int64_t c0 = 0; c0 < T; c0 += chunk) {
    const int64_t n = std::min(chunk, T - c0);
    const float *Qc = Qf.data() + c0 * D, *Kc = Kf.data() + c0 * D, *Vc = v + c0 * M;
    float* Oc = out + c0 * M;
    causal_scores(A.data(), Qc, Kc, n, D);
    mm(Oc, Qc, S.data(), n, M, D, false, false, false);  // previous chunks
    mm(Oc, A.data(), Vc, n, M, n, false, false, true);   // this chunk
    for (int64_t i = 0; i < n; ++i) {
      float d = o.eps;
      for (int64_t e = 0; e < D; ++e) d += Qc[i * D + e] * z[e];
      for (int64_t j = 0; j <= i; ++j) d += A[i * n + j];
      den[c0 + i] = d;
      for (int64_t m = 0; m < M; ++m) Oc[i * M + m] /= d;
    }
    mm(S.data(), Kc, Vc, D, M, n, true, false, true);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t e = 0; e < D; ++e) z[e] += Kc[j * D + e];
  }
}

void causal_backward_head(float* dq, float* dk, float* dv, const float* d_out, const float* out,
                          const float* den, const float* q, const float* k, const float* v,
                          int64_t T, int64_t D, int64_t M, const LinearAttentionOptions& o) {
  const int64_t chunk = std::min(o.chunk, T);  // a chunk past T is one chunk of T rows
  Buffer Qf(T * D), Kf(T * D), G(T * M), g(T), dQf(T * D), dKf(T * D);
  Buffer S(D * M, true), z(D, true), A(chunk * chunk), Bm(chunk * chunk);
  apply_phi(Qf.data(), q, T * D);
  apply_phi(Kf.data(), k, T * D);
  split_gradient(G.data(), g.data(), d_out, out, den, T, M);

  if (dq) {  // forward pass: dQf (eq. 13)
    for (int64_t c0 = 0; c0 < T; c0 += chunk) {
      const int64_t n = std::min(chunk, T - c0);
      const float *Kc = Kf.data() + c0 * D, *Vc = v + c0 * M, *Gc = G.data() + c0 * M;
      float* dQc = dQf.data() + c0 * D;
      causal_gradient_scores(Bm.data(), Gc, g.data() + c0, Vc, n, M);
      mm(dQc, Gc, S.data(), n, D, M, false, true, false);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t e = 0; e < D; ++e) dQc[i * D + e] += g[c0 + i] * z[e];
      mm(dQc, Bm.data(), Kc, n, D, n, false, false, true);
      mm(S.data(), Kc, Vc, D, M, n, true, false, true);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t e = 0; e < D; ++e) z[e] += Kc[j * D + e];
    }
    add_through_phi(dq, dQf.data(), q, Qf.data(), T * D);
  }
  if (!dk && !dv) return;
  // reverse pass: dKf and dV (eqs. 14, 15); S and z are reused as U and u.
  float *U = S.data(), *u = z.data();
  std::fill_n(U, D * M, 0.0f);
  std::fill_n(u, D, 0.0f);
  const int64_t last = (T - 1) / chunk * chunk;
  for (int64_t c0 = last; c0 >= 0; c0 -= chunk) {
    const int64_t n = std::min(chunk, T - c0);
    const float *Qc = Qf.data() + c0 * D, *Kc = Kf.data() + c0 * D, *Vc = v + c0 * M;
    const float *Gc = G.data() + c0 * M, *gc = g.data() + c0;
    if (dk) {
      float* dKc = dKf.data() + c0 * D;
      causal_gradient_scores(Bm.data(), Gc, gc, Vc, n, M);
      mm(dKc, Vc, U, n, D, M, false, true, false);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t e = 0; e < D; ++e) dKc[j * D + e] += u[e];
      mm(dKc, Bm.data(), Qc, n, D, n, true, false, true);
    }
    if (dv) {
      float* dVc = dv + c0 * M;
      causal_scores(A.data(), Qc, Kc, n, D);
      mm(dVc, Kc, U, n, M, D, false, false, true);
      mm(dVc, A.data(), Gc, n, M, n, true, false, true);
    }
    mm(U, Qc, Gc, D, M, n, true, false, true);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t e = 0; e < D; ++e) u[e] += gc[i] * Qc[i * D + e];
  }
  if (dk) add_through_phi(dk, dKf.data(), k, Kf.data(), T * D);
}

}  // namespace attn::linear_detail
