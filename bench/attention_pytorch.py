"""PyTorch eager peers of bench_attention, same shapes and threads, one JSON line each.
  softmax: softmax(q k^T / sqrt(D) + mask) v, materialising T x T as PyTorch 1.13 does.
  linear-causal-chunked: causal linear attention in chunks of 64 (masked matmul inside a
      chunk, running state S, z across chunks), autograd backward.
  linear-causal-cumsum: the plain formulation with cumulative sums of phi(k) v^T (T x D x D).
Peak memory: the process's peak RSS growth during the measurement (ru_maxrss)."""
import argparse, json, math, resource, statistics, time

import torch
import torch.nn.functional as F


def softmax_attention(q, k, v, causal):
    s = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))
    if causal:
        T = q.size(-2)
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    return s.softmax(-1) @ v


def phi(x):
    return F.elu(x) + 1


def linear_causal_chunked(q, k, v, causal=True, chunk=64, eps=1e-6):
    q, k = phi(q), phi(k)
    B, H, T, D = q.shape
    S = q.new_zeros(B, H, D, v.size(-1))
    z = q.new_zeros(B, H, D)
    mask = torch.ones(chunk, chunk).tril()
    outs = []
    for c0 in range(0, T, chunk):
        qc, kc, vc = q[:, :, c0:c0 + chunk], k[:, :, c0:c0 + chunk], v[:, :, c0:c0 + chunk]
        n = qc.size(2)
        a = (qc @ kc.transpose(-2, -1)) * mask[:n, :n]
        num = qc @ S + a @ vc
        den = (qc * z.unsqueeze(2)).sum(-1) + a.sum(-1)
        outs.append(num / (den.unsqueeze(-1) + eps))
        S = S + kc.transpose(-2, -1) @ vc
        z = z + kc.sum(2)
    return torch.cat(outs, 2)


def linear_causal_cumsum(q, k, v, causal=True, eps=1e-6):
    q, k = phi(q), phi(k)
    kv = torch.einsum("bhtd,bhte->bhtde", k, v).cumsum(2)
    num = torch.einsum("bhtd,bhtde->bhte", q, kv)
    den = (q * k.cumsum(2)).sum(-1, keepdim=True)
    return num / (den + eps)


VARIANTS = {"softmax": softmax_attention, "linear-causal-chunked": linear_causal_chunked,
            "linear-causal-cumsum": linear_causal_cumsum}


def median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant", default="softmax", choices=sorted(VARIANTS))
    p.add_argument("--causal", type=int, default=0)
    for name, default in [("B", 1), ("H", 4), ("D", 64), ("T", 1024), ("repeats", 5), ("threads", 2)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    f = VARIANTS[a.variant]
    q, k, v = (torch.randn(a.B, a.H, a.T, a.D, requires_grad=True) for _ in range(3))
    dout = torch.randn(a.B, a.H, a.T, a.D)
    with torch.no_grad():
        fwd = median_ms(lambda: f(q, k, v, a.causal), a.repeats)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fwd_bwd = median_ms(lambda: f(q, k, v, a.causal).backward(dout), a.repeats)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"bench": "attention", "engine": "pytorch", "variant": a.variant, "B": a.B,
                      "H": a.H, "T": a.T, "D": a.D, "causal": bool(a.causal),
                      "threads": torch.get_num_threads(), "fwd_ms": fwd, "fwd_bwd_ms": fwd_bwd,
                      "peak_rss_growth_mb": (rss1 - rss0) / 1024}))


if __name__ == "__main__":
    main()
