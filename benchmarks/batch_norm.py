"""Batch normalisation (training mode, forward and forward+backward), Lumen against PyTorch.

Each library runs in its own child process on the same shapes: the embedded classifier's first and
third blocks at batch 32 (VGG16 at 1/8 width on 96-px crops), a ResNet-like 64-channel map at batch 8
and a 256-channel map at batch 1.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/batch_norm.py [--repeats 15] [--write]

``--write`` replaces the "## Batch norm" section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
from benchmarks._common import write_section  # noqa: E402

SECTION = "## Batch norm"
SHAPES = [(32, 8, 96, 96), (32, 32, 24, 24), (8, 64, 56, 56), (1, 256, 28, 28)]


def child(lib, repeats):
    """{shape: (forward ms, forward+backward ms)}, medians, in this process."""
    if lib == "torch":
        import torch as L
        from torch import nn
        L.set_num_threads(len(os.sched_getaffinity(0)))
    else:
        import lumen as L
        from lumen import nn
    out = {}
    for shape in SHAPES:
        bn = nn.BatchNorm2d(shape[1])
        x, g = L.randn(*shape, requires_grad=True), L.randn(*shape)

        def forward():
            with L.no_grad():
                bn(x)

        def both():
            bn(x).backward(g)

        times = []
        for run in (forward, both):
            run()
            runs = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                run()
                runs.append(time.perf_counter() - t0)
            times.append(1e3 * float(np.median(runs)))
        out[str(shape)] = times
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.repeats)))
        return
    load = os.getloadavg()[0]
    results = {lib: json.loads(subprocess.run([sys.executable, __file__, "--child", lib, "--repeats",
                                               str(args.repeats)], check=True, capture_output=True,
                                              text=True).stdout)
               for lib in ("lumen", "torch")}
    lines = [SECTION, "", f"{datetime.date.today()}, {platform.processor() or platform.machine()}, "
             f"{len(os.sched_getaffinity(0))} threads, load {load:.1f} at the start; median of {args.repeats}, ms.",
             "", "| shape (N, C, H, W) | Lumen fwd | PyTorch fwd | ratio | Lumen fwd+bwd | PyTorch fwd+bwd | ratio |",
             "|---|---|---|---|---|---|---|"]
    for shape in SHAPES:
        (lf, lb), (tf, tb) = results["lumen"][str(shape)], results["torch"][str(shape)]
        lines.append(f"| {shape} | {lf:.2f} | {tf:.2f} | {lf / tf:.2f} | {lb:.2f} | {tb:.2f} | {lb / tb:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        print(f"wrote {write_section(SECTION, text)}")


if __name__ == "__main__":
    main()
