"""The PyTorch peer of bench_lm_step: the same GPT (pre-LN, tanh GELU, tied embeddings,
learned positions, fused qkv), AdamW, grad clipping; eager mode, same threads and shapes.
--precision bf16 runs the forward pass under CPU autocast (bf16 matrix products, float32
master weights), PyTorch's own mixed precision. Prints one JSON line like bench_lm_step."""
import argparse, contextlib, json, math, statistics, time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc, self.proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(mask[:, :, :T, :T] == 0, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        return x + self.proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, V, T, L, H, C):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.blocks = nn.ModuleList(Block(C, H) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def forward(self, idx, targets):
        T = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x, self.mask)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    p = argparse.ArgumentParser()
    for name, default in [("layers", 4), ("heads", 4), ("width", 128), ("context", 64),
                          ("batch", 12), ("vocab", 65), ("steps", 30), ("warmup", 5),
                          ("threads", 2)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    a = p.parse_args()
    if a.threads > 0:  # 0: PyTorch's default (all cores)
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = GPT(a.vocab, a.context, a.layers, a.heads, a.width)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    idx = torch.randint(a.vocab, (a.batch, a.context))
    tg = torch.randint(a.vocab, (a.batch, a.context))
    times = []
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if a.precision == "bf16"
                    else contextlib.nullcontext())
        with autocast:
            loss = model(idx, tg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if s >= a.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(times)
    print(json.dumps({"bench": "lm_step", "engine": "pytorch", "torch": torch.__version__,
                      "layers": a.layers, "heads": a.heads, "width": a.width,
                      "context": a.context, "batch": a.batch, "vocab": a.vocab,
                      "precision": a.precision,
                      "threads": torch.get_num_threads(), "ms_per_step": ms,
                      "tokens_per_s": a.batch * a.context / ms * 1e3}))


if __name__ == "__main__":
    main()
