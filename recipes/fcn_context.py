"""Train and score FCNs on PASCAL-Context (59 classes and background), the journal version's benchmark.

    python -m recipes.fcn_context                                # embedded synthetic scenes
    python -m recipes.fcn_context --data VOCdevkit/VOC2010 --context pascal-context --init vgg16.npz --device cuda

FCN-32s, then FCN-16s from it, then FCN-8s from that (the reference's ``pascalcontext-fcn*``), on
VOC2010's train list, scored on its val list, labels mapped from the 459 source labels onto the 59
classes as the reference does (``PASCALContext``). The embedded default: synthetic scenes with VOC
objects in the same two folders (``synthetic_context``), trained from scratch with Adam, FCN-32s and
FCN-16s only (``--stages 3`` adds FCN-8s).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lumen.vision.datasets import CONTEXT_CLASSES, PASCALContext, synthetic_context
from lumen.vision.datasets.pascalcontext import CONTEXT_BGR_MEAN
from lumen.vision.models import fcn
from lumen.vision.transforms import ToCaffeInput, from_caffe_input
from recipes import _benchmarks as bench
from recipes._common import UserError, cache_dir

# The PAMI version (arXiv 1605.06211) reports PASCAL-Context val numbers; they are not in the facts
# this recipe was written from, so no paper row is printed.
PAPER_TABLE: dict = {}
# 128 px as NYUD's: at 48 px FCN-32s's stride-32 scores were under two cells across an image (Context's mean IU
# 5.2 then, 8.0 at 128 px with 300 iterations).
EMBEDDED = dict(iters=300, optimizer="adam", lr=1e-3, stage_lr_factor=1.0, momentum=0.9, weight_decay=0.0,
                normalize=True, eval_every=150, width=1 / 16, n_train=60, n_val=20, size=128, stages=2)
# The reference solvers: lr 1e-10, 1e-12, 1e-14 for 32s, 16s, 8s; 50 rounds of 2000 iterations.
PAPER = dict(bench.PAPER_SOLVER, iters=100000, eval_every=2000, stages=3)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.fcn_context", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="the VOC2010 folder (JPEGImages/, ImageSets/Main/); default: the "
                   "embedded synthetic scenes")
    p.add_argument("--context", type=Path, help="the PASCAL-Context folder (labels.txt, 59_labels.txt, trainval/)")
    p.add_argument("--stages", type=int, choices=(1, 2, 3), help="FCN-32s only, + FCN-16s, + FCN-8s")
    bench.add_arguments(p, "runs/fcn_context")
    args = bench.finish_arguments(p.parse_args(argv), EMBEDDED, PAPER)
    if (args.data is None) != (args.context is None):
        raise UserError("--data (VOC2010) and --context (PASCAL-Context annotations) go together")
    return args


def spec_for(args) -> bench.Spec:
    if args.data is None:
        root = synthetic_context(cache_dir(args) / f"context-synthetic-{args.n_train}-{args.n_val}-{args.size}",
                                 n_train=args.n_train, n_val=args.n_val, size=args.size)
        voc, context = root / "VOC2010", root / "context"
        description = f"embedded synthetic PASCAL-Context ({args.n_train} train / {args.n_val} val, {args.size} px)"
    else:
        voc, context, description = args.data, args.context, f"PASCAL-Context at {args.context} on {args.data}"
    data = {"context": tuple(PASCALContext(voc, context, split, transform=ToCaffeInput(CONTEXT_BGR_MEAN))
                             for split in ("train", "val"))}
    init, n, w = bench.pretrained(args), len(CONTEXT_CLASSES), args.width
    stages = [bench.Stage("fcn32s", "FCN-32s", "context", lambda: fcn.fcn32s(n, width=w, pretrained_backbone=init)),
              bench.Stage("fcn16s", "FCN-16s", "context", lambda: fcn.fcn16s(n, width=w), ("fcn32s",),
                          fcn.FCN16s.from_fcn32s, args.stage_lr_factor),
              bench.Stage("fcn8s", "FCN-8s", "context", lambda: fcn.fcn8s(n, width=w), ("fcn16s",),
                          fcn.FCN8s.from_fcn16s, args.stage_lr_factor ** 2)][:args.stages]
    return bench.Spec("fcn_context", stages, data, {"": list(CONTEXT_CLASSES)},
                      lambda x: from_caffe_input(x, CONTEXT_BGR_MEAN),
                      lambda results: bench.table(PAPER_TABLE, results), meta={"mean": list(CONTEXT_BGR_MEAN)},
                      description=description)


def run(args, on_iteration=None):
    return bench.run(args, spec_for(args), on_iteration)


def main(argv=None):
    return bench.main("fcn_context", lambda a: run(parse_args(a)), argv)


if __name__ == "__main__":
    sys.exit(main())
