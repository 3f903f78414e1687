// Causal linear attention, chunked (per (batch, head); pointers already at the head).
//
// Forward, chunk c with S_c = sum_{j before chunk c} phi(k_j) v_j^T and z_c likewise:
//   A_c = tril(Qf_c Kf_c^T)                       (the chunk's own causal scores, n x n)
//   num_c = Qf_c S_c + A_c V_c,   den_c = Qf_c z_c + rowsum(A_c) + eps,   out_c = num_c / den_c
//   S_{c+1} = S_c + Kf_c^T V_c,   z_{c+1} = z_c + colsum(Kf_c)
// Backward (the paper's eqs. 13-15, extended with the normaliser's gradient). With
// G_i = dO_i / den_i and g_i = -(dO_i . out_i) / den_i, and Bm_c = tril(G_c V_c^T + g_c 1^T):
//   forward order  dQf_c = G_c S_c^T + g_c z_c^T + Bm_c Kf_c                  (eq. 13)
//   reverse order  with U_c = sum_{i after chunk c} Qf_i G_i^T, u_c = sum g_i Qf_i likewise:
//                  dKf_c = V_c U_c^T + 1 u_c^T + Bm_c^T Qf_c                  (eq. 14)
//                  dV_c  = Kf_c U_c + A_c^T G_c                               (eq. 15)
//
// Each product is one 64 x 64 x 64 matrix product per chunk at the default sizes: small
// enough that oneDNN's per-call cost is a fifth of it. So chunks go in groups: every product
// of a group is one batched call, and the group's states S_c (or U_c) come from one batched
// Kf_c^T V_c (Qf_c^T G_c) and a prefix (suffix) sum over the group (a running state carries
// across groups). The inputs go through phi (and the upstream gradient is split) one group
// at a time too, so a group's products read from L2. Extra memory per head: a group's
// phi(Q), phi(K), G, g, gradient rows, states and n x n tiles, ~512 rows' worth whatever T,
// plus Bm for all T rows (T x n, up to 64 MB) when both dQ and dK are wanted (the reverse
// order reuses the forward order's tiles); never T x D x M.
#include "attention/linear_attention_internal.h"

namespace attn::linear_detail {

namespace {

// `count` chunks of n rows starting at row r0, processed by one batched call per product.
struct Group {
  int64_t r0, count, n;
};

// Whole chunks in groups of up to ~512 rows (and ~512 states' rows of M), then the
// shorter last chunk alone.
std::vector<Group> groups(int64_t T, int64_t chunk, int64_t M) {
  const int64_t per_group = std::max<int64_t>(1, 512 / std::max(chunk, M));
  const int64_t whole = T / chunk;
  std::vector<Group> out;
  for (int64_t c = 0; c < whole; c += per_group)
    out.push_back({c * chunk, std::min(per_group, whole - c), chunk});
  if (T % chunk) out.push_back({whole * chunk, 1, T % chunk});
  return out;
}

int64_t max_group_chunks(int64_t T, int64_t chunk, int64_t M) {
  int64_t most = 1;
  for (const Group& g : groups(T, chunk, M)) most = std::max(most, g.count);
  return most;
}

// X[c] := the running sum before chunk c, in chunk order (reverse: after it, in reverse
// order); the running sum then includes every X[c]. X is count x size.
void exclusive_scan(float* X, float* running, int64_t count, int64_t size, bool reverse) {
  for (int64_t step = 0; step < count; ++step) {
    float* x = X + (reverse ? count - 1 - step : step) * size;
#pragma omp simd
    for (int64_t i = 0; i < size; ++i) {
      const float own = x[i];
      x[i] = running[i];
      running[i] += own;
    }
  }
}

// A_c = tril(Qf_c Kf_c^T) for every chunk of the group (count x n x n).
void causal_scores(float* A, const float* Qf, const float* Kf, const Group& g, int64_t D,
                   bool half) {
  const int64_t n = g.n;
  mm_batched(A, Qf, Kf, g.count, n, n, D, false, true, false, n * D, n * D, n * n, half);
  for (int64_t c = 0; c < g.count; ++c)
    for (int64_t i = 0; i < n; ++i)
      std::fill(A + (c * n + i) * n + i + 1, A + (c * n + i + 1) * n, 0.0f);
}

// Bm_c = tril(G_c V_c^T + g_c 1^T) for every chunk of the group.
void causal_gradient_scores(float* Bm, const float* G, const float* g, const float* V,
                            const Group& grp, int64_t M, bool half) {
  const int64_t n = grp.n;
  mm_batched(Bm, G, V, grp.count, n, n, M, false, true, false, n * M, n * M, n * n, half);
  for (int64_t r = 0; r < grp.count * n; ++r) {  // r: row of the group; i: row in its chunk
    const int64_t i = r % n;
    float* row = Bm + r * n;
    for (int64_t j = 0; j <= i; ++j) row[j] += g[r];
    std::fill(row + i + 1, row + n, 0.0f);
  }
}

// den_r = Qf_r z_c + rowsum(A_c)_r + eps and out_r /= den_r for each row r of chunk c,
// chunk by chunk; z runs across chunks (and groups).
void normalise(float* O, float* den, const float* Qf, const float* Kf, const float* A, float* z,
               const Group& g, int64_t D, int64_t M, float eps) {
  const int64_t n = g.n;
  for (int64_t c = 0; c < g.count; ++c) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = c * n + i;  // row in the group; A's row r is chunk c's row i
      float d = eps;  // vector sums (simd reductions): a scalar chain was 10% of the kernel
#pragma omp simd reduction(+ : d)
      for (int64_t e = 0; e < D; ++e) d += Qf[r * D + e] * z[e];
#pragma omp simd reduction(+ : d)
      for (int64_t j = 0; j <= i; ++j) d += A[r * n + j];
      den[r] = d;
      const float inv = 1.0f / d;
#pragma omp simd
      for (int64_t m = 0; m < M; ++m) O[r * M + m] *= inv;
    }
    for (int64_t j = c * n; j < (c + 1) * n; ++j)
      for (int64_t e = 0; e < D; ++e) z[e] += Kf[j * D + e];
  }
}

}  // namespace

void causal_forward_head(float* out, float* den, const float* q, const float* k, const float* v,
                         int64_t T, int64_t D, int64_t M, const LinearAttentionOptions& o) {
  const int64_t chunk = std::min(o.chunk, T);  // a chunk past T is one chunk of T rows
  const int64_t most = max_group_chunks(T, chunk, M);
  const bool half = o.bf16;
  // phi(Q) and phi(K) one group at a time: the group's products then read them from L2.
  Buffer Qf(most * chunk * D), Kf(most * chunk * D), S(D * M, true), z(D, true),
      A(most * chunk * chunk), states(most * D * M);
  for (const Group& g : groups(T, chunk, M)) {
    const int64_t n = g.n;
    apply_phi(Qf.data(), q + g.r0 * D, g.count * n * D);
    apply_phi(Kf.data(), k + g.r0 * D, g.count * n * D);
    const float *Qg = Qf.data(), *Kg = Kf.data(), *Vg = v + g.r0 * M;
    float* Og = out + g.r0 * M;
    mm_batched(states.data(), Kg, Vg, g.count, D, M, n, true, false, false, n * D, n * M, D * M,
               half);
    exclusive_scan(states.data(), S.data(), g.count, D * M, false);  // states[c] = S_c
    causal_scores(A.data(), Qg, Kg, g, D, half);
    mm_batched(Og, Qg, states.data(), g.count, n, M, D, false, false, false, n * D, D * M, n * M,
               half);
    mm_batched(Og, A.data(), Vg, g.count, n, M, n, false, false, true, n * n, n * M, n * M, half);
    normalise(Og, den + g.r0, Qg, Kg, A.data(), z.data(), g, D, M, o.eps);
  }
}

namespace {

// One group's rows through the feature map (phi(Q), phi(K)) and the upstream gradient split
// (G, g), computed per group so that its products read them from L2.
struct GroupInputs {
  Buffer Qf, Kf, G, g;
  GroupInputs(int64_t rows, int64_t D, int64_t M)
      : Qf(rows * D), Kf(rows * D), G(rows * M), g(rows) {}
  void load(const Group& grp, const float* q, const float* k, const float* d_out,
            const float* out, const float* den, int64_t D, int64_t M) {
    const int64_t r0 = grp.r0, rows = grp.count * grp.n;
    apply_phi(Qf.data(), q + r0 * D, rows * D);
    apply_phi(Kf.data(), k + r0 * D, rows * D);
    split_gradient(G.data(), g.data(), d_out + r0 * M, out + r0 * M, den + r0, rows, M);
  }
};

// The backward's working memory for one head: a group's inputs and gradient rows (dF: dQf in
// the forward sweep, dKf in the reverse one), its states and tiles, the running sums (S and z,
// then U and u), and the Bm tiles of all T rows when the reverse sweep reuses the forward
// sweep's (both dq and dk wanted, and at most 64 MB of them; else rebuilt per group).
struct Sweep {
  int64_t D, M, chunk;
  bool half, keep_bm;
  GroupInputs in;
  Buffer S, z, A, dF, Bm, states, u_after;
  Sweep(int64_t T, int64_t D_, int64_t M_, int64_t chunk_, int64_t most, bool half_, bool keep)
      : D(D_), M(M_), chunk(chunk_), half(half_), keep_bm(keep && T * chunk_ <= (1 << 24)),
        in(most * chunk_, D_, M_), S(D_ * M_, true), z(D_, true), A(most * chunk_ * chunk_),
        dF(most * chunk_ * D_), Bm(keep_bm ? T * chunk_ : most * chunk_ * chunk_),
        states(most * D_ * M_), u_after(most * D_) {}
  float* bm(const Group& g) { return Bm.data() + (keep_bm ? g.r0 * chunk : 0); }
};

// dQf of one group into w.dF, in forward order (eq. 13); w.S and w.z hold the sums before
// the group.
void query_gradient(Sweep& w, const float* V, const Group& grp) {
  const int64_t n = grp.n, D = w.D, M = w.M;
  const float *Kf = w.in.Kf.data(), *G = w.in.G.data(), *g = w.in.g.data();
  float *states = w.states.data(), *Bm = w.bm(grp), *dQf = w.dF.data(), *z = w.z.data();
  const bool half = w.half;
  mm_batched(states, Kf, V, grp.count, D, M, n, true, false, false, n * D, n * M, D * M, half);
  exclusive_scan(states, w.S.data(), grp.count, D * M, false);  // states[c] = S_c
  causal_gradient_scores(Bm, G, g, V, grp, M, half);
  mm_batched(dQf, G, states, grp.count, n, D, M, false, true, false, n * M, D * M, n * D, half);
  for (int64_t c = 0; c < grp.count; ++c) {  // + g z_c^T, z running across chunks
    for (int64_t r = c * n; r < (c + 1) * n; ++r)
      for (int64_t e = 0; e < D; ++e) dQf[r * D + e] += g[r] * z[e];
    for (int64_t r = c * n; r < (c + 1) * n; ++r)
      for (int64_t e = 0; e < D; ++e) z[e] += Kf[r * D + e];
  }
  mm_batched(dQf, Bm, Kf, grp.count, n, D, n, false, false, true, n * n, n * D, n * D, half);
}

// dKf of one group into w.dF (with_dk) and dV added to dV (non-null), in reverse order
// (eqs. 14, 15); w.S and w.z hold U and u, the sums after the group.
void key_value_gradients(Sweep& w, bool with_dk, float* dV, const float* V, const Group& grp) {
  const int64_t n = grp.n, D = w.D, M = w.M;
  const float *Qf = w.in.Qf.data(), *Kf = w.in.Kf.data(), *G = w.in.G.data(),
              *g = w.in.g.data();
  float *states = w.states.data(), *u = w.z.data(), *u_after = w.u_after.data();
  const bool half = w.half;
  mm_batched(states, Qf, G, grp.count, D, M, n, true, false, false, n * D, n * M, D * M, half);
  exclusive_scan(states, w.S.data(), grp.count, D * M, true);  // states[c] = U_c
  for (int64_t c = grp.count - 1; c >= 0; --c) {               // u_after[c] = u_c
    std::copy_n(u, D, u_after + c * D);
    for (int64_t r = c * n; r < (c + 1) * n; ++r)
      for (int64_t e = 0; e < D; ++e) u[e] += g[r] * Qf[r * D + e];
  }
  if (with_dk) {
    float *dKf = w.dF.data(), *Bm = w.bm(grp);
    if (!w.keep_bm) causal_gradient_scores(Bm, G, g, V, grp, M, half);
    mm_batched(dKf, V, states, grp.count, n, D, M, false, true, false, n * M, D * M, n * D, half);
    for (int64_t r = 0; r < grp.count * n; ++r)
      for (int64_t e = 0; e < D; ++e) dKf[r * D + e] += u_after[(r / n) * D + e];
    mm_batched(dKf, Bm, Qf, grp.count, n, D, n, true, false, true, n * n, n * D, n * D, half);
  }
  if (dV) {
    float* A = w.A.data();
    causal_scores(A, Qf, Kf, grp, D, half);
    mm_batched(dV, Kf, states, grp.count, n, M, D, false, false, true, n * D, D * M, n * M, half);
    mm_batched(dV, A, G, grp.count, n, M, n, true, false, true, n * n, n * M, n * M, half);
  }
}

}  // namespace

void causal_backward_head(float* dq, float* dk, float* dv, const float* d_out, const float* out,
                          const float* den, const float* q, const float* k, const float* v,
                          int64_t T, int64_t D, int64_t M, const LinearAttentionOptions& o) {
  const int64_t chunk = std::min(o.chunk, T);  // a chunk past T is one chunk of T rows
  const std::vector<Group> all = groups(T, chunk, M);
  Sweep w(T, D, M, chunk, max_group_chunks(T, chunk, M), o.bf16, dq && dk);
  if (dq) {
    for (const Group& grp : all) {
      w.in.load(grp, q, k, d_out, out, den, D, M);
      query_gradient(w, v + grp.r0 * M, grp);
      add_through_phi(dq + grp.r0 * D, w.dF.data(), q + grp.r0 * D, w.in.Qf.data(),
                      grp.count * grp.n * D);
    }
  }
  if (!dk && !dv) return;
  std::fill_n(w.S.data(), D * M, 0.0f);  // now U and u, the sums after each chunk
  std::fill_n(w.z.data(), D, 0.0f);
  for (auto grp = all.rbegin(); grp != all.rend(); ++grp) {
    const int64_t r0 = grp->r0;
    w.in.load(*grp, q, k, d_out, out, den, D, M);
    key_value_gradients(w, dk != nullptr, dv ? dv + r0 * M : nullptr, v + r0 * M, *grp);
    if (dk)
      add_through_phi(dk + r0 * D, w.dF.data(), k + r0 * D, w.in.Kf.data(),
                      grp->count * grp->n * D);
  }
}

}  // namespace attn::linear_detail
