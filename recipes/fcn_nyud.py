"""Train and score FCNs on NYUDv2 (40 classes): the rows of Table 4 of Long, Shelhamer and Darrell (2015).

    python -m recipes.fcn_nyud                                   # embedded synthetic rooms: all five rows
    python -m recipes.fcn_nyud --input color-hha                 # RGB, then HHA, then their late fusion
    python -m recipes.fcn_nyud --data nyud --input color-d --init vgg16.npz --device cuda   # the real data

``--input``: color (FCN-32s RGB), hha (FCN-32s HHA), color-d (RGB-D early fusion: one trunk of 4 input
channels, depth as log millimetres, the extra first-layer channel started as the mean of the colour
filters) or color-hha (late fusion: the RGB and HHA nets are trained first, then the two-trunk net starts
from them and sums their scores before upsampling, as the reference's ``nyud-fcn32s-color-hha``; then,
as the paper's last row, that fusion upgraded to FCN-16s: each trunk's pool4 scored, the new scorers zero). Without
``--input`` all five rows are trained. Real data: train on trainval (795 images), score on test (654), as the
paper. The embedded default: synthetic rooms in the same layout (``synthetic_nyud``) where colour alone
cannot tell a box from a picture and depth alone cannot tell a picture from a whiteboard, trained from
scratch with Adam; the reference's solver (SGD, lr 1e-10 for the summed loss, momentum 0.99) is the
default with ``--data``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lumen.vision.datasets import NYUD_CLASSES, NYUDInput, NYUDv2, synthetic_nyud
from lumen.vision.datasets.nyud import NYUD_BGR_MEAN, NYUD_HHA_MEAN
from lumen.vision.models import fcn
from lumen.vision.models.fusion import LateFusionFCN
from lumen.vision.transforms import from_caffe_input
from recipes import _benchmarks as bench
from recipes._common import cache_dir

ROWS = {"color": "FCN-32s RGB", "color-d": "FCN-32s RGBD", "hha": "FCN-32s HHA", "color-hha": "FCN-32s RGB-HHA",
        "color-hha-16s": "FCN-16s RGB-HHA"}
# Table 4 of the paper (real NYUDv2 test): pixel acc., mean acc., mean IU, f.w. IU.
PAPER_TABLE = {"FCN-32s RGB": (60.0, 42.2, 29.2, 43.9), "FCN-32s RGBD": (61.5, 42.4, 30.5, 45.5),
               "FCN-32s HHA": (57.1, 35.2, 24.2, 40.4), "FCN-32s RGB-HHA": (64.3, 44.9, 32.8, 48.0),
               "FCN-16s RGB-HHA": (65.4, 46.1, 34.0, 49.5)}
STAGES = {"color": ("color",), "hha": ("hha",), "color-d": ("color-d",),
          "color-hha": ("color", "hha", "color-hha", "color-hha-16s"),
          "all": ("color", "hha", "color-d", "color-hha", "color-hha-16s")}
DATA_OF = {"color-hha-16s": "color-hha"}  # a stage's input data, where it is not the stage's own name
# 128 px: FCN-32s's stride-32 scores need a few cells across an image to place the objects at all.
EMBEDDED = dict(iters=300, optimizer="adam", lr=1e-3, stage_lr_factor=1.0, momentum=0.9, weight_decay=0.0,
                normalize=True, eval_every=150, width=1 / 16, n_train=60, n_val=20, size=128)
# The reference (nyud-fcn32s-*/solve.py): 50 rounds of 2000 iterations, scored after each.
PAPER = dict(bench.PAPER_SOLVER, iters=100000, eval_every=2000)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.fcn_nyud", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="the reference's nyud folder ({trainval,test}.txt, data/images, "
                   "data/hha, data/depth, segmentation); default: the embedded synthetic rooms")
    p.add_argument("--input", choices=tuple(STAGES), help="the net's input (Table 4's row); default: all")
    bench.add_arguments(p, "runs/fcn_nyud")
    args = bench.finish_arguments(p.parse_args(argv), EMBEDDED, PAPER)
    if args.input is None:
        args.input = "all"
    return args


def _display(x, kind):
    """The input of a ``kind`` net drawn as a picture: its colour image, else its HHA image."""
    if kind == "hha":
        return from_caffe_input(x, NYUD_HHA_MEAN)
    return from_caffe_input((x[0] if isinstance(x, (list, tuple)) else x)[:3], NYUD_BGR_MEAN)


def spec_for(args) -> bench.Spec:
    if args.data is None:
        root = synthetic_nyud(cache_dir(args) / f"nyud-synthetic-{args.n_train}-{args.n_val}-{args.size}",
                              n_train=args.n_train, n_test=args.n_val, size=args.size)
        description = f"embedded synthetic NYUDv2 ({args.n_train} trainval / {args.n_val} test, {args.size} px)"
    else:
        root, description = args.data, f"NYUDv2 at {args.data} (trainval / test)"
    keys = STAGES[args.input]
    data = {kind: tuple(NYUDv2(root, split, kind, transform=NYUDInput(kind)) for split in ("trainval", "test"))
            for kind in dict.fromkeys(DATA_OF.get(key, key) for key in keys)}
    init = bench.pretrained(args)

    def single(kind):
        channels = 3 if kind != "color-d" else 4
        return lambda: fcn.fcn32s(len(NYUD_CLASSES), width=args.width, pretrained_backbone=init, in_channels=channels)

    def make(kind):
        if kind.startswith("color-hha"):
            arch = "fcn16s" if kind == "color-hha-16s" else "fcn32s"
            return lambda: LateFusionFCN(arch, len(NYUD_CLASSES), {"color": 3, "hha": 3}, width=args.width)
        return single(kind)

    carried = {"color-hha": (("color", "hha"), lambda c, h: LateFusionFCN.from_nets({"color": c, "hha": h})),
               "color-hha-16s": (("color-hha",), lambda fused: LateFusionFCN.from_fusion(fused, "fcn16s"))}
    stages = []
    for kind in keys:
        init_from, carry = carried.get(kind, ((), None))
        stages.append(bench.Stage(kind, ROWS[kind], DATA_OF.get(kind, kind), make(kind), init_from=init_from,
                                  carry=carry))
    return bench.Spec("fcn_nyud", stages, data, {"": list(NYUD_CLASSES)}, lambda x: _display(x, keys[-1]),
                      lambda results: bench.table(PAPER_TABLE, results), meta={"input": args.input, "mean": list(NYUD_BGR_MEAN)},
                      description=description)


def run(args, on_iteration=None):
    return bench.run(args, spec_for(args), on_iteration)


def main(argv=None):
    return bench.main("fcn_nyud", lambda a: run(parse_args(a)), argv)


if __name__ == "__main__":
    sys.exit(main())
