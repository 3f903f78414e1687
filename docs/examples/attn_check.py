"""What every check in docs/examples shares: run `attn op` on NumPy arrays, compare, report.

Each check script implements a page's formulas naively in NumPy (float64), runs the same
inputs through `attn op` (float32 kernels), and asserts that the two agree. Run one with the
path of the attn binary (default build/apps/attn):

    python3 docs/examples/softmax_attention.py build/apps/attn
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

_failures = []


def attn_binary():
    """The attn executable: the first argument, else $ATTN, else build/apps/attn."""
    if len(sys.argv) > 1:
        return sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("ATTN", os.path.join(here, "..", "..", "build", "apps", "attn"))


def run_op(name, inputs, dout, causal=False, chunk=None):
    """`attn op NAME` on the arrays in `inputs` (a dict name -> array) with upstream gradient
    `dout`. Returns a dict: "out" and "d<name>" for every input, as float64 arrays."""
    with tempfile.TemporaryDirectory() as folder:
        for key, value in list(inputs.items()) + [("dout", dout)]:
            np.save(os.path.join(folder, key + ".npy"), np.asarray(value, dtype=np.float32))
        command = [attn_binary(), "op", name, "--in", folder, "--out", folder + "/out"]
        command += ["--causal"] if causal else []
        command += ["--chunk", str(chunk)] if chunk else []
        subprocess.run(command, check=True, capture_output=True, text=True)
        names = ["out"] + ["d" + key for key in inputs]
        return {n: np.load(os.path.join(folder, "out", n + ".npy")).astype(np.float64) for n in names}


def rng(seed=0):
    return np.random.default_rng(seed)


def check(label, got, want, tol=2e-4):
    """Passes when max |got - want| <= tol * (1 + max |want|): float32 kernels against a
    float64 reference, so the tolerance scales with the size of the values."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        _failures.append(label)
        print("FAIL %s: shape %s, expected %s" % (label, got.shape, want.shape))
        return
    worst = float(np.max(np.abs(got - want))) if got.size else 0.0
    bound = tol * (1.0 + float(np.max(np.abs(want))) if want.size else 1.0)
    ok = worst <= bound
    if not ok:
        _failures.append(label)
    print("%s %s: max difference %.2e (allowed %.1e)" % ("ok  " if ok else "FAIL", label, worst, bound))


def finish():
    """Exit status 1 if any check failed; prints the count."""
    print("%d checks failed" % len(_failures) if _failures else "all checks passed")
    sys.exit(1 if _failures else 0)
