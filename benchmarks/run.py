"""Issue 22's tables: Lumen against PyTorch on every CPU workload, in one run.

Prints, each table's first line stating the date, the machine, the run's sgemm peak and what else ran
during its measurements (other processes' CPU and the hypervisor's steal, ``_common.OtherLoad``):

1. the per-primitive table (``benchmarks/conv.py`` measures): every convolution of VGG16 and AlexNet at
   batch 1 and 8, forward, backward-data and backward-filter, one row per layer, batch and pass with
   Lumen's and PyTorch's ms, their ratio, Lumen's GFLOP/s and % of the sgemm peak, the target and whether
   it is met, then the totals per pass and batch; each library in its own child process, Lumen and
   PyTorch alternating per batch (``--rounds``);
2. the transposed-convolution table: FCN's learned upsamplings at 500x500, against ratio <= 1.0;
3. the model table: FCN-8s (VGG16) training iteration and inference on one 500x500 image; VGG16 and
   AlexNet forward+backward at 224x224 (AlexNet: its 227x227 Caffe input), batch 1 and 8; GoogLeNet; the
   per-op Python overhead on tiny tensors. Each model workload runs in its own child process
   (``benchmarks/fcn.py`` and ``benchmarks/models.py`` do the measuring), Lumen and PyTorch back to back,
   so both see the same machine load. GFLOP/s counts the convolutions and linear layers (forward+backward
   = 3x the forward FLOPs); peak memory is each child's peak resident set while running (VmHWM).

The sgemm peak is NumPy's float32 matmul, measured once at the start of the run. ``--no-primitives``
leaves tables 1 and 2 out. ``--cpu-time`` adds a load-robust table: single-threaded CPU time
(process_time) of each library on the model workloads, for when other processes share the cores and
wall-clock ratios mean little.

Run as ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks [--quick] [--write]``
so OpenBLAS picks its kernels for the real CPU.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS, OtherLoad, write_section  # noqa: E402
from benchmarks import conv as conv_bench  # noqa: E402
from benchmarks import fcn, models, overhead  # noqa: E402

SECTION = "## Summary (python -m benchmarks)"

# (label, kind, args, target ratio Lumen / PyTorch): issue 22's targets
WORKLOADS = [
    ("FCN-8s train iter 500x500", "fcn", ("fwd+bwd",), 0.7),
    ("FCN-8s inference 500x500", "fcn", ("fwd",), 0.7),
    ("VGG16 conv stack fwd+bwd b1", "models", ("vgg16_convs", "fwd+bwd", 1), 1.0),
    ("VGG16 conv stack fwd+bwd b8", "models", ("vgg16_convs", "fwd+bwd", 8), 1.0),
    ("VGG16 fwd b1", "models", ("vgg16", "fwd", 1), 1.0),
    ("VGG16 fwd+bwd b1", "models", ("vgg16", "fwd+bwd", 1), 1.0),
    ("VGG16 fwd+bwd b8", "models", ("vgg16", "fwd+bwd", 8), 1.0),
    ("AlexNet fwd b1", "models", ("alexnet", "fwd", 1), 1.0),
    ("AlexNet fwd+bwd b1", "models", ("alexnet", "fwd+bwd", 1), 1.0),
    ("AlexNet fwd+bwd b8", "models", ("alexnet", "fwd+bwd", 8), 1.0),
    ("GoogLeNet fwd b1", "models", ("googlenet", "fwd", 1), 1.0),
    ("GoogLeNet fwd+bwd b8", "models", ("googlenet", "fwd+bwd", 8), 1.0),
]
QUICK = {"FCN-8s train iter 500x500", "FCN-8s inference 500x500", "VGG16 fwd+bwd b1", "AlexNet fwd+bwd b1"}
OVERHEAD_TARGET = 1.5


def forward_gflop(kind, args, torch):
    """GFLOP of one forward pass: 2 * MACs of every Conv2d, ConvTranspose2d and Linear (shapes only,
    computed on torch's meta device)."""
    if kind == "fcn":
        model, x_shape = fcn.torch_fcn8s(torch), (1, 3, 500, 500)
    else:
        net, _, batch = args
        model = models.WORKLOADS[net].torch_(torch)
        x_shape = (batch, 3, models.WORKLOADS[net].size, models.WORKLOADS[net].size)
    total = [0]

    def hook(module, inputs, output):
        x = inputs[0]
        if isinstance(module, torch.nn.Linear):
            total[0] += 2 * x.numel() * module.out_features
        elif isinstance(module, torch.nn.ConvTranspose2d):
            total[0] += 2 * x.numel() * module.weight[0].numel()
        else:
            total[0] += 2 * output.numel() * module.weight[0].numel()

    model = model.to("meta").eval()
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.empty(x_shape, device="meta"))
    return total[0] / 1e9


def measure(kind, args, lib, repeats):
    if kind == "fcn":
        return fcn._child(lib, args[0], 500, 1.0, repeats)
    net, mode, batch = args
    return models._child(net, lib, mode, batch, repeats)


def cpu_time_child(index, lib, repeats):
    """Best-of-``repeats`` single-thread CPU seconds of workload ``index`` in ``lib`` (this process)."""
    import numpy as np
    _, kind, args, _ = WORKLOADS[index]
    mode = args[0] if kind == "fcn" else args[1]
    batch = 1 if kind == "fcn" else args[2]
    size = 500 if kind == "fcn" else models.WORKLOADS[args[0]].size
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, size, size), dtype=np.float32)
    labels = rng.integers(0, 21, (1, size, size)) if kind == "fcn" else rng.integers(0, models.NUM_CLASSES, batch)
    if lib == "lumen":
        import lumen
        from lumen.backends.cpu import parallel
        from lumen.nn import functional as F
        from lumen.vision.models import fcn as lumen_fcn
        parallel.WORKERS = 1
        model = lumen_fcn.fcn8s() if kind == "fcn" else models.WORKLOADS[args[0]].lumen()
        if kind == "fcn":  # non-zero scorers, as benchmarks/fcn.py
            with lumen.no_grad():
                for name, p in model.named_parameters():
                    if name.startswith("score"):
                        p.normal_(0, 0.01)
        xt, yt, no_grad, ce = lumen.from_numpy(x), lumen.from_numpy(labels), lumen.no_grad, F.cross_entropy
    else:
        import torch
        torch.set_num_threads(1)
        model = fcn.torch_fcn8s(torch) if kind == "fcn" else models.WORKLOADS[args[0]].torch_(torch)
        xt, yt, no_grad = torch.from_numpy(x), torch.from_numpy(labels), torch.no_grad
        ce = torch.nn.functional.cross_entropy
    model.train(mode != "fwd")

    def step():
        if mode == "fwd":
            with no_grad():
                model(xt)
        elif kind == "fcn":
            model.zero_grad()
            ce(model(xt), yt, ignore_index=255, reduction="sum").backward()
        else:
            model.zero_grad()
            models._loss(model(xt), yt, ce).backward()
    step()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        step()
        best = min(best, time.process_time() - t0)
    return {"cpu_s": best, "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure_cpu(index, lib, repeats):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cmd = [sys.executable, __file__, "--cpu-child", str(index), lib, "--repeats", str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{WORKLOADS[index][0]} {lib} (CPU time) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def render_cpu(rows):
    lines = ["", "Single-thread CPU time (`--cpu-time`: OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1), "
             "time.process_time, best of the repeats after a warm-up; peak = ru_maxrss of the whole child, "
             "model building included). Other processes on the cores disturb this far less than wall time.", "",
             "| workload | Lumen CPU s | PyTorch CPU s | ratio | target | Lumen ru_maxrss MiB | PyTorch ru_maxrss MiB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, target, ours, theirs in rows:
        lines.append(f"| {label} | {ours['cpu_s']:.3g} | {theirs['cpu_s']:.3g} | "
                     f"{ours['cpu_s'] / theirs['cpu_s']:.2f} | <= {target:g} | {ours['maxrss_mib']:.0f} | "
                     f"{theirs['maxrss_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def render(rows, over, peak, load, repeats):
    lines = ["### Models", "",
             f"{datetime.date.today().isoformat()}; {models._cpu_name()}; nproc={len(os.sched_getaffinity(0))}; "
             f"NumPy float32 matmul peak in this run {peak:.0f} GFLOP/s; PyTorch with set_num_threads(2); "
             f"OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for this command only; {load.describe()}.", "",
             f"Median of {repeats} timed runs after a warm-up, each library in its own child process, "
             "Lumen and PyTorch back to back per workload (others: cores other processes used during it). "
             "ratio = Lumen / PyTorch time (< 1: Lumen faster). GFLOP/s: conv + linear FLOPs (fwd+bwd = 3x fwd) / Lumen time; "
             "% peak: of the sgemm peak above. Peak memory: peak resident set of each child while running.",
             "",
             "| workload | Lumen ms | PyTorch ms | ratio | target | met | Lumen GFLOP/s | % peak "
             "| Lumen peak MiB | PyTorch peak MiB | others |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for label, target, gflop, ours, theirs, ld in rows:
        if theirs:
            ratio = ours["ms"] / theirs["ms"]
            cmp = (f"{theirs['ms']:.0f} | {ratio:.2f} | <= {target:g} | {'yes' if ratio <= target else 'no'}",
                   f"{theirs['peak_mib']:.0f}")
        else:
            cmp = (f"- | - | <= {target:g} | -", "-")
        gfs = gflop / (ours["ms"] / 1e3) if gflop else None
        flops = f"{gfs:.0f} | {100 * gfs / peak:.0f}%" if gfs else "- | -"
        lines.append(f"| {label} | {ours['ms']:.0f} | {cmp[0]} | {flops} | {ours['peak_mib']:.0f} | {cmp[1]} "
                     f"| {'-' if ld is None else f'{ld:.2f}'} |")
    if not load.quiet() or any(row[-1] is not None and row[-1] > OtherLoad.QUIET_CORES for row in rows):
        lines[4:4] = ["**Not a quiet run**: other processes shared the cores, so the wall-clock "
                      "ratios mostly measure contention (Lumen's 2 OpenBLAS threads suffer most); compare the "
                      "single-thread CPU-time table (`--cpu-time`) before calling a target met or missed.", ""]
    if over:
        n_ops, per_op = over
        lumen_total = sum(per_op["Lumen"])
        (no_gc_name, no_gc), = [(k, v) for k, v in per_op.items() if k.startswith("Lumen") and k != "Lumen"]
        torch_totals = [sum(v) for k, v in per_op.items() if k.startswith("PyTorch")]
        if torch_totals:
            ratio = lumen_total / torch_totals[0]
            lines.append(f"| per-op overhead, 8x8 tanh(y*w+b) chain ({n_ops} ops), µs/op fwd+bwd | "
                         f"{lumen_total:.1f} | {torch_totals[0]:.1f} | {ratio:.2f} | <= {OVERHEAD_TARGET:g} | "
                         f"{'yes' if ratio <= OVERHEAD_TARGET else 'no'} | - | - | - | - | - |")
            lines.append(f"| per-op overhead, {no_gc_name} | {sum(no_gc):.1f} | {torch_totals[0]:.1f} | "
                         f"{sum(no_gc) / torch_totals[0]:.2f} | - | - | - | - | - | - | - |")
    return "\n".join(lines) + "\n"


def _selected(name, only):
    return not only or any(s.lower() in name.lower() for s in only)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a subset: 5 conv layers at batch 1, FCN and batch-1 models; 1 repeat and round")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per model workload")
    # 2 rounds: each library goes first once; with the 0.3 s budget (ops under 20 ms still get conv.py's
    # 15 runs) both tables take ~3 min on a quiet 2-core machine, ~5 at load 1.8
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of the primitive and transposed children (default 2)")
    parser.add_argument("--budget", type=float, default=0.3,
                        help="seconds of timed runs per primitive and pass (at least 3 runs; default 0.3)")
    parser.add_argument("--only", nargs="+", default=None,
                        help="substrings (any case) of conv layer, upsampling and workload labels to run")
    parser.add_argument("--no-primitives", action="store_true", help="leave out the primitive and transposed tables")
    parser.add_argument("--cpu-time", action="store_true", help="also the single-thread CPU-time table")
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of {RESULTS}")
    parser.add_argument("--cpu-child", nargs=2, metavar=("INDEX", "LIB"), help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.cpu_child:
        print(json.dumps(cpu_time_child(int(opts.cpu_child[0]), opts.cpu_child[1], opts.repeats)))
        return
    if opts.quick:
        opts.repeats, opts.rounds = 1, 1
    try:
        import torch
    except ImportError:
        torch = None
    peak = conv_bench.sgemm_peak_gflops()
    print(f"sgemm peak {peak:.0f} GFLOP/s", file=sys.stderr)
    sections = [SECTION, ""]
    if not opts.no_primitives:
        layers = [layer for layer in conv_bench.LAYERS
                  if (not opts.quick or layer["name"] in conv_bench.QUICK) and _selected(layer["name"], opts.only)]
        upsamplings = [layer for layer in conv_bench.fcn_upsamplings() if _selected(layer["name"], opts.only)]
        sections.append(conv_bench.tables(layers, [1] if opts.quick else [1, 8], upsamplings, opts.rounds,
                                          opts.budget, peak))
    load = OtherLoad()
    rows, cpu_rows = [], []
    for index, (label, kind, args, target) in enumerate(WORKLOADS):
        if (opts.quick and label not in QUICK) or not _selected(label, opts.only):
            continue
        if opts.cpu_time and torch is not None:
            cpu_rows.append((label, target, measure_cpu(index, "lumen", opts.repeats),
                             measure_cpu(index, "torch", opts.repeats)))
        others = OtherLoad()
        ours = measure(kind, args, "lumen", opts.repeats)
        theirs = measure(kind, args, "torch", opts.repeats) if torch is not None else None
        ld = others.read()[0]
        mode = args[0] if kind == "fcn" else args[1]
        gflop = forward_gflop(kind, args, torch) * (3 if mode == "fwd+bwd" else 1) if torch is not None else None
        rows.append((label, target, gflop, ours, theirs, ld))
        print(f"{label}: Lumen {ours['ms']:.0f} ms, PyTorch {theirs['ms'] if theirs else float('nan'):.0f} ms, "
              f"other processes {ld if ld is None else round(ld, 2)} cores", file=sys.stderr)
    over = None
    if not opts.only or any("overhead" in s for s in opts.only):
        over = overhead.run(300 if opts.quick else 2000, 3 if opts.quick else 7)
    if rows or over:
        sections.append(render(rows, over, peak, load, opts.repeats))
    if cpu_rows:
        sections.append(render_cpu(cpu_rows))
    text = "\n".join(sections)
    print(text)
    if opts.write:
        write_section(SECTION, text, first=True)


if __name__ == "__main__":
    main()
