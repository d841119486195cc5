"""Benchmark Lumen's NumPy convolution primitives: VGG16's and AlexNet's layers, FCN's learned deconvolutions.

Prints two tables (``python -m benchmarks`` prints the same two before its model table):

- the per-primitive table: every convolution of VGG16 (13) and AlexNet (5) at batch 1 and 8, one row
  per layer, batch and pass (forward, backward-data, backward-filter) with Lumen's and PyTorch's
  median ms, their ratio, Lumen's GFLOP/s and its fraction of NumPy's float32 matmul peak measured
  in the same run, against issue 22's targets (ratio <= 1.0; >= 80 % of that peak where C and O >= 128),
  then the totals per pass and batch;
- the transposed-convolution table (shapes from Lumen's FCN-32s/16s/8s on a 500x500 image): Lumen's
  default choice, Lumen with im2col forced (GEMM + col2im, the path before the phase decomposition),
  PyTorch, and the ratio against the target <= 1.0.

Every library (or forced Lumen algorithm) runs in its own child process, so that one library's idle
worker threads, which spin for a while after a call, do not steal the cores from the other; the children
alternate in rounds whose order rotates, so that all see the same machine load. PyTorch gets
torch.set_num_threads(2). ``python benchmarks/conv.py`` adds the peak memory of a VGG16 conv-stack
training step.

Run as ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/conv.py [--quick] [--transposed] [--write]``
so OpenBLAS picks its kernels for the real CPU.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
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
from benchmarks._common import RESULTS, OtherLoad, write_section  # noqa: E402
from lumen.backends.cpu import conv  # noqa: E402

# PyTorch is imported only where it is measured or named: a Lumen child measures Lumen without
# torch's objects (which the cyclic GC would scan) and threads in its process.
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _torch():
    import torch
    return torch

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


LAYERS = _vgg16() + _alexnet()
QUICK = {"vgg16 conv1_2", "vgg16 conv3_1", "vgg16 conv5_1", "alexnet conv1", "alexnet conv2"}
PASSES = ("fwd", "bwd-data", "bwd-filter")
# issue 22's targets: Lumen / PyTorch time, and the fraction of the sgemm peak on wide layers
RATIO_TARGET = 1.0
PEAK_TARGET = 0.8
PEAK_TARGET_CHANNELS = 128


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


def _output_size(layer):
    return (layer["hw"] + 2 * layer["p"] - layer["k"]) // layer["s"] + 1


def conv_flops(layer, batch):
    """FLOPs of one pass of ``layer`` on ``batch`` images: 2 x output elements x C/g x k^2, the same
    multiply-adds for the forward, backward-data and backward-filter."""
    c, o, k, g = (layer[key] for key in ("c", "o", "k", "g"))
    return 2.0 * batch * o * _output_size(layer) ** 2 * (c // g) * k * k


def _layer_arrays(layer, batch):
    rng = np.random.default_rng(0)
    c, o, hw, k, s, p, g = (layer[key] for key in ("c", "o", "hw", "k", "s", "p", "g"))
    x = rng.standard_normal((batch, c, hw, hw), dtype=np.float32)
    w = rng.standard_normal((o, c // g, k, k), dtype=np.float32)
    b = rng.standard_normal(o, dtype=np.float32)
    gy = rng.standard_normal((batch, o, _output_size(layer), _output_size(layer)), dtype=np.float32)
    return x, w, b, gy, ((s, s), (p, p), (1, 1), g)


def primitive_child(lib, batch, layers, budget_s):
    """{layer name: {pass: ms}} of conv2d's forward and its two gradients in ``lib``, in this process."""
    results = {}
    if lib == "torch":
        torch = _torch()
        torch.set_num_threads(2)
    for layer in layers:
        x, w, b, gy, (stride, padding, dilation, g) = _layer_arrays(layer, batch)
        if lib == "torch":
            xt, wt, bt, gyt = (torch.from_numpy(a) for a in (x, w, b, gy))

            def backward(mask):
                # What autograd runs for conv2d's backward, restricted to one gradient.
                return torch.ops.aten.convolution_backward(gyt, xt, wt, None, list(stride), list(padding),
                                                           list(dilation), False, [0, 0], g, mask)

            fns = {"fwd": lambda: torch.nn.functional.conv2d(xt, wt, bt, stride, padding, dilation, g),
                   "bwd-data": lambda: backward([True, False, False]),
                   "bwd-filter": lambda: backward([False, True, False])}
            with torch.no_grad():
                results[layer["name"]] = {name: _median_ms(fn, budget_s) for name, fn in fns.items()}
            continue
        geometry = (stride, padding, dilation, g)
        fns = {"fwd": lambda: conv.conv2d_forward(x, w, b, *geometry),
               "bwd-data": lambda: conv.conv2d_backward_data(gy, w, x.shape, *geometry),
               "bwd-filter": lambda: conv.conv2d_backward_filter(x, gy, w.shape, *geometry)}
        results[layer["name"]] = {name: _median_ms(fn, budget_s) for name, fn in fns.items()}
    return results


def _child_rounds(runs, rounds, child_args, **popen):
    """{run: [its child's JSON result, one per round]}: each round one child process of this script per
    entry of ``runs`` (``child_args(run)``: its arguments), in an order that rotates between rounds so that
    all see the same machine load. ``popen``: passed on to subprocess.run."""
    samples = {run: [] for run in runs}
    for r in range(rounds):
        for run in runs[r % len(runs):] + runs[:r % len(runs)]:
            args = child_args(run)
            out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, **popen)
            if out.returncode != 0:
                raise RuntimeError(f"benchmarks/conv.py {' '.join(args)}: child failed:\n{out.stderr[-3000:]}")
            samples[run].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return samples


def _median_over_rounds(got):
    """{layer: {pass: median ms}} of one run's per-round {layer: {pass: ms}}."""
    return {name: {op: float(np.median([one[name][op] for one in got])) for op in PASSES} for name in got[0]}


def bench_primitives(layers, batches, rounds, budget_s):
    """({batch: {lib: {layer name: {pass: median ms over the rounds}}}}, what else ran meanwhile): for each
    batch, ``rounds`` rounds of one child process per library (Lumen, then PyTorch, the order rotating)."""
    libs = ("lumen", "torch") if HAS_TORCH else ("lumen",)
    names = [layer["name"] for layer in layers]
    load = OtherLoad()
    medians = {}
    for batch in batches:
        samples = _child_rounds(libs, rounds, lambda lib: ["--primitive-child", lib, str(batch),
                                                           "--budget", str(budget_s), "--layers", *names])
        medians[batch] = {lib: _median_over_rounds(got) for lib, got in samples.items()}
        print(f"primitives batch {batch}: " + ", ".join(
            f"{lib} {sum(sum(ms.values()) for ms in by_layer.values()):.0f} ms in all"
            for lib, by_layer in medians[batch].items()), file=sys.stderr)
    return medians, load.describe()


def _machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = re.search(r"^Model name:\s*(.+)$", out, re.M).group(1).strip()
    except (OSError, subprocess.CalledProcessError, AttributeError):
        model = platform.processor() or "unknown CPU"
    return f"{model}, nproc={os.cpu_count() if not hasattr(os, 'sched_getaffinity') else len(os.sched_getaffinity(0))}"


def run_header(peak, load):
    """A table's first line: date, machine, libraries, the run's sgemm peak, what else ran (``load``, from
    :meth:`OtherLoad.describe`)."""
    return (f"{datetime.date.today().isoformat()}; {_machine()}; numpy {np.__version__}"
            + (f"; torch {_torch().__version__} with torch.set_num_threads(2)" if HAS_TORCH
               else "; torch not installed")
            + f"; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}, "
              f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', 'unset')}"
            + f"; NumPy float32 matmul peak in this run (2048^3 sgemm) {peak:.0f} GFLOP/s"
            + f"; {load}.")


def _cells(ours, theirs, flops, peak, wide):
    """(the cells "Lumen ms | PyTorch ms | ratio | GFLOP/s | % peak | target | met", met) of a row: Lumen's and
    PyTorch's ms (``theirs`` None: no PyTorch), ``flops`` per call; the peak target counts where ``wide``;
    ``peak`` None: no yardstick for the times (single-thread CPU times against a 2-thread peak)."""
    gf = flops / ours / 1e6
    target = f"<= {RATIO_TARGET:.1f}" + (f", >= {PEAK_TARGET:.0%}" if wide else "")
    if theirs is None:
        ratio, met = None, None
    else:
        ratio = ours / theirs
        met = ratio <= RATIO_TARGET and (not wide or (peak is not None and gf >= PEAK_TARGET * peak))
    cells = [f"{ours:.2f}", "-" if theirs is None else f"{theirs:.2f}", "-" if ratio is None else f"{ratio:.2f}",
             f"{gf:.0f}", "-" if peak is None else f"{100 * gf / peak:.0f}%", target,
             "-" if met is None else ("yes" if met else "no")]
    return " | ".join(cells), met


def render_primitives(layers, medians, load, peak, rounds, budget_s):
    lines = ["### Convolution primitives: VGG16's and AlexNet's layers", "",
             run_header(peak, load), "",
             f"float32; per batch, {rounds} round{'s' if rounds > 1 else ''} of one child process per library (Lumen "
             "then PyTorch, the order rotating between rounds); each cell the median ms of >= 3 timed calls "
             f"(more while within {budget_s:g} s) after a warm-up, then the median over the rounds. fwd = conv2d "
             "with bias, bwd-data / bwd-filter = its input / weight gradient (PyTorch: "
             "aten.convolution_backward for that gradient alone). ratio = Lumen / PyTorch time (< 1: Lumen "
             "faster). GFLOP/s = 2 x output elements x C/g x k^2 (each pass) / Lumen's time; % peak: of the "
             f"sgemm peak above. Target (issue 22): ratio <= {RATIO_TARGET:.1f}, and >= {PEAK_TARGET:.0%} of "
             f"peak where C and O >= {PEAK_TARGET_CHANNELS}.", "",
             "| layer | C->O, HxW, k/s/p/g | batch | pass | Lumen ms | PyTorch ms | ratio | Lumen GFLOP/s "
             "| % peak | target | met |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---|---|"]
    met, totals = [], []
    for batch, by_lib in medians.items():
        ours_by_layer, theirs_by_layer = by_lib["lumen"], by_lib.get("torch")
        sums = {op: {"ours": 0.0, "theirs": 0.0 if theirs_by_layer else None, "flops": 0.0} for op in PASSES}
        for layer in layers:
            flops = conv_flops(layer, batch)
            shape = (f"{layer['c']}->{layer['o']}, {layer['hw']}x{layer['hw']}, "
                     f"{layer['k']}/{layer['s']}/{layer['p']}/{layer['g']}")
            for op in PASSES:
                ours = ours_by_layer[layer["name"]][op]
                theirs = theirs_by_layer[layer["name"]][op] if theirs_by_layer else None
                cells, ok = _cells(ours, theirs, flops, peak, min(layer["c"], layer["o"]) >= PEAK_TARGET_CHANNELS)
                lines.append(f"| {layer['name']} | {shape} | {batch} | {op} | {cells} |")
                met.append(ok)
                sums[op]["ours"] += ours
                sums[op]["flops"] += flops
                if theirs is not None:
                    sums[op]["theirs"] += theirs
        totals += [f"| **total** | | {batch} | {op} | {_cells(**total, peak=peak, wide=False)[0]} |"
                   for op, total in sums.items()]
    lines += totals
    if None not in met:
        lines += ["", f"Targets met on {sum(met)} of {len(met)} layer rows."]
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
            torch = _torch()
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


def bench_transposed(layers, rounds, budget_s, cpu_time=False):
    """({(lib, algorithm): {layer name: {pass: median ms over the rounds}}}, what else ran meanwhile) of
    ``layers`` (from fcn_upsamplings): each round one child process per entry of TRANSPOSED_RUNS, in an
    order that rotates between rounds. cpu_time: each child pinned to one core (so Lumen's pool has one
    worker) with one OpenBLAS and one PyTorch thread, timed by its CPU time, which other processes on the
    machine disturb much less."""
    runs = [r for r in TRANSPOSED_RUNS if r[0] == "lumen" or HAS_TORCH]
    names = [layer["name"] for layer in layers]
    one_core = min(os.sched_getaffinity(0))
    load = OtherLoad()
    samples = _child_rounds(
        runs, rounds,
        lambda run: ["--transposed-child", run[0], run[1] or "default", "--budget", str(budget_s),
                     *(["--cpu-time"] if cpu_time else []), "--layers", *names],
        env=dict(os.environ, OPENBLAS_NUM_THREADS="1") if cpu_time else None,
        preexec_fn=(lambda: os.sched_setaffinity(0, {one_core})) if cpu_time else None)
    return {run: _median_over_rounds(got) for run, got in samples.items()}, load.describe()


def render_transposed(layers, medians, load, peak, rounds, cpu_time=False):
    lines = ["### Transposed convolutions (FCN's upsamplings, learned weights)", "",
             run_header(peak, load), "",
             f"Shapes of Lumen's FCN-32s/16s/8s on a 500x500 image, batch 1, float32, no bias. Median of {rounds} "
             f"round{'s' if rounds > 1 else ''}, each round one child process per library or forced algorithm in "
             "rotating order"
             + ("; single-thread CPU time (one core, one OpenBLAS and PyTorch thread)" if cpu_time else "")
             + ". fwd = conv_transpose2d, bwd-data = its input gradient (a strided conv2d), bwd-filter = its "
             "weight gradient. Lumen: its default choice; Lumen im2col: GEMM + col2im forced. ratio = Lumen "
             "default / PyTorch (< 1: Lumen faster); GFLOP/s of Lumen's default"
             + ("" if cpu_time else " and % of the sgemm peak above")
             + f"; target (issue 22) ratio <= {RATIO_TARGET:.1f}.",
             "",
             "| layer | C, in -> out, k/s/p | pass | Lumen ms | PyTorch ms | ratio | Lumen GFLOP/s | % peak | target "
             "| met | Lumen im2col ms |",
             "|---|---|---|---:|---:|---:|---:|---:|---|---|---:|"]
    for layer in layers:
        flops = _transposed_arrays(layer)[3]
        shape = f"{layer['c']}, {layer['hw']} -> {layer['out']}, {layer['k']}/{layer['s']}/{layer['p']}"
        for op in PASSES:
            theirs = medians["torch", None][layer["name"]][op] if ("torch", None) in medians else None
            # the peak is the run's 2-thread wall-clock sgemm: no yardstick for one thread's CPU time
            cells, _ = _cells(medians["lumen", None][layer["name"]][op], theirs, flops,
                              None if cpu_time else peak, False)
            lines.append(f"| {layer['name']} | {shape} | {op} | {cells} | "
                         f"{medians['lumen', 'im2col'][layer['name']][op]:.2f} |")
    return "\n".join(lines) + "\n"


def tables(layers, batches, transposed_layers, rounds, budget_s, peak):
    """The per-primitive table of ``layers`` at ``batches`` and the transposed-convolution table of
    ``transposed_layers`` (an empty list leaves its table out), measured in child processes."""
    text = []
    if layers:
        text.append(render_primitives(layers, *bench_primitives(layers, batches, rounds, budget_s), peak, rounds,
                                      budget_s))
    if transposed_layers:
        text.append(render_transposed(transposed_layers, *bench_transposed(transposed_layers, rounds, budget_s),
                                      peak, rounds))
    return "\n".join(text)


def conv_stack_memory(with_torch):
    """Peak memory of one VGG16 conv-stack training step (batch 1, 224x224), each library in a child
    process (benchmarks/models.py measures resident memory from after building the net)."""
    from benchmarks.models import _child
    libs = ("lumen", "torch") if with_torch else ("lumen",)
    peaks = {lib: _child("vgg16_convs", lib, "fwd+bwd", 1, 2) for lib in libs}
    cells = ", ".join(f"{lib} {r['peak_mib']:.0f} MiB peak ({r['peak_mib'] - r['weights_mib']:.0f} MiB above the "
                      f"built net), {r['ms']:.0f} ms" for lib, r in peaks.items())
    return f"VGG16 conv-stack training step (forward + backward, batch 1, 224x224): {cells}."


def _by_name(layers, names):
    return [layer for layer in layers if layer["name"] in names]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5-layer subset at batch 1, 1 round")
    parser.add_argument("--write", action="store_true", help=f"replace the section in {RESULTS}")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8], help="of the per-primitive table")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of timed runs per op (default 0.5)")
    parser.add_argument("--transposed", action="store_true",
                        help="only the transposed-convolution table, printed (--write needs the full run)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the child processes (default 3)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="with --transposed: single-thread CPU time, robust when other processes share the cores")
    parser.add_argument("--primitive-child", nargs=2, metavar=("LIB", "BATCH"), help=argparse.SUPPRESS)
    parser.add_argument("--transposed-child", nargs=2, metavar=("LIB", "ALGORITHM"), help=argparse.SUPPRESS)
    parser.add_argument("--layers", nargs="+", help=argparse.SUPPRESS)  # a child's layers, by name
    opts = parser.parse_args(argv)
    if opts.primitive_child:
        lib, batch = opts.primitive_child
        print(json.dumps(primitive_child(lib, int(batch), _by_name(LAYERS, opts.layers), opts.budget)))
        return
    if opts.transposed_child:
        lib, algorithm = opts.transposed_child
        print(json.dumps(transposed_child(lib, None if algorithm == "default" else algorithm,
                                          _by_name(fcn_upsamplings(), opts.layers), opts.budget, opts.cpu_time)))
        return
    peak = sgemm_peak_gflops()
    if opts.transposed:
        layers = fcn_upsamplings()
        print(render_transposed(layers, *bench_transposed(layers, opts.rounds, opts.budget, opts.cpu_time), peak,
                                opts.rounds, opts.cpu_time))
        return
    if opts.quick:
        opts.batches, opts.rounds = [1], 1
    layers = [layer for layer in LAYERS if not opts.quick or layer["name"] in QUICK]
    text = "\n".join([SECTION, "", tables(layers, opts.batches, fcn_upsamplings(), opts.rounds, opts.budget, peak),
                      conv_stack_memory(HAS_TORCH)])
    print(text)
    if opts.write:
        write_section(SECTION, text)
        print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
