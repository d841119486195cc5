"""Per-op Python overhead of Lumen's eager autograd, next to PyTorch's, on tiny tensors.

A chain of ``--steps`` blocks ``y = tanh(y * w + b)`` on 8x8 float32 tensors, closed by a
sum, is built and then backpropagated. On tensors this small the arithmetic is negligible,
so time per op is framework overhead: Function.apply, Tensor wrapping, promotion, the tape.
Each framework runs in its own child process (in alternating rounds): the cyclic garbage
collector's passes (a large share of Lumen's forward here: its tape is Python objects) scan
every Python object of the process, so one framework's imports would slow the other's tape.

    python benchmarks/overhead.py [--steps 2000] [--repeats 5] [--write]

``--write`` replaces the "## Per-op overhead" section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import importlib.util
import json
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


def measure(make, steps, repeats):
    """Best-of-``repeats`` seconds (forward, backward) of the chain on fresh ``make()`` inputs."""
    forward = backward = float("inf")
    for _ in range(repeats):
        x, w, b = make()
        t0 = time.perf_counter()
        out = chain(x, w, b, steps)
        t1 = time.perf_counter()
        out.backward()
        t2 = time.perf_counter()
        forward, backward = min(forward, t1 - t0), min(backward, t2 - t1)
    return forward, backward


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


def child(lib, steps, repeats):
    """(name, best forward s, best backward s) of ``lib`` ("lumen", "torch", or "lumen-no-gc": Lumen with
    the cyclic garbage collector disabled, which shows what the collector's passes cost), measured in this process."""
    if lib == "lumen-no-gc":
        gc.disable()
        name, make = "Lumen, cyclic GC disabled (diagnostic)", lumen_inputs(np.random.default_rng(0))
    elif lib == "lumen":
        name, make = "Lumen", lumen_inputs(np.random.default_rng(0))
    else:
        import torch
        torch.set_num_threads(1)
        name, make = f"PyTorch {torch.__version__} (1 thread)", torch_inputs(torch, np.random.default_rng(0))
    return (name,) + measure(make, steps, repeats)


def _in_child(lib, steps, repeats):
    cmd = [sys.executable, __file__, "--child", lib, "--steps", str(steps), "--repeats", str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"overhead benchmark child ({lib}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(steps, repeats, rounds=3):
    """(ops in the chain, {framework: (forward µs/op, backward µs/op)}): the best of ``rounds`` child
    processes per framework, Lumen's and PyTorch's alternating so that both see the same load; Lumen
    first, then PyTorch (if installed), then Lumen without the cyclic GC."""
    libs = ["lumen"] + (["torch"] if importlib.util.find_spec("torch") else []) + ["lumen-no-gc"]
    best = {}
    for _ in range(rounds):
        for lib in libs:
            name, forward, backward = _in_child(lib, steps, repeats)
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], forward), min(old[1], backward))
    n_ops = steps * OPS_PER_STEP + 1
    return n_ops, {name: (f / n_ops * 1e6, b / n_ops * 1e6) for name, (f, b) in best.items()}


def table(n_ops, rows, steps, repeats):
    lines = [f"Chain of {n_ops} ops (`y = tanh(y * w + b)` x {steps}, then `sum`) on 8x8 float32, "
             f"forward then backward, best of {repeats} runs in each of 3 child processes per framework. "
             "Microseconds per op.", "",
             "| framework | forward µs/op | backward µs/op | total µs/op |", "|---|---:|---:|---:|"]
    for name, (f, b) in rows.items():
        lines.append(f"| {name} | {f:.1f} | {b:.1f} | {f + b:.1f} |")
    if len(rows) == 3:
        (lf, lb), (tf, tb), _ = rows.values()
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
    p.add_argument("--child", choices=("lumen", "torch", "lumen-no-gc"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.repeats)))
        return
    n_ops, rows = run(args.steps, args.repeats)
    body = table(n_ops, rows, args.steps, args.repeats)
    print(body)
    if args.write:
        print(f"wrote {write_section(body)}")


if __name__ == "__main__":
    main()
