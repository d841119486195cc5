"""Segment your own images with a trained FCN.

    python -m recipes.predict runs/fcn_voc/checkpoint.npz photo.jpg holidays/ list.txt --out masks --overlay

For each image (a file, every image under a folder, or each path listed in a .txt file) it writes
``OUT/<relative path>.png``: a palette PNG of the image's exact size whose pixel values are class ids,
coloured with the data set's palette; ``--overlay`` adds ``<name>_overlay.jpg`` (the image blended with
the colours and a legend of the classes found), ``--scores`` adds ``<name>.npy`` (class probabilities,
(C, H, W) float32). The net, its class names and its preprocessing come from the checkpoint, so images
are prepared as in training. A file that cannot be read is named and skipped; the exit status is then 1.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

import lumen
from lumen import nn
from lumen.serialization import CheckpointError
from lumen.vision.datasets import VOC_CLASSES
from lumen.vision.inference import Predictor, find_images
from lumen.vision.models import fcn
from lumen.vision.transforms import VOC_BGR_MEAN
from recipes.fcn_voc import build_net, checkpoint_trunk


class UserError(Exception):
    """A problem with the command line or the checkpoint: one line, exit status 2."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.predict", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path, help="a checkpoint of recipes.fcn_voc (any stage)")
    p.add_argument("inputs", nargs="+", help="image files, folders (searched recursively) or .txt lists of paths")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--overlay", action="store_true", help="also write <name>_overlay.jpg with a legend")
    p.add_argument("--scores", action="store_true", help="also write <name>.npy: class probabilities (C, H, W)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch-size", type=int, default=1, help="images of one size segmented together")
    args = p.parse_args(argv)
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.device != "cpu" and not lumen.cuda.is_available():
        raise UserError(f"--device {args.device}: no usable GPU (CuPy with a CUDA device is needed)")
    return args


def _load_caffemodel(path):
    """(model, class names, BGR mean, palette, input scale) from a reference FCN caffemodel (fcn8s-heavy-pascal ...):
    the variant, backbone and class count are read from its layer names and shapes."""
    try:
        from lumen.vision.caffe import caffemodel_state_dict, lumen_keys
        state = lumen_keys(caffemodel_state_dict(path))  # bvlc_googlenet names -> GoogLeNet's keys
    except (OSError, ValueError, ImportError) as e:
        raise UserError(f"cannot read caffemodel {path}: {e}") from None
    if "score_fr.weight" not in state:
        raise UserError(f"{path} is not an FCN caffemodel (it has no score_fr layer)")
    backbone = "vgg16" if "conv1_1.weight" in state else "googlenet" if "inception3a.conv1x1.weight" in state else "alexnet"
    name = ("fcn8s-atonce" if "scale_pool4.weight" in state else "fcn8s" if "score_pool3.weight" in state
            else "fcn16s" if "score_pool4.weight" in state else "fcn32s")
    num_classes = state["score_fr.weight"].shape[0]
    kwargs = dict(num_classes=num_classes, backbone=backbone) if name == "fcn32s" else dict(num_classes=num_classes)
    model = fcn.CONSTRUCTORS[name](**kwargs)
    try:  # the at-once net's fixed scale_pool4/3 are constants of the Lumen module, not weights
        model.load_state_dict({k: v for k, v in state.items() if not k.startswith("scale_pool")})
    except (KeyError, RuntimeError, ValueError) as e:
        raise UserError(f"{path}: the weights do not fit a {name} of {num_classes} classes: {e}") from None
    classes = list(VOC_CLASSES) if num_classes == len(VOC_CLASSES) else [f"class{i}" for i in range(num_classes)]
    return model, classes, list(VOC_BGR_MEAN), None, 1.0


def load_model(path):
    """(model, class names, BGR mean, palette, input scale) from a recipes.fcn_voc checkpoint or an FCN
    caffemodel."""
    if str(path).endswith(".caffemodel"):
        return _load_caffemodel(path)
    try:
        ckpt = lumen.load(path, map_location="cpu")
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} does not exist") from None
    except (OSError, CheckpointError, ValueError) as e:
        raise UserError(f"cannot read checkpoint {path}: {e}") from None
    meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
    if meta.get("format") != "fcn_voc" or meta.get("stage_name") not in fcn.CONSTRUCTORS:
        raise UserError(f"{path} is not a checkpoint of recipes.fcn_voc")
    classes = list(meta.get("classes", VOC_CLASSES))  # checkpoints before class names were stored are VOC's
    if meta.get("channel_order", "BGR") != "BGR":
        raise UserError(f"{path}: channel order {meta['channel_order']!r} is not one this recipe prepares")
    model = build_net(meta["stage_name"], len(classes), meta["backbone"], meta["width"],
                      trunk=checkpoint_trunk(meta))
    try:
        model.load_state_dict(ckpt["model_state"])
    except (KeyError, RuntimeError, ValueError) as e:
        raise UserError(f"{path}: the weights do not fit a {meta['stage_name']} of {len(classes)} classes: {e}") from None
    # palette None: VOC's
    return model, classes, meta.get("mean", list(VOC_BGR_MEAN)), meta.get("palette"), meta.get("input_scale", 1.0)


class _Head(nn.Module):
    """One head of a net of several, as a net of its own (a Predictor reads one score map)."""

    def __init__(self, net, head):
        super().__init__()
        self.net, self.head = net, head

    def forward(self, x):
        return self.net(x)[self.head]


# The FCN paper's other benchmarks (recipes.fcn_nyud, fcn_siftflow, fcn_context): their stages' nets.
BENCHMARKS = ("fcn_nyud", "fcn_siftflow", "fcn_context")


def _load_benchmark(path, ckpt, meta):
    """[(folder, model, class names, BGR mean, None, input scale 1)] from a benchmark recipe's checkpoint, one
    per head."""
    key, heads = meta.get("stage_key"), meta.get("heads", {})
    if key not in fcn.CONSTRUCTORS and key != "color":
        raise UserError(f"{path}: a {key} net reads {key} inputs; predict segments colour images (the "
                        "RGB net of recipes.fcn_nyud, or the SIFT Flow and PASCAL-Context nets)")
    num_classes = {h: len(c) for h, c in heads.items()}
    model = fcn.CONSTRUCTORS.get(key, fcn.fcn32s)(num_classes.get("", num_classes), width=meta["width"])
    try:
        model.load_state_dict(ckpt["model_state"])
    except (KeyError, RuntimeError, ValueError) as e:
        raise UserError(f"{path}: the weights do not fit a {key} of heads {num_classes}: {e}") from None
    if "" in heads:
        return [("", model, list(heads[""]), meta["mean"], None, 1.0)]
    return [(head, _Head(model, head), list(classes), meta["mean"], None, 1.0) for head, classes in heads.items()]


def load_heads(path):
    """[(output subfolder, model, class names, BGR mean, palette, input scale)]: one entry ("" folder) for a net of one
    head, one per head (folder = head name) for a two-headed SIFT Flow net."""
    if not str(path).endswith(".caffemodel"):
        try:
            ckpt = lumen.load(path, map_location="cpu")
        except (OSError, CheckpointError, ValueError):
            ckpt = None  # load_model names the problem
        meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
        if meta.get("format") in BENCHMARKS:
            return _load_benchmark(path, ckpt, meta)
    return [("", *load_model(path))]


def main(argv=None):
    try:
        args = parse_args(argv)
        heads = load_heads(args.checkpoint)
        for _, _, classes, *_ in heads:
            if len(classes) > 256:
                raise UserError(f"{len(classes)} classes do not fit the 256 values of a palette PNG")
        try:
            found = find_images(args.inputs)
        except FileNotFoundError as e:
            raise UserError(str(e)) from None
        if not found:
            raise UserError(f"no images found in {' '.join(args.inputs)}")
    except UserError as e:
        print(f"predict: error: {e}", file=sys.stderr)
        return 2
    stems = dict(found)
    failed = set()
    start = time.perf_counter()
    for folder, model, classes, mean, colors, scale in heads:  # a net of several heads: a folder of maps per head
        predictor = Predictor(model, mean, args.device, args.batch_size, scale)
        with tqdm(total=len(found), unit="img", desc="predict", dynamic_ncols=True, disable=None) as bar:
            for result in predictor.predict([path for path, _ in found], scores=args.scores):
                if isinstance(result, tuple):
                    path, error = result
                    if path not in failed:
                        tqdm.write(f"predict: skipped {path}: {error}", file=sys.stderr)
                    failed.add(path)
                else:
                    result.save(args.out / folder / stems[result.source], colors, classes, args.overlay, args.scores)
                bar.update(1)
    failed = len(failed)
    done = len(found) - failed
    print(f"predict: wrote {done} label map(s) to {args.out} in {time.perf_counter() - start:.1f} s"
          + (f"; {failed} image(s) could not be read" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
