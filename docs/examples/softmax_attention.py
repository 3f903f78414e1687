"""Checks every numbered formula of docs/softmax_attention.md, (S1) to (S17).

The naive float64 forms (S1)-(S4) and (S7)-(S11) hold whole T x T matrices; the tiled
forms (S5), (S6), (S12), (S13) loop over tiles of the kernel's sizes exactly as
attention/softmax_attention.cpp does. Both are compared with each other and with
`attn op softmax` (float32), causal and non-causal, with T crossing the kernel's tiles.

    /usr/bin/python3 docs/examples/softmax_attention.py build/apps/attn
"""
import numpy as np

from attn_check import check, finish, rng, run_op

# SoftmaxAttentionOptions::Tiles in attention/softmax_attention.h (query rows x key rows).
FWD_Q, FWD_K, BWD_Q, BWD_K = 128, 512, 128, 256


# ---- the naive forms: every T x T matrix is formed -------------------------------------
def scores(q, k, causal):
    """(S1) S = Q K^T / sqrt(D); causal: S[i, j] = -inf for j > i."""
    S = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    if causal:
        Tq, Tk = S.shape[-2:]
        S = np.where(np.arange(Tk)[None, :] > np.arange(Tq)[:, None], -np.inf, S)
    return S


def naive_forward(q, k, v, causal):
    S = scores(q, k, causal)
    m = S.max(-1, keepdims=True)
    E = np.exp(S - m)
    P = E / E.sum(-1, keepdims=True)           # (S2) P = softmax(S), row by row
    O = P @ v                                   # (S3) O = P V
    lse = m[..., 0] + np.log(E.sum(-1))         # (S4) lse = m + log sum e^(S - m)
    return S, P, O, lse


def naive_backward(q, k, v, P, dO):
    c = 1.0 / np.sqrt(q.shape[-1])
    dV = P.swapaxes(-1, -2) @ dO                # (S7) dV = P^T dO
    dP = dO @ v.swapaxes(-1, -2)                # (S8) dP = dO V^T
    row = (P * dP).sum(-1, keepdims=True)       # rowsum(P * dP)
    dS = P * (dP - row)                         # (S9) dS = P * (dP - rowsum(P * dP))
    dQ = c * dS @ k                             # (S11) dQ = c dS K
    dK = c * dS.swapaxes(-1, -2) @ q            # (S11) dK = c dS^T Q
    return dQ, dK, dV, dP


# ---- the tiled forms, loop for loop as in softmax_attention_forward / _backward ----------
def tiled_forward(q, k, v, causal, tile_q=FWD_Q, tile_k=FWD_K, work=None):
    """(S5), (S6), (S13): online softmax over key tiles; returns out and lse only."""
    B, H, Tq, D = q.shape
    Tk, c = k.shape[2], 1.0 / np.sqrt(D)
    out, lse = np.zeros((B, H, Tq, D)), np.zeros((B, H, Tq))
    for i0 in range(0, Tq, tile_q):
        rows = min(tile_q, Tq - i0)
        Qi = q[:, :, i0:i0 + rows]
        m = np.full((B, H, rows), -np.inf)      # running max
        l = np.zeros((B, H, rows))              # running sum of e^(S - m)
        acc = np.zeros((B, H, rows, D))         # running sum of e^(S - m) V, not yet divided
        key_end = min(i0 + rows, Tk) if causal else Tk  # (S13) later key tiles: skipped
        for j0 in range(0, key_end, tile_k):
            cols = min(tile_k, key_end - j0)
            S = c * Qi @ k[:, :, j0:j0 + cols].swapaxes(-1, -2)
            if causal:                          # inside the diagonal tile: key > query
                hidden = j0 + np.arange(cols)[None, :] > i0 + np.arange(rows)[:, None]
                S = np.where(hidden, -np.inf, S)
            m_new = np.maximum(m, S.max(-1))                      # (S5)
            correction = np.exp(m - m_new)                        # (S5) 0 on the first tile
            Pt = np.exp(S - m_new[..., None])
            l = l * correction + Pt.sum(-1)                       # (S5)
            acc = acc * correction[..., None] + Pt @ v[:, :, j0:j0 + cols]  # (S5)
            m = m_new
            if work is not None:
                work["fwd"] += 2 * (2 * B * H * rows * cols * D)  # S tile and P V
        out[:, :, i0:i0 + rows] = acc / l[..., None]              # (S6)
        lse[:, :, i0:i0 + rows] = m + np.log(l)                   # (S6)
    return out, lse


def tiled_backward(q, k, v, out, lse, dO, causal, tile_q=BWD_Q, tile_k=BWD_K, work=None):
    """(S10), (S12), (S13): P recomputed per tile from q, k and lse; nothing T x T kept."""
    B, H, Tq, D = q.shape
    Tk, c = k.shape[2], 1.0 / np.sqrt(D)
    delta = (dO * out).sum(-1)                                    # (S10) D = rowsum(dO * O)
    dQ, dK, dV = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    for j0 in range(0, Tk, tile_k):                               # outer loop: key tiles
        tile_cols = min(tile_k, Tk - j0)
        first_row = j0 // tile_q * tile_q if causal else 0        # (S13) earlier rows skipped
        for i0 in range(first_row, Tq, tile_q):                   # inner loop: query tiles
            rows = min(tile_q, Tq - i0)
            cols = min(tile_cols, i0 + rows - j0) if causal else tile_cols  # (S13) cut
            Qi, dOi = q[:, :, i0:i0 + rows], dO[:, :, i0:i0 + rows]
            Kj, Vj = k[:, :, j0:j0 + cols], v[:, :, j0:j0 + cols]
            Pt = np.exp(c * Qi @ Kj.swapaxes(-1, -2) - lse[:, :, i0:i0 + rows, None])  # (S12)
            if causal:
                hidden = j0 + np.arange(cols)[None, :] > i0 + np.arange(rows)[:, None]
                Pt = np.where(hidden, 0.0, Pt)
            dV[:, :, j0:j0 + cols] += Pt.swapaxes(-1, -2) @ dOi                 # (S12)
            dPt = dOi @ Vj.swapaxes(-1, -2)                                     # (S12)
            dSt = Pt * (dPt - delta[:, :, i0:i0 + rows, None])                  # (S12)
            dQ[:, :, i0:i0 + rows] += c * dSt @ Kj                              # (S12)
            dK[:, :, j0:j0 + cols] += c * dSt.swapaxes(-1, -2) @ Qi             # (S12)
            if work is not None:
                work["bwd"] += 5 * (2 * B * H * rows * cols * D)  # S, dV, dP, dQ, dK
    return dQ, dK, dV


def causal_cells(Tq, Tk, tile_q, tile_k):
    """Brute force: in each (query tile, key tile) pair, rows x the key columns that at least
    one of its queries may see (key <= query). (S13) says the kernels visit exactly these."""
    cells = 0
    for i0 in range(0, Tq, tile_q):
        rows = np.arange(i0, min(i0 + tile_q, Tq))
        for j0 in range(0, Tk, tile_k):
            keys = np.arange(j0, min(j0 + tile_k, Tk))
            cells += len(rows) * int((keys[None, :] <= rows[:, None]).any(0).sum())
    return cells


def float32(x):
    """Round to float32 first, so that attn and NumPy see exactly the same inputs."""
    return x.astype(np.float32).astype(np.float64)


def one_case(label, B, H, Tq, Tk, D, causal, seed):
    g = rng(seed)
    q, k = float32(1.5 * g.standard_normal((B, H, Tq, D))), float32(1.5 * g.standard_normal((B, H, Tk, D)))
    v, dO = float32(g.standard_normal((B, H, Tk, D))), float32(g.standard_normal((B, H, Tq, D)))
    got = run_op("softmax", {"q": q, "k": k, "v": v}, dO, causal=causal)
    S, P, O, lse = naive_forward(q, k, v, causal)
    dQ, dK, dV, dP = naive_backward(q, k, v, P, dO)
    tag = " [%s]" % label

    check("(S1), (S2), (S3) O = softmax(Q K^T / sqrt(D)) V, attn out" + tag, got["out"], O)
    check("(S4) P = exp(S - lse) is the softmax" + tag, np.exp(S - lse[..., None]), P, tol=1e-12)
    check("(S7) dV = P^T dO, attn dv" + tag, got["dv"], dV)
    check("(S8), (S9), (S11) dQ = dS K / sqrt(D), attn dq" + tag, got["dq"], dQ)
    check("(S8), (S9), (S11) dK = dS^T Q / sqrt(D), attn dk" + tag, got["dk"], dK)
    check("(S10) rowsum(dO * O) = rowsum(dP * P)" + tag, (dO * O).sum(-1), (dP * P).sum(-1), tol=1e-12)

    work = {"fwd": 0, "bwd": 0}
    t_out, t_lse = tiled_forward(q, k, v, causal, work=work)
    check("(S5), (S6), (S13) tiled online-softmax forward = naive O" + tag, t_out, O, tol=1e-12)
    check("(S6) tiled lse = m + log l = naive lse" + tag, t_lse, lse, tol=1e-12)
    check("(S5), (S6), (S13) tiled forward = attn out" + tag, got["out"], t_out)
    saved = t_out.size + t_lse.size   # all the tiled backward below is given besides q, k, v
    check("(S14) saved floats = B H Tq (D + 1)" + tag, saved, B * H * Tq * (D + 1), tol=0)

    # The tiled backward reads attn's own out (float32) and the lse of the tiled forward.
    t_dq, t_dk, t_dv = tiled_backward(q, k, v, got["out"], t_lse, dO, causal, work=work)
    t_ref = tiled_backward(q, k, v, O, lse, dO, causal)
    for name, ref, naive, mine in (("dq", t_ref[0], dQ, t_dq), ("dk", t_ref[1], dK, t_dk),
                                   ("dv", t_ref[2], dV, t_dv)):
        check("(S10), (S12), (S13) tiled backward %s = naive%s" % (name, tag), ref, naive, tol=1e-12)
        check("(S10), (S12), (S13) tiled backward %s = attn %s%s" % (name, name, tag), got[name], mine)

    if not causal:
        check("(S15) forward flops 4 Tq Tk D per head" + tag, work["fwd"], 4 * B * H * Tq * Tk * D, tol=0)
        check("(S15) backward flops 10 Tq Tk D per head" + tag, work["bwd"], 10 * B * H * Tq * Tk * D, tol=0)
    elif Tq % FWD_Q == 0:
        check("(S15) causal forward flops 2 D T (T + 128) per head" + tag, work["fwd"],
              B * H * 2 * D * Tq * (Tq + FWD_Q), tol=0)
    if causal:
        check("(S13) causal forward visits only cells of tiles at or below the diagonal" + tag,
              work["fwd"], 4 * B * H * D * causal_cells(Tq, Tk, FWD_Q, FWD_K), tol=0)
        check("(S13) causal backward visits only cells of tiles at or below the diagonal" + tag,
              work["bwd"], 10 * B * H * D * causal_cells(Tq, Tk, BWD_Q, BWD_K), tol=0)
        full = 10 * B * H * Tq * Tk * D
        print("     causal backward does %.1f%% of the non-causal work%s" % (100.0 * work["bwd"] / full, tag))
    return q, k, v, got


def kv_cache_step(q_row, K_prefix, V_prefix):
    """(S17) softmax_attention_step for one head: the newest query against the cache."""
    s = K_prefix @ q_row / np.sqrt(q_row.shape[-1])
    p = np.exp(s - s.max())
    return (p / p.sum()) @ V_prefix


def main():
    one_case("non-causal T=600", 2, 2, 600, 600, 16, False, seed=1)
    q, k, v, got = one_case("causal T=600", 2, 2, 600, 600, 16, True, seed=2)
    one_case("causal T=640", 2, 2, 640, 640, 16, True, seed=3)
    one_case("non-causal Tq=300 Tk=700", 2, 2, 300, 700, 16, False, seed=4)

    # (S17) the generation step: row t of the causal output, from the first t + 1 keys only.
    for b, h, t in ((0, 0, 0), (1, 1, 300), (0, 1, 599)):
        check("(S17) KV-cache step = causal attn out row %d" % t, got["out"][b, h, t],
              kv_cache_step(q[b, h, t], k[b, h, :t + 1], v[b, h, :t + 1]))

    # (S16) the packed [B, T, 3C] input: q, k, v heads side by side, as split_heads reads them.
    B, H, T, D = q.shape
    C = H * D
    qkv = np.concatenate([x.transpose(0, 2, 1, 3).reshape(B, T, C) for x in (q, k, v)], -1)
    flat = qkv.reshape(-1)
    b, h, t, d = np.ix_(np.arange(B), np.arange(H), np.arange(T), np.arange(D))
    index = b * (T * 3 * C) + h * D + t * (3 * C) + d   # HeadLayout{T 3C, D, 3C}
    for name, offset, x in (("q", 0, q), ("k", C, k), ("v", 2 * C, v)):
        check("(S16) packed %s at offset %s" % (name, ["0", "C", "2C"][offset // C]),
              flat[index + offset], x, tol=0)
    out_packed = np.zeros(B * T * C)
    out_packed[b * (T * C) + h * D + t * C + d] = got["out"]  # HeadLayout{T C, D, C}
    check("(S16) packed out [B, T, C] = heads merged", out_packed.reshape(B, T, C),
          got["out"].transpose(0, 2, 1, 3).reshape(B, T, C), tol=0)

    # The tiled algorithms do not depend on the tile sizes: tiny, odd tiles, many per axis.
    g = rng(5)
    for causal in (False, True):
        q, k, v, dO = (g.standard_normal((2, 2, 50, 8)) for _ in range(4))
        S, P, O, lse = naive_forward(q, k, v, causal)
        dQ, dK, dV, _ = naive_backward(q, k, v, P, dO)
        t_out, t_lse = tiled_forward(q, k, v, causal, tile_q=7, tile_k=11)
        grads = tiled_backward(q, k, v, t_out, t_lse, dO, causal, tile_q=5, tile_k=3)
        tag = " [tiles 7x11 and 5x3, %s]" % ("causal" if causal else "non-causal")
        check("(S5), (S6), (S13) tiled forward" + tag, t_out, O, tol=1e-12)
        check("(S12), (S13) tiled backward dq, dk, dv" + tag, np.concatenate(grads, 2),
              np.concatenate([dQ, dK, dV], 2), tol=1e-12)

    # (S9) the softmax Jacobian: one row's full Jacobian diag(p) - p p^T applied to dP.
    g = rng(6)
    s, dp = g.standard_normal(9), g.standard_normal(9)
    p = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
    jacobian = np.diag(p) - np.outer(p, p)      # d p_j / d s_k = p_j (delta_jk - p_k)
    check("(S9) P * (dP - rowsum(P * dP)) = J^T dP", p * (dp - (p * dp).sum()), jacobian.T @ dp,
          tol=1e-12)
    finish()


if __name__ == "__main__":
    main()
