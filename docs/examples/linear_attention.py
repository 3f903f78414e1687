"""Checks every numbered formula of docs/linear_attention.md against `attn op linear`.

Each form of linear attention is written out naively in float64 NumPy: the materialised T x T
kernel matrix (L2, L6, L7), the associative non-causal form (L3, L11), the causal prefix sums
(L4, L8, L9), the recurrent loop (L5) and the chunked loops (L12, L13), which mirror
attention/linear_attention_causal.cpp call for call. Each is compared with the naive form and
with attn's float32 kernels (out, dq, dk, dv), causal and non-causal, with M != D, B = H = 2 and
T crossing the chunk boundaries.

    /usr/bin/python3 docs/examples/linear_attention.py build/apps/attn
"""
import numpy as np

from attn_check import check, finish, rng, run_op

EPS = 1e-6  # LinearAttentionOptions::eps, added to every denominator


def phi(x):  # (L1) phi(x) = elu(x) + 1
    return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))


def phi_prime(x):  # (L1) phi'(x) = 1 for x > 0, e^x = phi(x) otherwise
    return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0)))


def T_(x):  # transpose the last two axes
    return np.swapaxes(x, -1, -2)


def tril(T):
    return np.tril(np.ones((T, T)))


# ---- the naive form: the T x T kernel matrix, materialised ----------------------------------

def naive_forward(q, k, v, causal, eps=EPS):
    """(L2) A = phi(Q) phi(K)^T (lower triangle if causal), den = A 1 + eps, out = A V / den."""
    A = phi(q) @ T_(phi(k))
    if causal:
        A = A * tril(q.shape[2])
    den = A.sum(-1) + eps
    return (A @ v) / den[..., None], A, den


def split_gradient(dout, out, den):
    """(L6) out = num / den:  G_i = dO_i / den_i,  g_i = -(dO_i . out_i) / den_i."""
    return dout / den[..., None], -(dout * out).sum(-1) / den


def naive_backward(q, k, v, dout, causal, eps=EPS):
    """(L7) dA = mask * (G V^T + g 1^T); dV = A^T G; dphi(Q) = dA phi(K); dphi(K) = dA^T phi(Q),
    then (L10) through the feature map."""
    out, A, den = naive_forward(q, k, v, causal, eps)
    G, g = split_gradient(dout, out, den)
    dA = G @ T_(v) + g[..., None]
    if causal:
        dA = dA * tril(q.shape[2])
    dv = T_(A) @ G
    dq = (dA @ phi(k)) * phi_prime(q)
    dk = (T_(dA) @ phi(q)) * phi_prime(k)
    return dq, dk, dv


# ---- flop counting: the forms below multiply through Flops.mm, one call per mm in the C++ ------

class Flops:
    """Counts 2 m n p for every [m, p] x [p, n] product (per batch and head), (L14)."""

    def __init__(self):
        self.n = 0

    def mm(self, a, b):
        self.n += 2 * a.shape[-2] * a.shape[-1] * b.shape[-1] * a.shape[0] * a.shape[1]
        return a @ b


# ---- the non-causal form by associativity ---------------------------------------------------

def assoc_forward(q, k, v, eps=EPS, flops=None):
    """(L3) S = phi(K)^T V [D, M], z = phi(K)^T 1 [D], out = phi(Q) S / (phi(Q) z + eps)."""
    f = flops or Flops()
    Qf, Kf = phi(q), phi(k)
    S = f.mm(T_(Kf), v)
    z = Kf.sum(2)
    den = np.einsum("bhtd,bhd->bht", Qf, z) + eps
    return f.mm(Qf, S) / den[..., None], den


def assoc_backward(q, k, v, dout, eps=EPS, flops=None):
    """(L11) dphi(Q) = G S^T + g z^T; U = phi(Q)^T G, u = phi(Q)^T g;
    dphi(K) = V U^T + 1 u^T; dV = phi(K) U; then (L10). S and z are recomputed."""
    f = flops or Flops()
    out, den = assoc_forward(q, k, v, eps)  # what the tape saved: out and den
    Qf, Kf = phi(q), phi(k)
    G, g = split_gradient(dout, out, den)
    S, z = f.mm(T_(Kf), v), Kf.sum(2)
    U, u = f.mm(T_(Qf), G), np.einsum("bhtd,bht->bhd", Qf, g)
    dQf = f.mm(G, T_(S)) + g[..., None] * z[:, :, None, :]
    dKf = f.mm(v, T_(U)) + u[:, :, None, :]
    return dQf * phi_prime(q), dKf * phi_prime(k), f.mm(Kf, U)


# ---- the causal form: prefix sums, and the paper's eqs. 13-15 plus the normaliser -----------

def prefix_state(q, k, v):
    """(L4) S_i = sum_{j<=i} phi(k_j) v_j^T, z_i = sum_{j<=i} phi(k_j): every S_i kept,
    [B, H, T, D, M], the T D M memory the kernel never allocates."""
    Kf = phi(k)
    return np.cumsum(np.einsum("bhtd,bhtm->bhtdm", Kf, v), axis=2), np.cumsum(Kf, axis=2)


def prefix_forward(q, k, v, eps=EPS):
    """(L4) out_i = phi(q_i)^T S_i / (phi(q_i)^T z_i + eps)."""
    S, z = prefix_state(q, k, v)
    Qf = phi(q)
    den = np.einsum("bhtd,bhtd->bht", Qf, z) + eps
    return np.einsum("bhtd,bhtdm->bhtm", Qf, S) / den[..., None], den


def suffix(x):  # sum over j >= i along the time axis
    return np.flip(np.cumsum(np.flip(x, axis=2), axis=2), axis=2)


def prefix_backward(q, k, v, dout, eps=EPS, normaliser=True):
    """(L8) the paper's eqs. 13-15 for the numerator, with U_j = sum_{i>=j} phi(q_i) G_i^T:
         dphi(q_i) += S_i G_i,   dphi(k_j) += U_j v_j,   dv_j = U_j^T phi(k_j);
    (L9) the normaliser's part, with u_j = sum_{i>=j} g_i phi(q_i):
         dphi(q_i) += g_i z_i,   dphi(k_j) += u_j;
    then (L10). normaliser=False leaves (L9) out, as the paper's equations alone would."""
    out, den = prefix_forward(q, k, v, eps)
    G, g = split_gradient(dout, out, den)
    Qf, Kf = phi(q), phi(k)
    S, z = prefix_state(q, k, v)
    U = suffix(np.einsum("bhtd,bhtm->bhtdm", Qf, G))
    u = suffix(Qf * g[..., None])
    dQf = np.einsum("bhtdm,bhtm->bhtd", S, G)             # eq. 13
    dKf = np.einsum("bhtdm,bhtm->bhtd", U, v)             # eq. 14
    dv = np.einsum("bhtdm,bhtd->bhtm", U, Kf)             # eq. 15
    if normaliser:
        dQf = dQf + g[..., None] * z
        dKf = dKf + u
    return dQf * phi_prime(q), dKf * phi_prime(k), dv


def rnn_forward(q, k, v, eps=EPS):
    """(L5) the recurrent form, one token per step (linear_attention_step):
    S_0 = 0, z_0 = 0; S_i = S_{i-1} + phi(k_i) v_i^T; z_i = z_{i-1} + phi(k_i);
    out_i = phi(q_i)^T S_i / (phi(q_i)^T z_i + eps)."""
    B, H, T, D = q.shape
    M = v.shape[3]
    S, z = np.zeros((B, H, D, M)), np.zeros((B, H, D))
    out = np.zeros((B, H, T, M))
    for i in range(T):
        kf, qf = phi(k[:, :, i]), phi(q[:, :, i])
        S += kf[..., :, None] * v[:, :, i, None, :]
        z += kf
        den = (qf * z).sum(-1) + eps
        out[:, :, i] = np.einsum("bhd,bhdm->bhm", qf, S) / den[..., None]
    return out


# ---- the chunked loops of linear_attention_causal.cpp ---------------------------------------

def chunk_forward(q, k, v, c, eps=EPS, flops=None):
    """(L12) per chunk of n <= c rows, S and z holding all rows before the chunk:
    A = tril(Qf_c Kf_c^T); num = Qf_c S + A V_c; den = Qf_c z + A 1 + eps; out = num / den;
    then S += Kf_c^T V_c, z += Kf_c^T 1."""
    f = flops or Flops()
    B, H, T, D = q.shape
    M = v.shape[3]
    c = min(c, T)  # a chunk past T is one chunk of T rows
    Qf, Kf = phi(q), phi(k)
    S, z = np.zeros((B, H, D, M)), np.zeros((B, H, D))
    out, den = np.zeros((B, H, T, M)), np.zeros((B, H, T))
    for c0 in range(0, T, c):
        r = slice(c0, min(c0 + c, T))
        Qc, Kc, Vc = Qf[:, :, r], Kf[:, :, r], v[:, :, r]
        A = f.mm(Qc, T_(Kc)) * tril(Qc.shape[2])  # the full n x n product, then masked
        num = f.mm(Qc, S) + f.mm(A, Vc)
        den[:, :, r] = np.einsum("bhnd,bhd->bhn", Qc, z) + A.sum(-1) + eps
        out[:, :, r] = num / den[:, :, r, None]
        S = S + f.mm(T_(Kc), Vc)
        z = z + Kc.sum(2)
    return out, den


def chunk_backward(q, k, v, dout, c, eps=EPS, flops=None):
    """(L13) with Bm = tril(G_c V_c^T + g_c 1^T).
    Forward pass (S, z before the chunk):  dQf_c = G_c S^T + g_c z^T + Bm Kf_c.
    Reverse pass (U, u over the rows after the chunk; Bm kept from the forward pass):
        dKf_c = V_c U^T + 1 u^T + Bm^T Qf_c,   dV_c = Kf_c U + A^T G_c,
        then U += Qf_c^T G_c, u += Qf_c^T g_c.   Then (L10)."""
    f = flops or Flops()
    B, H, T, D = q.shape
    M = v.shape[3]
    c = min(c, T)
    out, den = chunk_forward(q, k, v, c, eps)  # what the tape saved: out and den
    Qf, Kf = phi(q), phi(k)                    # recomputed, as in causal_backward_head
    G, g = split_gradient(dout, out, den)
    dQf, dKf, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    starts = list(range(0, T, c))

    def tile(r):
        n = r.stop - r.start
        Bm = (f.mm(G[:, :, r], T_(v[:, :, r])) + g[:, :, r, None]) * tril(n)
        return Bm, n

    S, z = np.zeros((B, H, D, M)), np.zeros((B, H, D))
    kept = {}  # the Bm tiles of the forward pass, reused by the reverse pass
    for c0 in starts:  # forward pass: eq. 13 plus the normaliser
        r = slice(c0, min(c0 + c, T))
        Bm, _ = kept[c0] = tile(r)
        dQf[:, :, r] = f.mm(G[:, :, r], T_(S)) + g[:, :, r, None] * z[:, :, None, :] \
            + f.mm(Bm, Kf[:, :, r])
        S = S + f.mm(T_(Kf[:, :, r]), v[:, :, r])
        z = z + Kf[:, :, r].sum(2)
    U, u = np.zeros((B, H, D, M)), np.zeros((B, H, D))
    for c0 in reversed(starts):  # reverse pass: eqs. 14, 15 plus the normaliser
        r = slice(c0, min(c0 + c, T))
        Bm, n = kept[c0]
        dKf[:, :, r] = f.mm(v[:, :, r], T_(U)) + u[:, :, None, :] + f.mm(T_(Bm), Qf[:, :, r])
        A = f.mm(Qf[:, :, r], T_(Kf[:, :, r])) * tril(n)
        dv[:, :, r] = f.mm(Kf[:, :, r], U) + f.mm(T_(A), G[:, :, r])
        U = U + f.mm(T_(Qf[:, :, r]), G[:, :, r])
        u = u + np.einsum("bhnd,bhn->bhd", Qf[:, :, r], g[:, :, r])
    return dQf * phi_prime(q), dKf * phi_prime(k), dv


# ---- the checks ------------------------------------------------------------------------------

def inputs(B, H, T, D, M, seed, shift=0.0, spread=1.0):
    r = rng(seed)
    q = shift + spread * r.standard_normal((B, H, T, D))
    k = shift + spread * r.standard_normal((B, H, T, D))
    return q, k, r.standard_normal((B, H, T, M)), r.standard_normal((B, H, T, M))


def check_far(label, got, other, min_gap):
    """Passes when got is far from `other`: the relative gap max|got - other| / (1 + max|other|)
    is at least min_gap (a wrong formula must be told apart from the right one)."""
    gap = float(np.max(np.abs(got - other)) / (1 + np.max(np.abs(other))))
    check("%s (relative gap %.2f, needed >= %.2f)" % (label, gap, min_gap), float(gap >= min_gap), 1.0, tol=0)


def against_attn(tag, q, k, v, dout, causal, chunk, forms):
    """Every form in `forms` (name -> (out, dq, dk, dv), any of them None) against attn."""
    got = run_op("linear", {"q": q, "k": k, "v": v}, dout, causal=causal, chunk=chunk)
    for name, values in forms.items():
        for key, want in zip(("out", "dq", "dk", "dv"), values):
            if want is not None:
                check("%s %s: %s = attn" % (name, tag, key), got[key], want)
    return got


def phi_checks():
    x = np.concatenate([np.linspace(-6, -0.01, 50), np.linspace(0.01, 6, 50)])
    h = 1e-6
    check("(L1) phi = elu + 1", phi(x), np.where(x > 0, x, np.expm1(x)) + 1.0, tol=1e-12)
    check("(L1) phi' = finite differences of phi", phi_prime(x),
          (phi(x + h) - phi(x - h)) / (2 * h), tol=1e-8)


def naive_is_the_derivative():
    """The naive backward (L6, L7, L10) against central differences of L = sum(dO * out)."""
    for causal in (False, True):
        q, k, v, dout = inputs(1, 1, 6, 3, 2, seed=5)
        dq, dk, dv = naive_backward(q, k, v, dout, causal)
        for name, x, grad in (("q", q, dq), ("k", k, dk), ("v", v, dv)):
            numeric = np.zeros_like(x)
            for idx in np.ndindex(x.shape):
                old = x[idx]
                x[idx] = old + 1e-6
                up = (naive_forward(q, k, v, causal)[0] * dout).sum()
                x[idx] = old - 1e-6
                down = (naive_forward(q, k, v, causal)[0] * dout).sum()
                x[idx] = old
                numeric[idx] = (up - down) / 2e-6
            check("(L6, L7, L10) naive d%s = finite differences (%s)"
                  % (name, "causal" if causal else "non-causal"), grad, numeric, tol=1e-7)


def non_causal():
    B, H, T, D, M = 2, 2, 150, 8, 6
    q, k, v, dout = inputs(B, H, T, D, M, seed=1)
    out, _, _ = naive_forward(q, k, v, False)
    naive = (out,) + naive_backward(q, k, v, dout, False)
    assoc = (assoc_forward(q, k, v)[0],) + assoc_backward(q, k, v, dout)
    for key, a, b in zip(("out", "dq", "dk", "dv"), assoc, naive):
        check("(L3, L11) associative %s = naive T x T (L2, L7)" % key, a, b, tol=1e-10)
    against_attn("non-causal T=%d" % T, q, k, v, dout, False, None,
                 {"(L2, L7) naive": naive, "(L3, L6, L11, L10) associative": assoc})


def causal(T, chunks, seed):
    B, H, D, M = 2, 2, 8, 6
    q, k, v, dout = inputs(B, H, T, D, M, seed=seed)
    out, _, _ = naive_forward(q, k, v, True)
    naive = (out,) + naive_backward(q, k, v, dout, True)
    prefix = (prefix_forward(q, k, v)[0],) + prefix_backward(q, k, v, dout)
    rnn = rnn_forward(q, k, v)
    for key, a, b in zip(("out", "dq", "dk", "dv"), prefix, naive):
        check("(L4, L8, L9) prefix-sum %s = naive masked T x T (T=%d)" % (key, T), a, b, tol=1e-10)
    check("(L5) recurrent out = naive (T=%d)" % T, rnn, out, tol=1e-10)
    # the paper's eqs. 13-15 alone are the gradient of the numerator only: dv agrees (the
    # normaliser does not involve v), dq and dk do not.
    alone = prefix_backward(q, k, v, dout, normaliser=False)
    check("(L8) eqs. 13-15 alone give dv (T=%d)" % T, alone[2], naive[3], tol=1e-10)
    check_far("(L9) without the normaliser dq is wrong", alone[0], naive[1], 0.1)
    check_far("(L9) without the normaliser dk is wrong", alone[1], naive[2], 0.1)
    for c in chunks:
        chunked = chunk_forward(q, k, v, c)[:1] + chunk_backward(q, k, v, dout, c)
        for key, a, b in zip(("out", "dq", "dk", "dv"), chunked, naive):
            check("(L12, L13) chunked c=%d %s = naive (T=%d)" % (c, key, T), a, b, tol=1e-10)
        forms = {"(L12, L13) chunked": chunked}
        if c == chunks[0]:  # the chunk size does not change these; compare them once
            forms["(L4, L6, L8, L9, L10) prefix sums"] = prefix
            forms["(L5) recurrent"] = (rnn, None, None, None)
        against_attn("causal T=%d --chunk %d" % (T, c), q, k, v, dout, True, c, forms)


def eps_matters():
    """Very negative q and k: phi = e^x ~ 6e-6, so phi(q).z ~ 1e-8 and eps = 1e-6 dominates the
    denominator. attn must match the eps = 1e-6 formulas, and eps = 0 must be far off."""
    q, k, v, dout = inputs(2, 2, 150, 8, 6, seed=7, shift=-12.0, spread=0.5)
    v = v + 3.0  # values away from 0, so that the size of the denominator shows in out
    out, A, den = naive_forward(q, k, v, False)
    dq, dk, dv = naive_backward(q, k, v, dout, False)
    got = against_attn("eps regime", q, k, v, dout, False, None,
                       {"(L2, L7) naive with eps = 1e-6": (out, dq, dk, dv)})
    for eps in (0.0, 1e-5):
        check_far("(L2) attn's out is not the eps = %g one" % eps, got["out"],
                  naive_forward(q, k, v, False, eps=eps)[0], 0.1)


def flop_counts():
    """(L14) flops per token and head of the matrix products, T a multiple of c."""
    B, H, D, M = 1, 1, 8, 6
    q, k, v, dout = inputs(B, H, 128, D, M, seed=9)
    fwd, bwd = Flops(), Flops()
    assoc_forward(q, k, v, flops=fwd)
    assoc_backward(q, k, v, dout, flops=bwd)
    check("(L14) non-causal forward flops/token", fwd.n / 128, 4 * D * M, tol=0)
    check("(L14) non-causal backward flops/token", bwd.n / 128, 10 * D * M, tol=0)
    for T, c in ((128, 64), (140, 7)):
        q, k, v, dout = inputs(B, H, T, D, M, seed=9)
        fwd, bwd = Flops(), Flops()
        chunk_forward(q, k, v, c, flops=fwd)
        chunk_backward(q, k, v, dout, c, flops=bwd)
        check("(L14) causal forward flops/token, c=%d" % c, fwd.n / T, 2 * c * D + 2 * c * M + 4 * D * M, tol=0)
        check("(L14) causal backward flops/token, c=%d" % c, bwd.n / T, 6 * c * D + 4 * c * M + 10 * D * M, tol=0)


def main():
    phi_checks()
    naive_is_the_derivative()
    non_causal()
    causal(150, (64, 7, 1), seed=2)  # 64 + 64 + 22 rows; 7 does not divide 150; 1 row a chunk
    causal(40, (64,), seed=3)        # T smaller than one chunk: one chunk of T rows
    eps_matters()
    flop_counts()
    finish()


if __name__ == "__main__":
    main()
