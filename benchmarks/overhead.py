"""Per-op Python overhead of Lumen's eager autograd, next to PyTorch's, on tiny tensors.

A chain of ``--steps`` blocks ``y = tanh(y * w + b)`` on 8x8 float32 tensors, closed by a
sum, is built and then backpropagated. On tensors this small the arithmetic is negligible,
so time per op is framework overhead: Function.apply, Tensor wrapping, promotion, the tape.

    python benchmarks/overhead.py [--steps 2000] [--repeats 5] [--write]

``--write`` replaces the "## Per-op overhead" section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import datetime
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
import lumen  # noqa: E402
from benchmarks import _common  # noqa: E402

SECTION = "## Per-op overhead"
OPS_PER_STEP = 3  # mul, add, tanh


def chain(x, w, b, steps):
    y = x
    for _ in range(steps):
        y = (y * w + b).tanh()
    return y.sum()


def measure(makers, steps, repeats):
    """Best-of-``repeats`` seconds (forward, backward) per framework.

    Frameworks alternate within each repeat, so a busy machine slows both alike.
    """
    best = {name: [float("inf"), float("inf")] for name in makers}
    for _ in range(repeats):
        for name, make in makers.items():
            x, w, b = make()
            t0 = time.perf_counter()
            out = chain(x, w, b, steps)
            t1 = time.perf_counter()
            out.backward()
            t2 = time.perf_counter()
            best[name][0] = min(best[name][0], t1 - t0)
            best[name][1] = min(best[name][1], t2 - t1)
    return best


def lumen_inputs(rng):
    def make():
        x = lumen.tensor(rng.standard_normal((8, 8)), dtype=lumen.float32, requires_grad=True)
        w = lumen.tensor(rng.uniform(0.5, 1.0, (8, 8)), dtype=lumen.float32, requires_grad=True)
        b = lumen.tensor(rng.uniform(-0.1, 0.1, (8, 8)), dtype=lumen.float32, requires_grad=True)
        return x, w, b
    return make


def torch_inputs(torch, rng):
    def make():
        return tuple(torch.tensor(a, dtype=torch.float32, requires_grad=True)
                     for a in (rng.standard_normal((8, 8)), rng.uniform(0.5, 1.0, (8, 8)),
                               rng.uniform(-0.1, 0.1, (8, 8))))
    return make


def machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return f"{fields['Model name'].strip()}, {fields['CPU(s)'].strip()} CPUs"
    except (OSError, subprocess.CalledProcessError, KeyError):
        return platform.processor() or platform.machine()


def run(steps, repeats):
    makers = {"Lumen": lumen_inputs(np.random.default_rng(0))}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        makers[f"PyTorch {torch.__version__} (1 thread)"] = torch_inputs(torch, np.random.default_rng(0))
    n_ops = steps * OPS_PER_STEP + 1
    best = measure(makers, steps, repeats)
    return n_ops, {name: (f / n_ops * 1e6, b / n_ops * 1e6) for name, (f, b) in best.items()}


def table(n_ops, rows, steps, repeats):
    lines = [f"Chain of {n_ops} ops (`y = tanh(y * w + b)` x {steps}, then `sum`) on 8x8 float32, "
             f"forward then backward, best of {repeats}. Microseconds per op.", "",
             "| framework | forward µs/op | backward µs/op | total µs/op |", "|---|---:|---:|---:|"]
    for name, (f, b) in rows.items():
        lines.append(f"| {name} | {f:.1f} | {b:.1f} | {f + b:.1f} |")
    if len(rows) == 2:
        (lf, lb), (tf, tb) = rows.values()
        lines.append(f"| ratio Lumen / PyTorch | {lf / tf:.1f}x | {lb / tb:.1f}x | {(lf + lb) / (tf + tb):.1f}x |")
    return "\n".join(lines)


def write_section(body):
    section = (f"{SECTION}\n\n{datetime.date.today().isoformat()}, {machine()}, numpy {np.__version__}, "
               f"run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/overhead.py "
               f"--write`.\n\n{body}\n")
    return _common.write_section(SECTION, section)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = p.parse_args()
    n_ops, rows = run(args.steps, args.repeats)
    body = table(n_ops, rows, args.steps, args.repeats)
    print(body)
    if args.write:
        print(f"wrote {write_section(body)}")


if __name__ == "__main__":
    main()
