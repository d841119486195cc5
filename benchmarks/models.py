"""Benchmark the classification nets: Lumen against the same nets hand-built in PyTorch.

AlexNet (torchvision layout), VGG16 and GoogLeNet (Inception-v1, BVLC layout, aux heads
in training) at 224x224, batch 1 and 8, float32, CPU: forward (eval, no grad) and
forward+backward (train mode, cross-entropy on random labels; GoogLeNet adds 0.3 x each
aux loss as the BVLC recipe does). Every (net, batch, mode, library) runs in its own child
process, which reports the median time of ``--repeats`` runs after a warm-up, the resident
memory after building the net ("weights": parameters plus library and interpreter), and the
peak resident memory while running (VmHWM reset after building: weights, activations,
gradients, workspaces); their difference is what the workload itself adds. PyTorch gets ``torch.set_num_threads(2)``.

Run as ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/models.py
[--quick] [--write]`` so OpenBLAS picks its kernels for the real CPU. More nets: add a
``Workload`` with ``add_workload`` (a Lumen builder, a torch builder, an input size).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS, OtherLoad, time_and_measure, write_section  # noqa: E402

SECTION = "## Models"
NUM_CLASSES = 1000


class Workload(NamedTuple):
    """A net to time: ``lumen()`` / ``torch_(torch)`` build it; inputs are (N, 3, size, size)."""
    lumen: Callable
    torch_: Callable
    size: int = 224


WORKLOADS: dict[str, Workload] = {}


def add_workload(name: str, workload: Workload) -> None:
    """Register a net under ``name`` (the ``--nets`` choices are WORKLOADS' keys)."""
    WORKLOADS[name] = workload


# ---- the nets in plain torch.nn (torchvision is not a dependency) ------------------------------

def torch_alexnet(torch):
    tnn = torch.nn

    class AlexNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(3, 64, 11, 4, 2), tnn.ReLU(True), tnn.MaxPool2d(3, 2),
                tnn.Conv2d(64, 192, 5, padding=2), tnn.ReLU(True), tnn.MaxPool2d(3, 2),
                tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(True), tnn.Conv2d(384, 256, 3, padding=1),
                tnn.ReLU(True), tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(True), tnn.MaxPool2d(3, 2))
            self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
            self.classifier = tnn.Sequential(
                tnn.Dropout(), tnn.Linear(9216, 4096), tnn.ReLU(True), tnn.Dropout(),
                tnn.Linear(4096, 4096), tnn.ReLU(True), tnn.Linear(4096, NUM_CLASSES))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
    return AlexNet()


def torch_vgg16(torch):
    tnn = torch.nn
    layers, c = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(tnn.MaxPool2d(2, 2))
        else:
            layers += [tnn.Conv2d(c, v, 3, padding=1), tnn.ReLU(True)]
            c = v

    class VGG(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(*layers)
            self.avgpool = tnn.AdaptiveAvgPool2d((7, 7))
            self.classifier = tnn.Sequential(
                tnn.Linear(25088, 4096), tnn.ReLU(True), tnn.Dropout(), tnn.Linear(4096, 4096),
                tnn.ReLU(True), tnn.Dropout(), tnn.Linear(4096, NUM_CLASSES))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
    return VGG()


def torch_googlenet(torch):
    """Inception-v1 as ``lumen.vision.models.GoogLeNet``: LRN, ceil pooling, 5x5 branches, aux heads."""
    from lumen.vision.models.googlenet import INCEPTION_CFGS
    tnn, F = torch.nn, torch.nn.functional

    class Inception(tnn.Module):
        def __init__(self, i, c1, r3, c3, r5, c5, pp):
            super().__init__()
            self.b1 = tnn.Conv2d(i, c1, 1)
            self.r3, self.b3 = tnn.Conv2d(i, r3, 1), tnn.Conv2d(r3, c3, 3, padding=1)
            self.r5, self.b5 = tnn.Conv2d(i, r5, 1), tnn.Conv2d(r5, c5, 5, padding=2)
            self.pp = tnn.Conv2d(i, pp, 1)

        def forward(self, x):
            return torch.cat([F.relu(self.b1(x)), F.relu(self.b3(F.relu(self.r3(x)))),
                              F.relu(self.b5(F.relu(self.r5(x)))),
                              F.relu(self.pp(F.max_pool2d(x, 3, 1, 1, ceil_mode=True)))], 1)

    class Aux(tnn.Module):
        def __init__(self, i):
            super().__init__()
            self.conv, self.fc = tnn.Conv2d(i, 128, 1), tnn.Linear(2048, 1024)
            self.drop, self.classifier = tnn.Dropout(0.7), tnn.Linear(1024, NUM_CLASSES)

        def forward(self, x):
            x = F.relu(self.conv(F.avg_pool2d(x, 5, 3, ceil_mode=True)))
            return self.classifier(self.drop(F.relu(self.fc(torch.flatten(x, 1)))))

    class GoogLeNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3)
            self.conv2_reduce, self.conv2 = tnn.Conv2d(64, 64, 1), tnn.Conv2d(64, 192, 3, padding=1)
            self.lrn = tnn.LocalResponseNorm(5, 1e-4, 0.75)
            self.blocks = tnn.ModuleDict({k: Inception(*v) for k, v in INCEPTION_CFGS.items()})
            self.aux1, self.aux2 = Aux(512), Aux(528)
            self.drop, self.fc = tnn.Dropout(0.4), tnn.Linear(1024, NUM_CLASSES)

        def forward(self, x):
            pool = lambda t: F.max_pool2d(t, 3, 2, ceil_mode=True)  # noqa: E731
            x = self.lrn(pool(F.relu(self.conv1(x))))
            x = pool(self.lrn(F.relu(self.conv2(F.relu(self.conv2_reduce(x))))))
            aux = []
            for name, block in self.blocks.items():
                if name in ("inception4a", "inception5a"):
                    x = pool(x)
                x = block(x)
                if self.training and name in ("inception4a", "inception4d"):
                    aux.append((self.aux1 if name == "inception4a" else self.aux2)(x))
            logits = self.fc(self.drop(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))
            return (logits, *aux) if self.training else logits
    return GoogLeNet()


def _lumen(name):
    def build():
        from lumen.vision import models
        return getattr(models, name)(num_classes=NUM_CLASSES)
    return build


def _lumen_vgg16_convs():
    from lumen import nn
    from lumen.vision import models

    class ConvStack(nn.Module):
        """VGG16's 13 convolutions; the first NUM_CLASSES features of conv5_3's pooled output stand
        in for logits, so the loss and backward run through the conv stack alone."""

        def __init__(self):
            super().__init__()
            self.features = models.vgg16().features

        def forward(self, x):
            return self.features(x).flatten(1)[:, :NUM_CLASSES]
    return ConvStack()


def torch_vgg16_convs(torch):
    features = torch_vgg16(torch).features

    class ConvStack(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = features

        def forward(self, x):
            return self.features(x).flatten(1)[:, :NUM_CLASSES]
    return ConvStack()


add_workload("alexnet", Workload(_lumen("alexnet"), torch_alexnet))
add_workload("vgg16_convs", Workload(_lumen_vgg16_convs, torch_vgg16_convs))
add_workload("vgg16", Workload(_lumen("vgg16"), torch_vgg16))
add_workload("googlenet", Workload(_lumen("googlenet"), torch_googlenet))


# ---- measurement ----------------------------------------------------------------------------------


def _loss(outputs, labels, cross_entropy):
    # GoogLeNet in training returns (logits, aux1, aux2); BVLC weights the aux losses 0.3.
    if isinstance(outputs, tuple):
        main, *aux = outputs
        return cross_entropy(main, labels) + sum(0.3 * cross_entropy(a, labels) for a in aux)
    return cross_entropy(outputs, labels)


def workload(net: str, lib: str, mode: str, batch: int, repeats: int = 3) -> dict:
    """Time ``mode`` ("fwd" or "fwd+bwd") of ``net`` in ``lib`` ("lumen" or "torch"), in this process.

    Returns {"ms": median ms per batch, "runs": [...], "weights_mib": RSS after building,
    "peak_mib": VmHWM while running (from building on if "peak_reset" is False)}.
    """
    if net not in WORKLOADS:
        raise ValueError(f"workload: unknown net {net!r}; known: {sorted(WORKLOADS)}")
    if mode not in ("fwd", "fwd+bwd"):
        raise ValueError(f"workload: mode must be 'fwd' or 'fwd+bwd', got {mode!r}")
    spec = WORKLOADS[net]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, spec.size, spec.size), dtype=np.float32)
    labels = rng.integers(0, NUM_CLASSES, batch)
    if lib == "lumen":
        import lumen
        from lumen.nn import functional as F
        model = spec.lumen()
        xt, yt = lumen.from_numpy(x), lumen.from_numpy(labels)
        no_grad, ce = lumen.no_grad, F.cross_entropy
    elif lib == "torch":
        import torch
        torch.set_num_threads(2)
        model = spec.torch_(torch)
        xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
        no_grad, ce = torch.no_grad, torch.nn.functional.cross_entropy
    else:
        raise ValueError(f"workload: lib must be 'lumen' or 'torch', got {lib!r}")
    model.train(mode != "fwd")

    def run():
        if mode == "fwd":
            with no_grad():
                model(xt)
        else:
            model.zero_grad()
            _loss(model(xt), yt, ce).backward()
    return time_and_measure(run, repeats)


def _child(net, lib, mode, batch, repeats):
    cmd = [sys.executable, __file__, "--child", net, lib, mode, str(batch), "--repeats", str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{net} {lib} {mode} batch {batch} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(results, repeats, load):
    try:
        import torch
        tv = f"torch {torch.__version__} (set_num_threads(2))"
    except ImportError:
        tv = "torch not installed"
    lines = [SECTION, "",
             f"{datetime.date.today().isoformat()}; {_cpu_name()}; nproc={len(os.sched_getaffinity(0))}; "
             f"numpy {np.__version__}; {tv}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}; "
             f"{load}.", "",
             f"float32, CPU; ms per image = median of {repeats} timed batches (after a warm-up) / batch; "
             "fwd = eval mode, no grad; fwd+bwd = train mode, cross-entropy, backward. Memory (MiB): "
             "resident after building the net (weights + library), then peak while running, as "
             "'built -> peak'.", "",
             "| net | size | batch | mode | Lumen ms/img | torch ms/img | Lumen / torch | "
             "Lumen MiB | torch MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (net, batch, mode), by_lib in results.items():
        ours, theirs = by_lib["lumen"], by_lib.get("torch")
        t_ms = f"{theirs['ms'] / batch:.1f}" if theirs else "-"
        ratio = f"{ours['ms'] / theirs['ms']:.2f}" if theirs else "-"
        t_mem = f"{theirs['weights_mib']:.0f} -> {theirs['peak_mib']:.0f}" if theirs else "-"
        lines.append(f"| {net} | {WORKLOADS[net].size} | {batch} | {mode} | {ours['ms'] / batch:.1f} | {t_ms} | "
                     f"{ratio} | {ours['weights_mib']:.0f} -> {ours['peak_mib']:.0f} | {t_mem} |")
    return "\n".join(lines) + "\n"


def _cpu_name():
    try:
        text = Path("/proc/cpuinfo").read_text()
        return re.search(r"^model name\s*:\s*(.+)$", text, re.M).group(1).strip()
    except (OSError, AttributeError):
        return "unknown CPU"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=None, help=f"subset of {sorted(WORKLOADS)}")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="batch 1 only, 1 repeat")
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of {RESULTS}")
    parser.add_argument("--child", nargs=4, metavar=("NET", "LIB", "MODE", "BATCH"), help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.child:
        net, lib, mode, batch = opts.child
        print(json.dumps(workload(net, lib, mode, int(batch), repeats=opts.repeats)))
        return
    if opts.quick:
        opts.batches, opts.repeats = [1], 1
    nets = opts.nets or list(WORKLOADS)
    unknown = sorted(set(nets) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown net(s) {unknown}; known: {sorted(WORKLOADS)}")
    try:
        import torch  # noqa: F401
        libs = ("lumen", "torch")
    except ImportError:
        libs = ("lumen",)
    load = OtherLoad()
    results = {}
    for net in nets:
        for batch in opts.batches:
            for mode in ("fwd", "fwd+bwd"):
                by_lib = results[(net, batch, mode)] = {}
                for lib in libs:
                    by_lib[lib] = r = _child(net, lib, mode, batch, opts.repeats)
                    print(f"{net} b{batch} {mode} {lib}: {r['ms'] / batch:.1f} ms/img, "
                          f"peak {r['peak_mib']:.0f} MiB", file=sys.stderr)
    text = render(results, opts.repeats, load.describe())
    print(text)
    if opts.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
