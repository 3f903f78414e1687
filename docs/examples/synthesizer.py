"""Checks every labelled formula of docs/synthesizer.md against `attn op`.

The Synthesizer's logits (Dense, Random, factorized Dense, factorized Random, the mixture
with dot products) and the shared softmax tail, forward and backward, written naively in
float64 NumPy and compared with the float32 kernels. Each derived backward is also checked
against central finite differences of the NumPy forward, so the derivation itself is tested,
not only the kernel's agreement with it.

    /usr/bin/python3 docs/examples/synthesizer.py build/apps/attn
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attn_check import check, finish, rng, run_op  # noqa: E402

B, H, D = 2, 2, 8  # batch and heads above 1 everywhere


def visible(T, causal):
    """[T, T] booleans: may query i see key j? (Y5)'s mask."""
    return np.tril(np.ones((T, T), dtype=bool)) if causal else np.ones((T, T), dtype=bool)


def softmax_rows(Z, causal):
    """P = softmax(mask(Z)) over the last axis; masked entries are exactly 0."""
    Z = np.where(visible(Z.shape[-1], causal), Z, -np.inf)
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))
    return E / E.sum(axis=-1, keepdims=True)


# ---- the shared tail: (Y5) forward, (Y7)-(Y10) backward ----------------------------------

def tail_forward(S, V, causal):
    """(Y5): P = softmax(mask(S)), O = P V. S is [B or 1, H, T, T]; P is always [B, H, T, T]."""
    P = softmax_rows(np.broadcast_to(S, V.shape[:2] + S.shape[2:]), causal)
    return P, P @ V


def softmax_backward_rows(P, dP):
    """(Y9) the naive way: every row's full Jacobian J[j, k] = dp_j / ds_k = p_j (delta_jk - p_k),
    built as a T x T matrix per row, applied to dP's row: dS_k = sum_j dP_j J[j, k]."""
    T = P.shape[-1]
    J = np.eye(T) * P[..., :, None] - P[..., :, None] * P[..., None, :]  # [..., T, T] per row
    return np.einsum("...j,...jk->...k", dP, J)


def tail_backward(P, V, dO, shared):
    dV = np.swapaxes(P, -1, -2) @ dO  # (Y7)
    dP = dO @ np.swapaxes(V, -1, -2)  # (Y8)
    dS = softmax_backward_rows(P, dP)  # (Y9)
    if shared:
        dS = dS.sum(axis=0, keepdims=True)  # (Y10): one R for the whole batch
    return dS, dV


def directional(label, f, inputs, grads, seed):
    """Central finite difference of f (a float64 scalar) along a random direction, against
    the sum of <gradient, direction> from the derived formulas."""
    g = rng(seed)
    direction = {k: g.standard_normal(v.shape) for k, v in inputs.items()}
    eps = 1e-6
    plus = f({k: v + eps * direction[k] for k, v in inputs.items()})
    minus = f({k: v - eps * direction[k] for k, v in inputs.items()})
    want = sum(float(np.sum(grads[k] * direction[k])) for k in inputs)
    check(label + " (finite differences)", (plus - minus) / (2 * eps), want, tol=1e-6)


# ---- synthetic: per-example and shared logits ---------------------------------------------

def check_synthetic(T, shared, causal, seed):
    g = rng(seed)
    S = g.standard_normal((1 if shared else B, H, T, T)) * 2.0
    V, dO = g.standard_normal((B, H, T, D)), g.standard_normal((B, H, T, D))
    P, O = tail_forward(S, V, causal)
    dS, dV = tail_backward(P, V, dO, shared)
    got = run_op("synthetic", {"logits": S, "v": V}, dO, causal=causal)
    what = "synthetic T=%d %s%s" % (T, "shared [1,H,T,T]" if shared else "[B,H,T,T]",
                                     " causal" if causal else "")
    check(("(Y2,Y5)" if shared else "(Y5)") + " O = softmax(mask(S)) V, " + what, got["out"], O)
    check("(Y7) dV = P^T dO, " + what, got["dv"], dV)
    label = "(Y10) dR = sum over the batch of dS_n, " if shared else "(Y8,Y9) dS = P*(dP - rowsum(dP*P)), "
    check(label + what, got["dlogits"], dS)
    if causal:  # masked logits get no gradient
        check("(Y9) dS = 0 above the diagonal, " + what, got["dlogits"] * ~visible(T, True), np.zeros_like(dS))
    if shared and not causal and T < 40:  # the batch sum is not one example's gradient
        one = tail_backward(P[:1], V[:1], dO[:1], True)[0]
        assert np.max(np.abs(one - dS)) > 1e-2, "batch sum indistinguishable from one example"
    if T < 40:
        f = lambda x: np.sum(dO * tail_forward(x["S"], x["V"], causal)[1])
        directional("(Y7-Y10) tail gradients, " + what, f, {"S": S, "V": V}, {"S": dS, "V": dV}, seed + 1)


# ---- mixture: (Y6) forward, (Y11)-(Y12) backward ------------------------------------------

def sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def mixture_forward(Q, K, V, S, theta, causal):
    lam = sigmoid(theta[0])
    Z = (1 - lam) * Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]) + lam * S  # (Y6)
    P = softmax_rows(Z, causal)
    return P, P @ V


def mixture_backward(Q, K, V, S, theta, P, dO):
    lam, rootD = sigmoid(theta[0]), np.sqrt(Q.shape[-1])
    dP = dO @ np.swapaxes(V, -1, -2)  # (Y8)
    dV = np.swapaxes(P, -1, -2) @ dO  # (Y7)
    dZ = softmax_backward_rows(P, dP)  # (Y9) with Z in place of S
    dQ = (1 - lam) * dZ @ K / rootD  # (Y11)
    dK = (1 - lam) * np.swapaxes(dZ, -1, -2) @ Q / rootD  # (Y11)
    dS = lam * dZ  # (Y11)
    if S.shape[0] == 1:
        dS = dS.sum(axis=0, keepdims=True)  # (Y10)
    dlam = np.sum(dZ * (S - Q @ np.swapaxes(K, -1, -2) / rootD))  # (Y12), the direct form
    Gamma = dZ @ K / rootD
    dlam_kernel = np.sum(dZ * S) - np.sum(Q * Gamma)  # (Y12), the form the kernel uses
    check("(Y12) sum(dZ*(S - QK^T/sqrt(D))) = sum(dZ*S) - <Q, dZ K/sqrt(D)>", dlam_kernel, dlam, 1e-10)
    dtheta = np.array([dlam * lam * (1 - lam)])  # (Y12) through the sigmoid
    return dQ, dK, dV, dS, dtheta


def check_mixture(T, shared, causal, seed):
    g = rng(seed)
    Q, K, V, dO = (g.standard_normal((B, H, T, D)) for _ in range(4))
    S = g.standard_normal((1 if shared else B, H, T, T)) * 2.0
    theta = np.array([0.4])
    P, O = mixture_forward(Q, K, V, S, theta, causal)
    dQ, dK, dV, dS, dtheta = mixture_backward(Q, K, V, S, theta, P, dO)
    got = run_op("mixture", {"q": Q, "k": K, "v": V, "s": S, "alpha": theta}, dO, causal=causal)
    what = "mixture T=%d %s%s" % (T, "shared S" if shared else "S [B,H,T,T]", " causal" if causal else "")
    check("(Y6) O = softmax(mask((1-l) QK^T/sqrt(D) + l S)) V, " + what, got["out"], O)
    check("(Y7) dV = P^T dO, " + what, got["dv"], dV)
    check("(Y11) dQ = (1-l) dZ K / sqrt(D), " + what, got["dq"], dQ)
    check("(Y11) dK = (1-l) dZ^T Q / sqrt(D), " + what, got["dk"], dK)
    check("(Y11,Y10) dS = l dZ" + (" summed over the batch, " if shared else ", ") + what, got["ds"], dS)
    check("(Y12) dtheta = l(1-l) sum(dZ*(S - QK^T/sqrt(D))), " + what, got["dalpha"], dtheta)
    if T < 40:
        f = lambda x: np.sum(dO * mixture_forward(x["Q"], x["K"], x["V"], x["S"], x["t"], causal)[1])
        directional("(Y11,Y12) mixture gradients, " + what, f,
                    {"Q": Q, "K": K, "V": V, "S": S, "t": theta},
                    {"Q": dQ, "K": dK, "V": dV, "S": dS, "t": dtheta}, seed + 1)


# ---- synth-dense: (Y1) forward, (Y15) backward --------------------------------------------

def dense_logits(X, W1, b1, W2, b2, T):
    """(Y1): E = relu(X W1 + b1) W2 + b2, [B, T, H L]; S[n, h, i, j] = E[n, i, h L + j], j < T."""
    U = np.maximum(X @ W1 + b1, 0.0)
    E = U @ W2 + b2
    L = E.shape[-1] // H
    return E.reshape(B, T, H, L)[:, :, :, :T].transpose(0, 2, 1, 3)


def check_dense(T, L, C, causal, seed):
    g = rng(seed)
    X = g.standard_normal((B, T, C))
    W1, b1 = g.standard_normal((C, C)) / np.sqrt(C), 0.1 * g.standard_normal(C)
    W2, b2 = g.standard_normal((C, H * L)) / np.sqrt(C), 0.1 * g.standard_normal(H * L)
    V, dO = g.standard_normal((B, H, T, D)), g.standard_normal((B, H, T, D))
    S = dense_logits(X, W1, b1, W2, b2, T)
    P, O = tail_forward(S, V, causal)
    dS, dV = tail_backward(P, V, dO, shared=False)
    # (Y15), step by step
    Ubar = X @ W1 + b1
    U = np.maximum(Ubar, 0.0)
    dE = np.zeros((B, T, H, L))
    dE[:, :, :, :T] = dS.transpose(0, 2, 1, 3)  # the first T of each head's L; 0 beyond
    dE = dE.reshape(B, T, H * L)
    dW2 = np.einsum("nic,nio->co", U, dE)
    db2 = dE.sum(axis=(0, 1))
    dUbar = (dE @ W2.T) * (Ubar > 0)
    dW1 = np.einsum("nic,nio->co", X, dUbar)
    db1 = dUbar.sum(axis=(0, 1))
    dX = dUbar @ W1.T
    got = run_op("synth-dense", {"x": X, "w1": W1, "b1": b1, "w2": W2, "b2": b2, "v": V}, dO, causal=causal)
    what = "synth-dense T=%d L=%d%s" % (T, L, " causal" if causal else "")
    check("(Y1,Y5) O = softmax(mask(S_dense)) V, " + what, got["out"], O)
    check("(Y7) dV = P^T dO, " + what, got["dv"], dV)
    check("(Y15) dW2 = U^T dE (0 in columns j >= T), " + what, got["dw2"], dW2)
    check("(Y15) db2 = sum of dE rows, " + what, got["db2"], db2)
    check("(Y15) dW1 = X^T (dE W2^T * [Ubar > 0]), " + what, got["dw1"], dW1)
    check("(Y15) db1 = sum of dUbar rows, " + what, got["db1"], db1)
    check("(Y15) dX = dUbar W1^T, " + what, got["dx"], dX)
    assert np.all(dW2.reshape(C, H, L)[:, :, T:] == 0) and L > T
    f = lambda x: np.sum(dO * tail_forward(dense_logits(x["X"], x["W1"], x["b1"], x["W2"], x["b2"], T), V, causal)[1])
    directional("(Y15) Dense MLP gradients, " + what, f,
                {"X": X, "W1": W1, "b1": b1, "W2": W2, "b2": b2},
                {"X": dX, "W1": dW1, "b1": db1, "W2": dW2, "b2": db2}, seed + 1)


# ---- synth-fact-dense: (Y3) forward, (Y13) backward ---------------------------------------

def fact_dense_logits(A, G, T):
    """(Y3): S[n, h, i, j] = A[n, i, h, j mod a] * G[n, i, h, j div a] for j < T."""
    a = A.shape[-1]
    j = np.arange(T)
    return (A[..., j % a] * G[..., j // a]).transpose(0, 2, 1, 3)


def check_fact_dense(T, a, b, causal, seed):
    g = rng(seed)
    A, G = g.standard_normal((B, T, H, a)), g.standard_normal((B, T, H, b))
    V, dO = g.standard_normal((B, H, T, D)), g.standard_normal((B, H, T, D))
    S = fact_dense_logits(A, G, T)
    P, O = tail_forward(S, V, causal)
    dS, dV = tail_backward(P, V, dO, shared=False)
    dSt = dS.transpose(0, 2, 1, 3)  # [B, T, H, T] like A and G
    dA, dG = np.zeros_like(A), np.zeros_like(G)
    for r in range(a):  # (Y13): the keys j = r, r + a, r + 2a, ... below T
        for j in range(r, T, a):
            dA[..., r] += dSt[..., j] * G[..., j // a]
    for m in range(b):  # (Y13): the block of keys m a .. m a + a - 1 (cut at T)
        for j in range(m * a, min(m * a + a, T)):
            dG[..., m] += dSt[..., j] * A[..., j % a]
    got = run_op("synth-fact-dense", {"a": A, "b": G, "v": V}, dO, causal=causal)
    what = "synth-fact-dense T=%d a=%d b=%d%s" % (T, a, b, " causal" if causal else "")
    check("(Y3,Y5) O = softmax(mask(A tiled * G repeated)) V, " + what, got["out"], O)
    check("(Y7) dV = P^T dO, " + what, got["dv"], dV)
    check("(Y13) dA[i,r] = sum over j = r mod a of dS[i,j] G[i, j div a], " + what, got["da"], dA)
    check("(Y13) dG[i,m] = sum over block m of dS[i,j] A[i, j mod a], " + what, got["db"], dG)
    f = lambda x: np.sum(dO * tail_forward(fact_dense_logits(x["A"], x["G"], T), V, causal)[1])
    directional("(Y13) factorized Dense gradients, " + what, f, {"A": A, "G": G}, {"A": dA, "G": dG}, seed + 1)


# ---- synth-fact-random: (Y4) forward, (Y14) backward --------------------------------------

def fact_random_logits(R1, R2, T):
    """(Y4): S = R1[:, :T] R2[:, :T]^T, [1, H, T, T], shared by the batch."""
    return (R1[:, :T] @ np.swapaxes(R2[:, :T], -1, -2))[None]


def check_fact_random(T, L, r, causal, seed):
    g = rng(seed)
    R1, R2 = g.standard_normal((H, L, r)), g.standard_normal((H, L, r))
    V, dO = g.standard_normal((B, H, T, D)), g.standard_normal((B, H, T, D))
    S = fact_random_logits(R1, R2, T)
    P, O = tail_forward(S, V, causal)
    dS, dV = tail_backward(P, V, dO, shared=True)  # (Y10): [1, H, T, T]
    dR1, dR2 = np.zeros_like(R1), np.zeros_like(R2)
    dR1[:, :T] = dS[0] @ R2[:, :T]  # (Y14)
    dR2[:, :T] = np.swapaxes(dS[0], -1, -2) @ R1[:, :T]  # (Y14); rows >= T stay 0
    got = run_op("synth-fact-random", {"r1": R1, "r2": R2, "v": V}, dO, causal=causal)
    what = "synth-fact-random T=%d L=%d r=%d%s" % (T, L, r, " causal" if causal else "")
    check("(Y4,Y5) O = softmax(mask(R1 R2^T)) V, " + what, got["out"], O)
    check("(Y7) dV = P^T dO, " + what, got["dv"], dV)
    check("(Y14,Y10) dR1 = (sum_n dS_n) R2 (rows >= T: 0), " + what, got["dr1"], dR1)
    check("(Y14,Y10) dR2 = (sum_n dS_n)^T R1 (rows >= T: 0), " + what, got["dr2"], dR2)
    f = lambda x: np.sum(dO * tail_forward(fact_random_logits(x["R1"], x["R2"], T), V, causal)[1])
    directional("(Y14) factorized Random gradients, " + what, f, {"R1": R1, "R2": R2}, {"R1": dR1, "R2": dR2}, seed + 1)


def main():
    seed = 100
    for causal in (False, True):
        # T = 96 puts B H T T above the kernels' 2^15 threshold for OpenMP loops.
        for T in (23, 96):
            for shared in (False, True):  # shared: the Random Synthesizer's [1, H, T, T]
                check_synthetic(T, shared, causal, seed)
                seed += 10
        for T in (37, 96):
            for shared in (False, True):
                check_mixture(T, shared, causal, seed)
                seed += 10
        check_dense(31, 36, 12, causal, seed)
        seed += 10
        check_fact_dense(29, 6, 5, causal, seed)  # a b = 30: the last block is cut at T
        seed += 10
        check_fact_dense(29, 4, 9, causal, seed)  # a b = 36: block 8 lies past T entirely
        seed += 10
        check_fact_random(26, 32, 4, causal, seed)  # L > T: rows T..L-1 get no gradient
        seed += 10
    finish()


if __name__ == "__main__":
    main()
