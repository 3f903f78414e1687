"""Checks docs/engine.md: the checkpoint layout (its section 6), the model's forward
(E1)-(E11), the backward of one training step (E2), (E3), (E5), (E12)-(E15) and the optimizer
step (E16)-(E19).

1. `attn train` fits a tiny char-level model (2 layers, 2 heads, width 32, context 32) to a
   few KB of generated text, once with a tied and once with an untied output head.
2. A 20-line safetensors reader loads each checkpoint; every tensor name, shape and metadata
   key must be the documented ones, and the FNV-1a checksum must match the data.
3. The whole model runs forward in float64 NumPy from those weights and must reproduce the
   logits `attn eval --logits` writes within 1e-4.
4. `attn train --init-from` continues the tied model for 2 steps on a text of exactly L + 1
   characters: every batch is then that one window, so NumPy can redo each step. The AdamW
   moments of the checkpoints after step 1 and step 2 reveal the engine's clipped gradients
   (m1 = (1 - beta1) g1); they must equal NumPy's backward pass, and the parameters must move
   as AdamW says. metrics.jsonl's loss, grad_norm and lr are checked too.

    /usr/bin/python3 docs/examples/checkpoint_logits.py build/apps/attn
"""
import json
import os
import struct
import subprocess
import tempfile

import numpy as np

from attn_check import attn_binary, check, finish

L, C, H, LAYERS = 32, 32, 2, 2  # context (max length), width, heads, blocks
EPS_LN, GELU_K = 1e-5, np.sqrt(2.0 / np.pi)


def read_safetensors(path):
    """{name: float64 array} in data order, and the metadata, of a safetensors file (F32)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])          # header length: u64, little-endian
    header = json.loads(blob[8:8 + n])            # JSON: name -> dtype, shape, data_offsets
    meta = header.pop("__metadata__")             # string -> string
    data = blob[8 + n:]                           # the tensors' bytes, back to back
    tensors, end_of_last = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]         # byte range within `data`
        assert info["dtype"] == "F32" and begin == end_of_last, (name, info)
        values = np.frombuffer(data[begin:end], dtype="<f4")
        tensors[name] = values.reshape(info["shape"]).astype(np.float64)
        end_of_last = end
    assert end_of_last == len(data) and n % 8 == 0, "data must follow the padded header exactly"
    return tensors, meta


def fnv1a64(data, h=0xcbf29ce484222325):
    """Standard FNV-1a 64 (offset basis 14695981039346656037, prime 1099511628211)."""
    for byte in data:
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def parameter_shapes(V, tied):
    """The documented layout: every parameter in registration (arena) order."""
    shapes = [("wte.weight", (V, C)), ("wpe.weight", (L, C))]
    for l in range(LAYERS):
        p = "blocks.%d." % l
        shapes += [(p + "ln_1.weight", (C,)), (p + "ln_1.bias", (C,)),
                   (p + "attn.c_attn.weight", (C, 3 * C)), (p + "attn.c_attn.bias", (3 * C,)),
                   (p + "attn.c_proj.weight", (C, C)), (p + "attn.c_proj.bias", (C,)),
                   (p + "ln_2.weight", (C,)), (p + "ln_2.bias", (C,)),
                   (p + "mlp.c_fc.weight", (C, 4 * C)), (p + "mlp.c_fc.bias", (4 * C,)),
                   (p + "mlp.c_proj.weight", (4 * C, C)), (p + "mlp.c_proj.bias", (C,))]
    shapes += [("ln_f.weight", (C,)), ("ln_f.bias", (C,))]
    return shapes + ([] if tied else [("lm_head.weight", (C, V))])


# ---- the forward pass, (E1)-(E11); each step keeps what its backward reads ----------------
def layernorm(x, w, b):
    mean = x.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + EPS_LN)  # (E1)
    xhat = (x - mean) * rstd
    return xhat * w + b, (xhat, rstd)


def gelu(u):
    return 0.5 * u * (1.0 + np.tanh(GELU_K * (u + 0.044715 * u ** 3)))  # (E4) tanh form


def forward(P, ids, tied):
    """ids [B, T] -> logits [B, T, V] and the saved values of every step."""
    B, T = ids.shape
    D = C // H
    x = P["wte.weight"][ids] + P["wpe.weight"][:T]                          # (E6)
    causal = np.tril(np.ones((T, T), dtype=bool))
    saved = []
    for l in range(LAYERS):
        p = "blocks.%d." % l
        h1, ln1 = layernorm(x, P[p + "ln_1.weight"], P[p + "ln_1.bias"])
        qkv = h1 @ P[p + "attn.c_attn.weight"] + P[p + "attn.c_attn.bias"]  # (E7)
        q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(B, T, H, D).transpose(0, 2, 1, 3)
                   for i in range(3))                                      # (E7) head h: cols hD..
        S = np.where(causal, q @ k.transpose(0, 1, 3, 2) / np.sqrt(D), -np.inf)
        A = np.exp(S - S.max(-1, keepdims=True))
        A /= A.sum(-1, keepdims=True)                                      # (E8)
        y = (A @ v).transpose(0, 2, 1, 3).reshape(B, T, C)                 # (E8) heads merged
        x2 = x + y @ P[p + "attn.c_proj.weight"] + P[p + "attn.c_proj.bias"]  # (E9)
        h2, ln2 = layernorm(x2, P[p + "ln_2.weight"], P[p + "ln_2.bias"])
        u = h2 @ P[p + "mlp.c_fc.weight"] + P[p + "mlp.c_fc.bias"]
        g = gelu(u)
        x3 = x2 + g @ P[p + "mlp.c_proj.weight"] + P[p + "mlp.c_proj.bias"]  # (E10)
        saved.append((h1, ln1, q, k, v, A, y, h2, ln2, u, g))
        x = x3
    hf, lnf = layernorm(x, P["ln_f.weight"], P["ln_f.bias"])
    logits = hf @ (P["wte.weight"].T if tied else P["lm_head.weight"])      # (E11)
    return logits, (saved, hf, lnf)


def cross_entropy(logits, targets):
    """(E12) mean over the B T targets of lse(z) - z[target], and its gradient (E13)."""
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    B, T, V = logits.shape
    n = B * T
    loss = -np.take_along_axis(logp, targets[..., None], -1).sum() / n
    dz = np.exp(logp)
    np.put_along_axis(dz, targets[..., None], np.take_along_axis(dz, targets[..., None], -1) - 1, -1)
    return loss, dz / n


# ---- the backward pass: the same steps in reverse ----------------------------------------
def layernorm_backward(dy, w, cache):
    xhat, rstd = cache
    g = dy * w
    dx = rstd * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))  # (E2)
    rows = (-1, dy.shape[-1])
    return dx, (dy * xhat).reshape(rows).sum(0), dy.reshape(rows).sum(0)                  # (E3)


def gelu_grad(u):
    t = np.tanh(GELU_K * (u + 0.044715 * u ** 3))
    return 0.5 * (1 + t) + 0.5 * u * (1 - t * t) * GELU_K * (1 + 3 * 0.044715 * u * u)    # (E5)


def linear_backward(dy, x, w, G, name, bias=True):
    """y = x W + b: dX = dY W^T, dW += X^T dY, db += column sums (the op table's LINEAR)."""
    G[name + ".weight"] += x.reshape(-1, x.shape[-1]).T @ dy.reshape(-1, dy.shape[-1])
    if bias:
        G[name + ".bias"] += dy.reshape(-1, dy.shape[-1]).sum(0)
    return dy @ w.T


def backward(P, ids, dlogits, cache, tied):
    """Gradients of every parameter, by name, from dL/dlogits."""
    saved, hf, lnf = cache
    B, T = ids.shape
    D = C // H
    G = {name: np.zeros_like(value) for name, value in P.items()}
    if tied:                                       # (E14) first of the two uses of wte
        G["wte.weight"] += dlogits.reshape(-1, dlogits.shape[-1]).T @ hf.reshape(-1, C)
        dh = dlogits @ P["wte.weight"]
    else:
        dh = linear_backward(dlogits, hf, P["lm_head.weight"], G, "lm_head", bias=False)
    dx, G["ln_f.weight"], G["ln_f.bias"] = layernorm_backward(dh, P["ln_f.weight"], lnf)
    for l in reversed(range(LAYERS)):
        p = "blocks.%d." % l
        h1, ln1, q, k, v, A, y, h2, ln2, u, g = saved[l]
        dg = linear_backward(dx, g, P[p + "mlp.c_proj.weight"], G, p + "mlp.c_proj")
        dh2 = linear_backward(dg * gelu_grad(u), h2, P[p + "mlp.c_fc.weight"], G, p + "mlp.c_fc")
        d, G[p + "ln_2.weight"], G[p + "ln_2.bias"] = layernorm_backward(dh2, P[p + "ln_2.weight"], ln2)
        dx = dx + d                                # the residual: both branches add up
        dy = linear_backward(dx, y, P[p + "attn.c_proj.weight"], G, p + "attn.c_proj")
        dO = dy.reshape(B, T, H, D).transpose(0, 2, 1, 3)  # softmax attention's backward:
        dA = dO @ v.transpose(0, 1, 3, 2)              # derived on softmax_attention.md
        dv = A.transpose(0, 1, 3, 2) @ dO
        dS = A * (dA - (A * dA).sum(-1, keepdims=True)) / np.sqrt(D)
        dq, dk = dS @ k, dS.transpose(0, 1, 3, 2) @ q
        dqkv = np.concatenate([t.transpose(0, 2, 1, 3).reshape(B, T, C) for t in (dq, dk, dv)], -1)
        dh1 = linear_backward(dqkv, h1, P[p + "attn.c_attn.weight"], G, p + "attn.c_attn")
        d, G[p + "ln_1.weight"], G[p + "ln_1.bias"] = layernorm_backward(dh1, P[p + "ln_1.weight"], ln1)
        dx = dx + d
    np.add.at(G["wte.weight"], ids.reshape(-1), dx.reshape(-1, C))     # (E14) scatter-add
    G["wpe.weight"][:T] += dx.sum(0)
    return G


# ---- the optimizer side, (E15)-(E19) -------------------------------------------------------
def clip(G, max_norm):
    norm = np.sqrt(sum((g * g).sum() for g in G.values()))                # (E15)
    factor = max_norm / (norm + 1e-6) if 0 < max_norm < norm else 1.0
    return {name: g * factor for name, g in G.items()}, norm


def learning_rate(step, warmup, total, lr, min_lr):                       # (E19)
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (1 + np.cos(np.pi * progress)) * (lr - min_lr)


def decays(name):
    """AdamW decays the Linear layers' weight matrices only (nn/layers.cpp)."""
    return name.endswith(".weight") and not name.startswith(("wte", "wpe", "ln_f")) and ".ln_" not in name


# ---- running attn ---------------------------------------------------------------------------
def attn(*args):
    command = [attn_binary()] + [str(a) for a in args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit("failed (%d): %s\n%s%s" % (done.returncode, " ".join(command),
                                                    done.stdout, done.stderr))
    return done.stdout


def metrics(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def generated_text(n_words, seed):
    words = ("the cat sat on a mat while seven quick foxes jumped over lazy dogs and "
             "an old owl sang softly to the moon").split()
    r = np.random.default_rng(seed)
    return " ".join(words[i] for i in r.integers(0, len(words), n_words)) + "\n"


def check_layout(path, tied):
    """Names, shapes, metadata and checksum of a checkpoint. Returns the parameters, the two
    AdamW moments (dicts by parameter name), the state and the extra metadata."""
    stored, meta = read_safetensors(path)
    config = json.loads(meta["attn.config"])
    shapes = parameter_shapes(config["vocab_size"], tied)
    want = shapes + [(prefix + name, shape) for name, shape in shapes
                     for prefix in ("optimizer.exp_avg.", "optimizer.exp_avg_sq.")]
    with open(path, "rb") as f:
        blob = f.read()
    ok = ([(name, t.shape) for name, t in stored.items()] == want  # names, shapes, data order
          and sorted(meta) == ["attn.checksum", "attn.config", "attn.extra", "attn.format", "attn.state"]
          and meta["attn.format"] == "1" and config["tied"] == tied and config["context"] == L
          and config["n_layer"] == LAYERS and config["n_head"] == H and config["n_embd"] == C
          and fnv1a64(blob[8 + struct.unpack("<Q", blob[:8])[0]:]) == meta["attn.checksum"])
    check("layout of %s: %d tensors, metadata, checksum" % (os.path.relpath(path, os.path.dirname(
        os.path.dirname(path))), len(stored)), 0.0 if ok else 1.0, 0.0, tol=0.0)
    P = {name: stored[name] for name, _ in shapes}
    m = {name: stored["optimizer.exp_avg." + name] for name, _ in shapes}
    v = {name: stored["optimizer.exp_avg_sq." + name] for name, _ in shapes}
    return P, m, v, json.loads(meta["attn.state"]), json.loads(meta["attn.extra"])


def worst_relative(label, got, want, tol):
    """One check over every parameter: max over tensors of max |got - want| / max |want|."""
    errors = {}
    for name in want:
        top = float(np.max(np.abs(want[name])))
        diff = float(np.max(np.abs(got[name] - want[name])))
        errors[name] = diff / top if top > 0 else diff
    name = max(errors, key=errors.get)
    check("%s (worst: %s)" % (label, name), errors[name], 0.0, tol)


def encode(text, extra):
    """The char tokenizer stored in the checkpoint: id = index of the code point."""
    points = extra["task"]["tokenizer"]["code_points"]
    return np.array([points.index(ord(ch)) for ch in text])


def main():
    with tempfile.TemporaryDirectory(prefix="attn_ckpt_") as folder:
        run_checks(folder)
    finish()


def run_checks(folder):
    text = os.path.join(folder, "text.txt")
    with open(text, "w", encoding="utf-8") as f:
        f.write(generated_text(700, seed=0))
    with open(text, encoding="utf-8") as f:
        text_chars = f.read()
    sizes = ["--layers", LAYERS, "--heads", H, "--width", C, "--context", L, "--threads", 2]
    steps, warmup, lr, min_lr = 30, 5, 1e-2, 1e-3

    # 1-3: train, read the checkpoint, reproduce the logits (tied and untied heads)
    for tied in (True, False):
        head = "tied" if tied else "untied"
        run = os.path.join(folder, head)
        ckpt = os.path.join(run, "checkpoint.safetensors")
        attn("train", "--data", text, *sizes, "--tied", str(tied).lower(), "--steps", steps,
             "--warmup", warmup, "--lr", lr, "--min-lr", min_lr, "--batch", 4,
             "--log-interval", 1, "--eval-iters", 2, "--quiet", "--out", run)
        P, _, _, _, extra = check_layout(ckpt, tied)
        want = [learning_rate(s, warmup, steps, lr, min_lr) for s in range(steps)]
        check("(E19) lr of steps 1-30 (warmup, then cosine) vs metrics.jsonl",
              [line["lr"] for line in metrics(run)][:steps], want, tol=1e-6)
        attn("eval", "--checkpoint", ckpt, "--data", text, "--logits", run + "/logits", "--threads", 2)
        ids = np.load(run + "/logits/tokens.npy")
        got = np.load(run + "/logits/logits.npy")
        mine = encode(text_chars[:L], extra)
        check("char tokenizer: ids of the first L characters (%s)" % head, ids, mine, tol=0.0)
        want = forward(P, mine[None, :], tied)[0][0]
        worst = float(np.max(np.abs(got - want)))
        print("max |logits difference| (%s head, %d x %d logits): %.2e" % (head, *got.shape, worst))
        check("(E1)-(E11) logits, %s head, vs attn eval --logits (max 1e-4)" % head, worst, 0.0, 1e-4)

    # 4: two training steps on one window, redone in NumPy
    base = os.path.join(folder, "tied", "checkpoint.safetensors")
    window = os.path.join(folder, "window.txt")
    with open(window, "w", encoding="utf-8") as f:
        f.write(text_chars[:L + 1])                 # L + 1 tokens: one window, starting at 0
    run = os.path.join(folder, "steps")
    b1, b2, wd, clip_at, lr, min_lr, warmup, steps = 0.9, 0.99, 0.5, 0.2, 1e-2, 1e-3, 1, 2
    attn("train", "--data", window, "--val", window, "--init-from", base, "--threads", 2,
         "--steps", steps, "--warmup", warmup, "--lr", lr, "--min-lr", min_lr, "--beta1", b1,
         "--beta2", b2, "--weight-decay", wd, "--grad-clip", clip_at, "--batch", 2,
         "--ckpt-interval", 1, "--keep-checkpoints", 2, "--log-interval", 1, "--eval-iters", 1,
         "--quiet", "--out", run)
    theta, _, _, _, extra = check_layout(base, True)
    m_prev = {name: np.zeros_like(t) for name, t in theta.items()}
    v_prev = {name: np.zeros_like(t) for name, t in theta.items()}
    seq = encode(text_chars[:L + 1], extra)
    ids, targets = np.tile(seq[:-1], (2, 1)), np.tile(seq[1:], (2, 1))  # B = 2, one window
    logged = metrics(run)
    for t in (1, 2):
        new, m, v, state, _ = check_layout(os.path.join(run, "checkpoint-%08d.safetensors" % t), True)
        assert state["step"] == t and state["optimizer_steps"] == t, state
        logits, cache = forward(theta, ids, True)
        loss, dlogits = cross_entropy(logits, targets)
        G, norm = clip(backward(theta, ids, dlogits, cache, True), clip_at)
        assert norm > clip_at, "the step must be clipped, so that (E15) is exercised"
        check("(E12) loss of step %d vs metrics.jsonl" % t, logged[t - 1]["loss"], loss, tol=1e-5)
        check("(E15) gradient norm of step %d vs metrics.jsonl" % t, logged[t - 1]["grad_norm"],
              norm, tol=1e-5)
        # (E16) m_t = b1 m_(t-1) + (1 - b1) g_t gives back the engine's clipped gradient g_t
        engine_g = {name: (m[name] - b1 * m_prev[name]) / (1 - b1) for name in theta}
        worst_relative("(E2)-(E5), (E13)-(E16) step %d: engine's gradients = NumPy's" % t,
                       engine_g, G, 1e-3)
        worst_relative("(E16) step %d: v = b2 v + (1 - b2) g^2" % t, v,
                       {n: b2 * v_prev[n] + (1 - b2) * G[n] ** 2 for n in theta}, 1e-3)
        rate = learning_rate(t - 1, warmup, steps, lr, min_lr)
        check("(E19) lr of step %d vs metrics.jsonl" % t, logged[t - 1]["lr"], rate, tol=1e-6)
        predicted = {}                              # (E17), (E18) from the engine's own moments
        for name in theta:
            step = (m[name] / (1 - b1 ** t)) / (np.sqrt(v[name] / (1 - b2 ** t)) + 1e-8)
            predicted[name] = -rate * (step + (wd * theta[name] if decays(name) else 0.0))
        worst_relative("(E17), (E18) step %d: parameter change" % t,
                       {n: new[n] - theta[n] for n in theta}, predicted, 1e-4)
        theta, m_prev, v_prev = new, m, v


if __name__ == "__main__":
    main()
