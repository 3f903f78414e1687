"""Checks every numbered formula of docs/linformer.md, (P1) to (P8), against `attn op linformer`.

Naive float64 NumPy: the projections K' = E K, V' = F V one (batch, head) at a time, softmax
attention over the Kp projected keys, its backward, and the projection's backward. The same
inputs go through `attn op linformer` (float32 kernels) and every output and gradient must
agree. Kp never divides T. Run:

    /usr/bin/python3 docs/examples/linformer.py build/apps/attn
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attn_check import check, finish, rng, run_op  # noqa: E402


def expect(label, ok, detail):
    """A yes/no fact (a change that must happen): printed like check(), counted by finish()."""
    print("%s %s: %s" % ("ok  " if ok else "FAIL", label, detail))
    if not ok:
        check(label, 1.0, 0.0, tol=0.0)  # registers the failure


# ---------------------------------------------------------------------------------------
# The page's formulas, naively
# ---------------------------------------------------------------------------------------

def head_projection(E, h):
    """E for head h: the shared [Kp, T] matrix, or row h of a per-head [H, Kp, T] one."""
    return E if E.ndim == 2 else E[h]


def project(E, X):
    """(P1) X' = E X along the sequence, one (b, h) at a time: [B, H, T, D] -> [B, H, Kp, D]."""
    B, H, T, D = X.shape
    out = np.zeros((B, H, E.shape[-2], D))
    for b in range(B):
        for h in range(H):
            out[b, h] = head_projection(E, h) @ X[b, h]
    return out


def attention_forward(q, kp, vp):
    """(P2) O = softmax(Q K'^T / sqrt(D)) V'. Returns O and the weights P [B, H, T, Kp]."""
    s = q @ kp.swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return p @ vp, p


def attention_backward(q, kp, vp, p, o, do):
    """(P3) dV' = P^T dO, dP = dO V'^T, dS = P * (dP - rowsum(dO * O)), dQ = dS K' / sqrt(D),
    dK' = dS^T Q / sqrt(D)."""
    scale = 1.0 / np.sqrt(q.shape[-1])
    dvp = p.swapaxes(-1, -2) @ do
    dp = do @ vp.swapaxes(-1, -2)
    ds = p * (dp - (do * o).sum(axis=-1, keepdims=True))
    return scale * ds @ kp, scale * ds.swapaxes(-1, -2) @ q, dvp


def projection_backward(E, X, dXp):
    """(P4) dE = sum over b (and h when E is shared) of dK' K^T; (P5) dK = E^T dK'."""
    B, H = X.shape[:2]
    dE, dX = np.zeros_like(E), np.zeros_like(X)
    for b in range(B):
        for h in range(H):
            term = dXp[b, h] @ X[b, h].T  # [Kp, D] x [D, T] -> [Kp, T]
            if E.ndim == 2:
                dE += term  # shared: summed over the batch and the heads
            else:
                dE[h] += term  # per head: summed over the batch only
            dX[b, h] = head_projection(E, h).T @ dXp[b, h]
    return dE, dX


def linformer(q, k, v, e, f):
    kp, vp = project(e, k), project(f, v)
    o, p = attention_forward(q, kp, vp)
    return o, (kp, vp, p)


def linformer_backward(q, k, v, e, f, do):
    o, (kp, vp, p) = linformer(q, k, v, e, f)
    dq, dkp, dvp = attention_backward(q, kp, vp, p, o, do)
    de, dk = projection_backward(e, k, dkp)
    df, dv = projection_backward(f, v, dvp)
    return {"out": o, "dq": dq, "dk": dk, "dv": dv, "de": de, "df": df}


def random_case(g, B, H, T, D, Kp, per_head_e, per_head_f):
    """Inputs like the model's: q, k, v ~ N(0, 1); E, F ~ N(0, 1/T) (std 1/sqrt(L), L = T)."""
    shape = lambda per_head: (H, Kp, T) if per_head else (Kp, T)  # noqa: E731
    return {"q": g.standard_normal((B, H, T, D)), "k": g.standard_normal((B, H, T, D)),
            "v": g.standard_normal((B, H, T, D)),
            "e": g.standard_normal(shape(per_head_e)) / np.sqrt(T),
            "f": g.standard_normal(shape(per_head_f)) / np.sqrt(T)}


def float32(arrays):
    """What the kernel sees: the NumPy reference runs on the same float32-rounded inputs."""
    return {n: np.asarray(a, dtype=np.float32).astype(np.float64) for n, a in arrays.items()}


# ---------------------------------------------------------------------------------------
# 1. Shared [Kp, T] and per-head [H, Kp, T] projections: out, dq, dk, dv, de, df
# ---------------------------------------------------------------------------------------
cases = [  # name, B, H, T, D, Kp, per-head E, per-head F
    ("shared [Kp,T]", 2, 2, 77, 8, 12, False, False),
    ("per-head [H,Kp,T]", 2, 2, 150, 16, 16, True, True),
    ("E shared, F per head", 2, 2, 53, 8, 7, False, True),
]
labels = {"out": "(P1)+(P2) out = softmax(Q (E K)^T / sqrt(D)) F V",
          "dq": "(P3) dQ = dS K' / sqrt(D)",
          "dk": "(P3)+(P5) dK = E^T dK'",
          "dv": "(P3)+(P5) dV = F^T dV'",
          "de": "(P4) dE = sum dK' K^T",
          "df": "(P4) dF = sum dV' V^T"}
for seed, (name, B, H, T, D, Kp, pe, pf) in enumerate(cases):
    g = rng(seed)
    inputs = float32(random_case(g, B, H, T, D, Kp, pe, pf))
    dout = np.asarray(g.standard_normal((B, H, T, D)), dtype=np.float32).astype(np.float64)
    got = run_op("linformer", inputs, dout)
    want = linformer_backward(inputs["q"], inputs["k"], inputs["v"], inputs["e"], inputs["f"], dout)
    print("-- %s: B=%d H=%d T=%d D=%d Kp=%d" % (name, B, H, T, D, Kp))
    for key in ["out", "dq", "dk", "dv", "de", "df"]:
        check("%s [%s]" % (labels[key], name), got[key], want[key])


# ---------------------------------------------------------------------------------------
# 2. Derivatives by central differences in float64, for the sharing modes
# ---------------------------------------------------------------------------------------

def numeric_gradient(loss, G, step=1e-5):
    """d loss / d G, one entry at a time: (loss(G + h) - loss(G - h)) / 2h."""
    grad = np.zeros_like(G)
    for index in np.ndindex(*G.shape):
        up, down = G.copy(), G.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (loss(up) - loss(down)) / (2 * step)
    return grad


# (P6) share=kv: one G is both E and F. `attn op` reads e and f as two inputs; passing the same
# array as both, the shared parameter's gradient is de + df.
g = rng(10)
B, H, T, D, Kp = 2, 2, 53, 8, 7
case = float32(random_case(g, B, H, T, D, Kp, False, False))
q, k, v, G = case["q"], case["k"], case["v"], case["e"]
dout = np.asarray(g.standard_normal((B, H, T, D)), dtype=np.float32).astype(np.float64)
got = run_op("linformer", {"q": q, "k": k, "v": v, "e": G, "f": G}, dout)
numeric = numeric_gradient(lambda E: np.sum(dout * linformer(q, k, v, E, E)[0]), G)
analytic = linformer_backward(q, k, v, G, G, dout)
print("-- share=kv: B=%d H=%d T=%d D=%d Kp=%d" % (B, H, T, D, Kp))
check("(P6) kv: dG = dE + dF (analytic, both uses) = central differences",
      analytic["de"] + analytic["df"], numeric)
check("(P6) kv: attn op's de + df = central differences of G used twice",
      got["de"] + got["df"], numeric)
miss = np.max(np.abs(got["de"] - numeric)) / (1 + np.max(np.abs(numeric)))
expect("(P6) kv: de alone is not the gradient (the value path is missing)", miss > 1e-2,
       "relative gap %.2e" % miss)

# (P7) share=layerwise: one G is E and F in every layer. Two layers, the second reading the
# first's output as its q, k and v: x -> O1 = lin(x, x, x; G, G) -> O2 = lin(O1, O1, O1; G, G).
# The backward runs layer 2, hands dq + dk + dv to layer 1 as its dout, and sums all four
# projection gradients.
g = rng(11)
B, H, T, D, Kp = 2, 2, 41, 8, 5
case = float32(random_case(g, B, H, T, D, Kp, False, False))
x, G = case["q"], case["e"]
dout = np.asarray(g.standard_normal((B, H, T, D)), dtype=np.float32).astype(np.float64)


def two_layers(E):
    o1 = linformer(x, x, x, E, E)[0]
    return linformer(o1, o1, o1, E, E)[0]


o1 = run_op("linformer", {"q": x, "k": x, "v": x, "e": G, "f": G}, np.zeros_like(x))["out"]
layer2 = run_op("linformer", {"q": o1, "k": o1, "v": o1, "e": G, "f": G}, dout)
layer1 = run_op("linformer", {"q": x, "k": x, "v": x, "e": G, "f": G},
                layer2["dq"] + layer2["dk"] + layer2["dv"])
numeric = numeric_gradient(lambda E: np.sum(dout * two_layers(E)), G)
print("-- share=layerwise, 2 layers: B=%d H=%d T=%d D=%d Kp=%d" % (B, H, T, D, Kp))
check("(P1)+(P2) two layers: attn op's output = NumPy's", layer2["out"], two_layers(G))
check("(P7) layerwise: sum over layers of (dE + dF) = central differences",
      layer1["de"] + layer1["df"] + layer2["de"] + layer2["df"], numeric)


# ---------------------------------------------------------------------------------------
# 3. (P8) Not causal: the output at position 0 depends on the key at position T - 1
# ---------------------------------------------------------------------------------------
g = rng(12)
B, H, T, D, Kp = 2, 2, 60, 8, 9
inputs = float32(random_case(g, B, H, T, D, Kp, False, False))
q, k, v, E, F = (inputs[n] for n in "qkvef")
print("-- not causal: B=%d H=%d T=%d D=%d Kp=%d" % (B, H, T, D, Kp))

# An upstream gradient on query 0 alone: row 0 of dS is the only non-zero row, and
# dK_t = (1/sqrt(D)) (sum_r E[r, t] dS[0, r]) q_0 for every position t, the last one included.
dout = np.zeros((B, H, T, D))
dout[:, :, 0] = np.asarray(g.standard_normal((B, H, D)), dtype=np.float32)
got = run_op("linformer", inputs, dout)
o, (kp, vp, p) = linformer(q, k, v, E, F)
dp0 = np.einsum("bhd,bhrd->bhr", dout[:, :, 0], vp)  # row 0 of dP = dO V'^T
ds0 = p[:, :, 0] * (dp0 - (dout[:, :, 0] * o[:, :, 0]).sum(axis=-1, keepdims=True))  # [B, H, Kp]
want = np.einsum("rt,bhr,bhd->bhtd", E, ds0, q[:, :, 0]) / np.sqrt(D)
check("(P8) dK_t from query 0 alone = (E^T dS_0) q_0 / sqrt(D)", got["dk"], want)
last = np.max(np.abs(got["dk"][:, :, T - 1]))
expect("(P8) query 0's gradient reaches the key at T-1", last > 1e-3, "max |dK[T-1]| = %.3e" % last)

# Change the last key (and nothing else): the output at position 0 moves.
k2 = k.copy()
k2[:, :, T - 1] += np.asarray(g.standard_normal((B, H, D)), dtype=np.float32)
before = run_op("linformer", inputs, np.zeros((B, H, T, D)))["out"]
after = run_op("linformer", dict(inputs, k=k2), np.zeros((B, H, T, D)))["out"]
moved = after[:, :, 0] - before[:, :, 0]
check("(P8) change of out[0] when K[T-1] changes = NumPy's",
      moved, linformer(q, k2, v, E, F)[0][:, :, 0] - linformer(q, k, v, E, F)[0][:, :, 0])
expect("(P8) out[0] moves when a future key moves", np.max(np.abs(moved)) > 1e-3,
       "max |change| = %.3e" % np.max(np.abs(moved)))

# A mask applied after the projection does not help. Let query i see only projected keys
# r <= i (any mask over the Kp columns fails the same way): query 0 then reads K'_0, V'_0
# alone, and V'_0 = sum_t F[0, t] V_t still holds the future values; query 1 reads K'_0 and
# K'_1, both of which hold K_{T-1}.
def masked_after_projection(q, k, v, e, f):
    kp, vp = project(e, k), project(f, v)
    s = q @ kp.swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    s = np.where(np.arange(Kp)[None, :] <= np.arange(T)[:, None], s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ vp


v2 = v.copy()
v2[:, :, T - 1] += 1.0
base = masked_after_projection(q, k, v, E, F)
by_value = np.max(np.abs(masked_after_projection(q, k, v2, E, F)[:, :, 0] - base[:, :, 0]))
by_key = np.max(np.abs(masked_after_projection(q, k2, v, E, F)[:, :, 1] - base[:, :, 1]))
expect("(P8) masked after projection: out[0] moves when V[T-1] moves", by_value > 1e-3,
       "max |change| = %.3e" % by_value)
expect("(P8) masked after projection: out[1] moves when K[T-1] moves", by_key > 1e-3,
       "max |change| = %.3e" % by_key)

# And the operator refuses --causal outright.
try:
    run_op("linformer", inputs, np.zeros((B, H, T, D)), causal=True)
    refused, message = False, "ran"
except subprocess.CalledProcessError as error:
    refused, message = "cannot be causal" in error.stderr, error.stderr.strip()
expect("attn op linformer --causal is refused", refused, message)

finish()
