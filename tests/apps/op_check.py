"""Checks `attn op` from the outside, the way a learner would: writes .npy inputs (no NumPy
needed), runs the operator, and compares out.npy with a plain-Python forward and every d*.npy
with central differences of sum(out * dout) through that forward."""
import math, os, random, struct, subprocess, sys, tempfile


def save_npy(path, shape, values):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        "".join("%d, " % s for s in shape) if len(shape) == 1 else ", ".join(map(str, shape)))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % len(values), *values))


def load_npy(path):
    data = open(path, "rb").read()
    n = struct.unpack("<H", data[8:10])[0]
    return list(struct.unpack("<%df" % ((len(data) - 10 - n) // 4), data[10 + n:]))


def phi(x):
    return x + 1 if x > 0 else math.exp(x)


def attention(q, k, v, B, H, T, D, causal, kind):
    out = []
    for bh in range(B * H):
        Q = [q[(bh * T + i) * D:(bh * T + i + 1) * D] for i in range(T)]
        K = [k[(bh * T + i) * D:(bh * T + i + 1) * D] for i in range(T)]
        V = [v[(bh * T + i) * D:(bh * T + i + 1) * D] for i in range(T)]
        for i in range(T):
            keys = range(i + 1) if causal else range(T)
            if kind == "softmax":
                s = [sum(a * b for a, b in zip(Q[i], K[j])) / math.sqrt(D) for j in keys]
                m = max(s)
                w = [math.exp(x - m) for x in s]
            else:
                w = [sum(phi(a) * phi(b) for a, b in zip(Q[i], K[j])) for j in keys]
            z = sum(w) + (1e-6 if kind == "linear" else 0)
            out += [sum(w[n] * V[j][d] for n, j in enumerate(keys)) / z for d in range(D)]
    return out


def main(attn):
    random.seed(1)
    B, H, T, D = 1, 2, 5, 3
    n = B * H * T * D
    failures = 0
    for kind in ("softmax", "linear"):
        for causal in (False, True):
            tmp = tempfile.mkdtemp()
            t = {name: [random.gauss(0, 1) for _ in range(n)] for name in ("q", "k", "v", "dout")}
            for name, values in t.items():
                save_npy(os.path.join(tmp, name + ".npy"), (B, H, T, D), values)
            cmd = [attn, "op", kind, "--in", tmp, "--out", tmp + "/out", "--chunk", "2"]
            subprocess.run(cmd + (["--causal"] if causal else []), check=True, capture_output=True)
            out = load_npy(tmp + "/out/out.npy")
            ref = attention(t["q"], t["k"], t["v"], B, H, T, D, causal, kind)
            worst = max(abs(a - b) for a, b in zip(out, ref))
            for name in ("q", "k", "v"):
                grad = load_npy(tmp + "/out/d%s.npy" % name)
                for i in range(n):
                    x = dict(t)
                    h = 1e-4
                    x[name] = t[name][:i] + [t[name][i] + h] + t[name][i + 1:]
                    up = sum(a * b for a, b in zip(attention(x["q"], x["k"], x["v"], B, H, T, D, causal, kind), t["dout"]))
                    x[name] = t[name][:i] + [t[name][i] - h] + t[name][i + 1:]
                    dn = sum(a * b for a, b in zip(attention(x["q"], x["k"], x["v"], B, H, T, D, causal, kind), t["dout"]))
                    worst = max(worst, abs(grad[i] - (up - dn) / (2 * h)))
            ok = worst < 1e-3
            failures += not ok
            print("%s   attn op %s%s: max difference %.2e" % ("ok" if ok else "FAIL", kind, " --causal" if causal else "", worst))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main(sys.argv[1])
