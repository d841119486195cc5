"""Benchmark FCN-8s (VGG16) on one 500x500 image: Lumen against a hand-built PyTorch FCN-8s.

Forward (eval, no grad) and forward+backward (train mode, summed-pixel softmax loss, the
reference's setting) at batch 1, float32, CPU. Each library and workload runs in its own
child process, which reports the median time after a warm-up run and its peak resident
memory while running (VmHWM reset after building: weights, activations, gradients,
workspaces). PyTorch gets
``torch.set_num_threads(2)``.

Run as ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/fcn.py [--quick] [--write]``
so OpenBLAS picks its kernels for the real CPU. ``workload(lib, mode, size, width)`` is
the importable entry point (one child's measurement).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS, OtherLoad, time_and_measure, write_section  # noqa: E402

SECTION = "## FCN-8s (CPU)"


def torch_fcn8s(torch, width=1.0, num_classes=21):
    """FCN-8s in plain torch.nn with the reference's layer names and hard-coded crops 5, 9, 31."""
    tnn = torch.nn
    c = [max(1, round(n * width)) for n in (64, 128, 256, 512, 512)]
    fc = max(1, round(4096 * width))

    class FCN8s(tnn.Module):
        def __init__(self):
            super().__init__()
            in_c = 3
            for b, (n, out_c) in enumerate(zip((2, 2, 3, 3, 3), c), 1):
                for i in range(1, n + 1):
                    pad = 100 if (b, i) == (1, 1) else 1
                    setattr(self, f"conv{b}_{i}", tnn.Conv2d(in_c, out_c, 3, padding=pad))
                    in_c = out_c
            self.fc6, self.fc7 = tnn.Conv2d(c[4], fc, 7), tnn.Conv2d(fc, fc, 1)
            self.drop = tnn.Dropout(0.5)
            self.score_fr = tnn.Conv2d(fc, num_classes, 1)
            self.upscore2 = tnn.ConvTranspose2d(num_classes, num_classes, 4, 2, bias=False)
            self.score_pool4 = tnn.Conv2d(c[3], num_classes, 1)
            self.upscore_pool4 = tnn.ConvTranspose2d(num_classes, num_classes, 4, 2, bias=False)
            self.score_pool3 = tnn.Conv2d(c[2], num_classes, 1)
            self.upscore8 = tnn.ConvTranspose2d(num_classes, num_classes, 16, 8, bias=False)
            self.upscore8.weight.requires_grad_(False)

        def forward(self, x):
            h, pools = x, {}
            for b, n in enumerate((2, 2, 3, 3, 3), 1):
                for i in range(1, n + 1):
                    h = torch.relu(getattr(self, f"conv{b}_{i}")(h))
                h = pools[b] = torch.nn.functional.max_pool2d(h, 2, 2, ceil_mode=True)
            h = self.drop(torch.relu(self.fc6(h)))
            h = self.score_fr(self.drop(torch.relu(self.fc7(h))))
            h = self.upscore2(h)
            h = h + self.score_pool4(pools[4])[:, :, 5:5 + h.shape[2], 5:5 + h.shape[3]]
            h = self.upscore_pool4(h)
            h = h + self.score_pool3(pools[3])[:, :, 9:9 + h.shape[2], 9:9 + h.shape[3]]
            return self.upscore8(h)[:, :, 31:31 + x.shape[2], 31:31 + x.shape[3]]

    return FCN8s()



def workload(lib: str, mode: str, size: int = 500, width: float = 1.0, repeats: int = 3) -> dict:
    """Time ``mode`` ("fwd" or "fwd+bwd") of FCN-8s in ``lib`` ("lumen" or "torch") in this process.

    Returns {"ms": median ms, "runs": [...], "weights_mib": RSS after building, "peak_mib":
    VmHWM while running (from building on if "peak_reset" is False)}.
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, size, size), dtype=np.float32)
    label = rng.integers(0, 21, (1, size, size))
    if lib == "lumen":
        import lumen
        from lumen.nn import functional as F
        from lumen.vision.models import fcn
        model = fcn.fcn8s(width=width)
        # Non-zero scorers so that no layer's work is trivially zero.
        with lumen.no_grad():
            for name, p in model.named_parameters():
                if name.startswith("score"):
                    p.normal_(0, 0.01)
        xt, yt = lumen.from_numpy(x), lumen.from_numpy(label)

        def run():
            if mode == "fwd":
                with lumen.no_grad():
                    model(xt)
            else:
                model.zero_grad()
                F.cross_entropy(model(xt), yt, ignore_index=255, reduction="sum").backward()
        model.train(mode != "fwd")
    elif lib == "torch":
        import torch
        torch.set_num_threads(2)
        model = torch_fcn8s(torch, width)
        xt, yt = torch.from_numpy(x), torch.from_numpy(label)

        def run():
            if mode == "fwd":
                with torch.no_grad():
                    model(xt)
            else:
                model.zero_grad()
                torch.nn.functional.cross_entropy(model(xt), yt, ignore_index=255, reduction="sum").backward()
        model.train(mode != "fwd")
    else:
        raise ValueError(f"workload: lib must be 'lumen' or 'torch', got {lib!r}")
    if mode not in ("fwd", "fwd+bwd"):
        raise ValueError(f"workload: mode must be 'fwd' or 'fwd+bwd', got {mode!r}")
    return time_and_measure(run, repeats)


def _child(lib, mode, size, width, repeats):
    cmd = [sys.executable, __file__, "--child", lib, mode, "--size", str(size), "--width", str(width),
           "--repeats", str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{lib} {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(results, size, width, repeats, load):
    try:
        import torch
        tv = f"torch {torch.__version__} (set_num_threads(2))"
    except ImportError:
        tv = "torch not installed"
    lines = [SECTION, "",
             f"{datetime.date.today().isoformat()}; nproc={len(os.sched_getaffinity(0))}; "
             f"numpy {np.__version__}; "
             f"{tv}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}; "
             f"{load}.", "",
             f"FCN-8s VGG16 (width {width:g}), batch 1, {size}x{size}, float32; median of {repeats} runs "
             "after a warm-up; peak = the process's peak resident memory while running, weights = "
             "resident after building the model.", "",
             "| workload | Lumen ms | torch ms | Lumen / torch | Lumen peak MiB | torch peak MiB |",
             "|---|---|---|---|---|---|"]
    for mode in ("fwd", "fwd+bwd"):
        ours, theirs = results[("lumen", mode)], results.get(("torch", mode))
        t_ms = f"{theirs['ms']:.0f}" if theirs else "-"
        ratio = f"{ours['ms'] / theirs['ms']:.2f}" if theirs else "-"
        t_peak = f"{theirs['peak_mib']:.0f} (weights {theirs['weights_mib']:.0f})" if theirs else "-"
        lines.append(f"| {mode} | {ours['ms']:.0f} | {t_ms} | {ratio} | "
                     f"{ours['peak_mib']:.0f} (weights {ours['weights_mib']:.0f}) | {t_peak} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--width", type=float, default=1.0, help="trunk channel multiplier (1 = VGG16)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="width 1/4, 1 repeat")
    parser.add_argument("--write", action="store_true", help=f"replace the section in {RESULTS}")
    parser.add_argument("--child", nargs=2, metavar=("LIB", "MODE"), help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.width, opts.repeats = 0.25, 1
    if opts.child:
        print(json.dumps(workload(*opts.child, size=opts.size, width=opts.width, repeats=opts.repeats)))
        return
    try:
        import torch  # noqa: F401
        libs = ("lumen", "torch")
    except ImportError:
        libs = ("lumen",)
    load = OtherLoad()
    results = {}
    for lib in libs:
        for mode in ("fwd", "fwd+bwd"):
            results[(lib, mode)] = r = _child(lib, mode, opts.size, opts.width, opts.repeats)
            print(f"{lib} {mode}: {r['ms']:.0f} ms, peak {r['peak_mib']:.0f} MiB", file=sys.stderr)
    text = render(results, opts.size, opts.width, opts.repeats, load.describe())
    print(text)
    if opts.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
