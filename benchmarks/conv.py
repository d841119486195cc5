"""Benchmark Lumen's NumPy convolution primitives: VGG16's and AlexNet's layers, FCN's learned deconvolutions.

For every layer: forward, backward-data and backward-filter times (median after
warm-up), GFLOP/s, the fraction of NumPy's own float32 matmul peak measured in
the same run, and PyTorch's time on the same shapes (torch.set_num_threads(2))
where torch is installed.

The transposed convolutions (``--transposed``; shapes from Lumen's FCN-32s/16s/8s on a 500x500
image) run in child processes, one library (or one forced Lumen algorithm) per child, in
alternating rounds so that all see the same machine load: Lumen's default choice, Lumen with
im2col forced (GEMM + col2im, the path before the phase decomposition), PyTorch.

Run as ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/conv.py [--quick] [--transposed] [--write]``
so OpenBLAS picks its kernels for the real CPU.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS, write_section  # noqa: E402
from lumen.backends.cpu import conv  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

SECTION = "## Convolution primitives (CPU)"


def _vgg16():
    cfg = [(3, 64, 224), (64, 64, 224), (64, 128, 112), (128, 128, 112), (128, 256, 56), (256, 256, 56),
           (256, 256, 56), (256, 512, 28), (512, 512, 28), (512, 512, 28), (512, 512, 14), (512, 512, 14),
           (512, 512, 14)]
    names = ["1_1", "1_2", "2_1", "2_2", "3_1", "3_2", "3_3", "4_1", "4_2", "4_3", "5_1", "5_2", "5_3"]
    return [dict(name=f"vgg16 conv{n}", c=c, o=o, hw=hw, k=3, s=1, p=1, g=1) for n, (c, o, hw) in zip(names, cfg)]


def _alexnet():
    # The BVLC/Caffe AlexNet (227x227 input, grouped conv2/4/5), which Lumen's Caffe-compatible model follows.
    return [dict(name="alexnet conv1", c=3, o=96, hw=227, k=11, s=4, p=0, g=1),
            dict(name="alexnet conv2", c=96, o=256, hw=27, k=5, s=1, p=2, g=2),
            dict(name="alexnet conv3", c=256, o=384, hw=13, k=3, s=1, p=1, g=1),
            dict(name="alexnet conv4", c=384, o=384, hw=13, k=3, s=1, p=1, g=2),
            dict(name="alexnet conv5", c=384, o=256, hw=13, k=3, s=1, p=1, g=2)]


QUICK = {"vgg16 conv1_2", "vgg16 conv3_1", "vgg16 conv5_1", "alexnet conv1", "alexnet conv2"}


def _median_ms(fn, budget_s, min_runs=3, max_runs=15, clock=time.perf_counter):
    fn()  # warm-up: first-touch page faults, OpenBLAS thread start
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or (len(times) < max_runs and time.perf_counter() - start < budget_s):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return float(np.median(times)) * 1e3


def sgemm_peak_gflops(n=2048, runs=5):
    """Best GFLOP/s of NumPy's float32 matmul on an n x n square product."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    np.matmul(a, b, out=c)
    best = min(_timed(lambda: np.matmul(a, b, out=c)) for _ in range(runs))
    return 2 * n ** 3 / best / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _layer_arrays(layer):
    rng = np.random.default_rng(0)
    c, o, hw, k, s, p, g = (layer[key] for key in ("c", "o", "hw", "k", "s", "p", "g"))
    x = rng.standard_normal((1, c, hw, hw), dtype=np.float32)
    w = rng.standard_normal((o, c // g, k, k), dtype=np.float32)
    b = rng.standard_normal(o, dtype=np.float32)
    args = ((s, s), (p, p), (1, 1), g)
    y = conv.conv2d_forward(x, w, b, *args)
    gy = rng.standard_normal(y.shape, dtype=np.float32)
    return x, w, b, gy, args, 2.0 * y.size * (c // g) * k * k


def bench_lumen(layer, budget_s):
    x, w, b, gy, args, flops = _layer_arrays(layer)
    return flops, {
        "fwd": _median_ms(lambda: conv.conv2d_forward(x, w, b, *args), budget_s),
        "bwd-data": _median_ms(lambda: conv.conv2d_backward_data(gy, w, x.shape, *args), budget_s),
        "bwd-filter": _median_ms(lambda: conv.conv2d_backward_filter(x, gy, w.shape, *args), budget_s),
    }


def bench_torch(layer, budget_s):
    x, w, b, gy, (stride, padding, dilation, g), _ = _layer_arrays(layer)
    xt, wt, bt, gyt = (torch.from_numpy(a) for a in (x, w, b, gy))

    def backward(mask):
        # What autograd runs for conv2d's backward, restricted to one gradient.
        return torch.ops.aten.convolution_backward(gyt, xt, wt, None, list(stride), list(padding),
                                                   list(dilation), False, [0, 0], g, mask)

    with torch.no_grad():
        return {
            "fwd": _median_ms(lambda: torch.nn.functional.conv2d(xt, wt, bt, stride, padding, dilation, g),
                              budget_s),
            "bwd-data": _median_ms(lambda: backward([True, False, False]), budget_s),
            "bwd-filter": _median_ms(lambda: backward([False, True, False]), budget_s),
        }


def _machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = re.search(r"^Model name:\s*(.+)$", out, re.M).group(1).strip()
    except (OSError, subprocess.CalledProcessError, AttributeError):
        model = platform.processor() or "unknown CPU"
    return f"{model}, nproc={os.cpu_count() if not hasattr(os, 'sched_getaffinity') else len(os.sched_getaffinity(0))}"


def render(rows, peak, quick, load):
    ops = ("fwd", "bwd-data", "bwd-filter")
    has_torch = torch is not None
    lines = [SECTION, "",
             f"{datetime.date.today().isoformat()}; {_machine()}; numpy {np.__version__}"
             + (f"; torch {torch.__version__} with torch.set_num_threads(2)" if has_torch else "; torch not installed")
             + f"; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}, "
               f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', 'unset')}"
             + ("; --quick subset" if quick else "")
             + f"; 1-min load average {load[0]:.1f} before and {load[1]:.1f} after (other processes share the cores).",
             "",
             f"Batch 1, float32. NumPy float32 matmul peak in this run (2048^3 sgemm): {peak:.0f} GFLOP/s. "
             "Each cell: median ms / GFLOP/s / % of that peak"
             + (" / speed-up over PyTorch (torch ms / ours ms; > 1 means Lumen is faster)." if has_torch else "."),
             "",
             "| layer | C->O, HxW, k/s/p/g | " + " | ".join(ops) + " |",
             "|---|---|" + "---|" * len(ops)]
    totals = {op: [0.0, 0.0] for op in ops}
    for layer, flops, ours, theirs in rows:
        cells = []
        for op in ops:
            gf = flops / ours[op] / 1e6
            cell = f"{ours[op]:.2f} / {gf:.0f} / {100 * gf / peak:.0f}%"
            if theirs:
                cell += f" / {theirs[op] / ours[op]:.2f}x"
                totals[op][1] += theirs[op]
            totals[op][0] += ours[op]
            cells.append(cell)
        shape = f"{layer['c']}->{layer['o']}, {layer['hw']}, {layer['k']}/{layer['s']}/{layer['p']}/{layer['g']}"
        lines.append(f"| {layer['name']} | {shape} | " + " | ".join(cells) + " |")
    total_cells = [f"{ours:.1f} ms" + (f" (torch {torch_ms:.1f} ms, {torch_ms / ours:.2f}x)" if has_torch else "")
                   for ours, torch_ms in totals.values()]
    lines.append("| **total** | | " + " | ".join(total_cells) + " |")
    return "\n".join(lines) + "\n"


def fcn_upsamplings(size=500):
    """The distinct deconvolutions of Lumen's FCN-32s, -16s and -8s on a size x size image, as recorded by
    forward hooks on narrow nets (the geometry does not depend on the width): dicts of name, channels c,
    input hw, k, s, p and output hw."""
    import lumen
    from lumen import nn
    from lumen.vision.models import fcn
    seen = {}
    for build in (fcn.fcn32s, fcn.fcn16s, fcn.fcn8s):
        net = build(width=1 / 16, upsampling="learned").eval()
        for name, module in net.named_modules():
            if isinstance(module, nn.ConvTranspose2d):
                def hook(mod, inputs, output, name=f"{build.__name__} {name}"):
                    (k, _), (s, _), (p, _) = mod.kernel_size, mod.stride, mod.padding
                    key = (inputs[0].shape[1], inputs[0].shape[2], k, s, p)
                    seen.setdefault(key, dict(name=name, c=key[0], hw=key[1], k=k, s=s, p=p, out=output.shape[2]))
                module.register_forward_hook(hook)
        with lumen.no_grad():
            net(lumen.zeros(1, 3, size, size))
    return sorted(seen.values(), key=lambda layer: layer["k"])


TRANSPOSED_PASSES = ("fwd", "bwd-data", "bwd-filter")


def _transposed_arrays(layer):
    rng = np.random.default_rng(0)
    c, hw, k, s, out = (layer[key] for key in ("c", "hw", "k", "s", "out"))
    x = rng.standard_normal((1, c, hw, hw), dtype=np.float32)
    w = rng.standard_normal((c, c, k, k), dtype=np.float32)  # (C_in, C_out, k, k)
    gy = rng.standard_normal((1, c, out, out), dtype=np.float32)
    return x, w, gy, 2.0 * x.size * c * k * k


def transposed_child(lib, algorithm, layers, budget_s, cpu_time=False):
    """{layer name: {pass: ms}} of conv_transpose2d's forward and its two gradients, in this process;
    cpu_time: CPU time of one thread (the parent pins the child to one core) instead of wall time."""
    results = {}
    clock = time.process_time if cpu_time else time.perf_counter
    for layer in layers:
        x, w, gy, _ = _transposed_arrays(layer)
        s, p = (layer["s"],) * 2, (layer["p"],) * 2
        if lib == "torch":
            torch.set_num_threads(1 if cpu_time else 2)
            xt, wt, gyt = (torch.from_numpy(a) for a in (x, w, gy))

            def backward(mask):
                return torch.ops.aten.convolution_backward(gyt, xt, wt, None, list(s), list(p), [1, 1], True,
                                                           [0, 0], 1, mask)

            with torch.no_grad():
                fns = {"fwd": lambda: torch.nn.functional.conv_transpose2d(xt, wt, None, s, p),
                       "bwd-data": lambda: backward([True, False, False]),
                       "bwd-filter": lambda: backward([False, True, False])}
                results[layer["name"]] = {name: _median_ms(fn, budget_s, clock=clock) for name, fn in fns.items()}
            continue
        from lumen.backends import conv as settings
        geometry = (s, p, (1, 1), 1)
        # A transposed convolution is conv2d's backward-data; its gradients are conv2d's forward
        # (input) and backward-filter (weight), with the roles of input and output swapped.
        fns = {"fwd": lambda: conv.conv2d_backward_data(x, w, gy.shape, *geometry),
               "bwd-data": lambda: conv.conv2d_forward(gy, w, None, *geometry),
               "bwd-filter": lambda: conv.conv2d_backward_filter(gy, x, w.shape, *geometry)}
        with settings.flags(algorithm=algorithm):
            results[layer["name"]] = {name: _median_ms(fn, budget_s, clock=clock) for name, fn in fns.items()}
    return results


TRANSPOSED_RUNS = (("lumen", None), ("lumen", "im2col"), ("torch", None))


def bench_transposed(rounds, budget_s, cpu_time=False):
    """(layers, {(lib, algorithm): {layer: {pass: median ms over the rounds}}}, load before and after):
    each round one child process per entry of TRANSPOSED_RUNS, in an order that rotates between rounds.
    cpu_time: each child pinned to one core (so Lumen's pool has one worker) with one OpenBLAS and one
    PyTorch thread, timed by its CPU time, which other processes on the machine disturb much less."""
    layers = fcn_upsamplings()
    runs = [r for r in TRANSPOSED_RUNS if r[0] == "lumen" or torch is not None]
    load = [os.getloadavg()[0]]
    samples = {run: [] for run in runs}
    for r in range(rounds):
        for lib, algorithm in runs[r % len(runs):] + runs[:r % len(runs)]:
            cmd = [sys.executable, __file__, "--transposed-child", lib, algorithm or "default", "--budget", str(budget_s)]
            if cpu_time:
                cmd.append("--cpu-time")
            one_core = min(os.sched_getaffinity(0))
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 env=dict(os.environ, OPENBLAS_NUM_THREADS="1") if cpu_time else None,
                                 preexec_fn=(lambda: os.sched_setaffinity(0, {one_core})) if cpu_time else None)
            if out.returncode != 0:
                raise RuntimeError(f"transposed convolutions, {lib} {algorithm}: child failed:\n{out.stderr[-3000:]}")
            samples[lib, algorithm].append(json.loads(out.stdout.strip().splitlines()[-1]))
    load.append(os.getloadavg()[0])
    medians = {run: {layer["name"]: {op: float(np.median([one[layer["name"]][op] for one in got]))
                                     for op in TRANSPOSED_PASSES} for layer in layers}
               for run, got in samples.items()}
    return layers, medians, load


def render_transposed(layers, medians, load, peak, rounds, cpu_time=False):
    has_torch = ("torch", None) in medians
    lines = ["### Transposed convolutions (FCN's upsamplings, learned weights)", "",
             f"Shapes of Lumen's FCN-32s/16s/8s on a 500x500 image, batch 1, float32, no bias. Median of {rounds} "
             f"rounds, each round one child process per column in rotating order"
             + ("; single-thread CPU time (one core, one OpenBLAS and PyTorch thread)" if cpu_time else "")
             + "; 1-min load average "
             f"{load[0]:.1f} before and {load[1]:.1f} after. fwd = conv_transpose2d, bwd-data = its input "
             "gradient (a strided conv2d), bwd-filter = its weight gradient. Cells: ms; GFLOP/s of Lumen's default "
             "(and % of the run's sgemm peak, on wall-clock times)" + ("; ratio = Lumen default / PyTorch (< 1: Lumen faster)."
                                                 if has_torch else "."), "",
             "| layer | C, in -> out, k/s/p | pass | Lumen ms | GFLOP/s, % peak | Lumen im2col ms |"
             + (" torch ms | ratio |" if has_torch else ""),
             "|---|---|---|---|---|---|" + ("---|---|" if has_torch else "")]
    for layer in layers:
        flops = _transposed_arrays(layer)[3]
        shape = f"{layer['c']}, {layer['hw']} -> {layer['out']}, {layer['k']}/{layer['s']}/{layer['p']}"
        for op in TRANSPOSED_PASSES:
            ours = medians["lumen", None][layer["name"]][op]
            gf = flops / ours / 1e6
            # the peak is the run's 2-thread wall-clock sgemm: no yardstick for one thread's CPU time
            of_peak = "" if cpu_time else f", {100 * gf / peak:.0f}%"
            row = (f"| {layer['name']} | {shape} | {op} | {ours:.2f} | {gf:.0f}{of_peak} | "
                   f"{medians['lumen', 'im2col'][layer['name']][op]:.2f} |")
            if has_torch:
                theirs = medians["torch", None][layer["name"]][op]
                row += f" {theirs:.2f} | {ours / theirs:.2f} |"
            lines.append(row)
    return "\n".join(lines) + "\n"


def conv_stack_memory(with_torch):
    """Peak memory of one VGG16 conv-stack training step (batch 1, 224x224), each library in a child
    process (benchmarks/models.py measures resident memory from after building the net)."""
    from benchmarks.models import _child
    libs = ("lumen", "torch") if with_torch else ("lumen",)
    peaks = {lib: _child("vgg16_convs", lib, "fwd+bwd", 1, 2) for lib in libs}
    cells = ", ".join(f"{lib} {r['peak_mib']:.0f} MiB peak ({r['peak_mib'] - r['weights_mib']:.0f} MiB above the "
                      f"built net), {r['ms']:.0f} ms" for lib, r in peaks.items())
    return f"VGG16 conv-stack training step (forward + backward, batch 1, 224x224): {cells}."


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5-layer subset")
    parser.add_argument("--write", action="store_true", help=f"replace the section in {RESULTS}")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of timed runs per op (default 0.5)")
    parser.add_argument("--transposed", action="store_true",
                        help="only the transposed-convolution table, printed (--write needs the full run)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the transposed-convolution children")
    parser.add_argument("--cpu-time", action="store_true",
                        help="with --transposed: single-thread CPU time, robust when other processes share the cores")
    parser.add_argument("--transposed-child", nargs=2, metavar=("LIB", "ALGORITHM"), help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.transposed_child:
        lib, algorithm = opts.transposed_child
        print(json.dumps(transposed_child(lib, None if algorithm == "default" else algorithm, fcn_upsamplings(),
                                          opts.budget, opts.cpu_time)))
        return
    if opts.transposed:
        print(render_transposed(*bench_transposed(opts.rounds, opts.budget, opts.cpu_time), sgemm_peak_gflops(),
                                opts.rounds, opts.cpu_time))
        return
    if torch is not None:
        torch.set_num_threads(2)
    layers = [lay for lay in _vgg16() + _alexnet() if not opts.quick or lay["name"] in QUICK]
    load_before = os.getloadavg()[0]
    peak = sgemm_peak_gflops()
    # All Lumen timings first, then all PyTorch ones: each library's idle worker
    # threads spin for a while after a call and would steal the cores from the other.
    rows = []
    for layer in layers:
        flops, ours = bench_lumen(layer, opts.budget)
        rows.append((layer, flops, ours, {}))
        print(f"{layer['name']}: " + ", ".join(f"{op} {ms:.2f} ms" for op, ms in ours.items()), file=sys.stderr)
    if torch is not None:
        time.sleep(1.0)
        rows = [(layer, flops, ours, bench_torch(layer, opts.budget)) for layer, flops, ours, _ in rows]
    text = render(rows, peak, opts.quick, (load_before, os.getloadavg()[0]))
    text += "\n" + render_transposed(*bench_transposed(opts.rounds, opts.budget), peak, opts.rounds)
    text += "\n\n" + conv_stack_memory(torch is not None)
    print(text)
    if opts.write:
        write_section(SECTION, text)
        print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
