"""Train and evaluate FCNs on PASCAL VOC: the protocol of Long, Shelhamer and Darrell (2015).

    python -m recipes.fcn_voc                                  # embedded synthetic VOC data, a few minutes on a CPU
    python -m recipes.fcn_voc --init none                      # the same from scratch: the baseline
    python -m recipes.fcn_voc --data VOCdevkit/VOC2012 --sbd benchmark_RELEASE/dataset \\
        --model staged --init vgg16.npz --device cuda          # the paper's 32s -> 16s -> 8s protocol

The embedded default follows the paper end to end at a small scale: a VGG16 classifier (1/8 width, with
batch norm) is trained on a synthetic ImageNet-layout set by ``recipes.imagenet`` (once; it is cached under
the data cache by a digest of its settings), convolutionalised into the FCN trunk (its batch norms folded
into the convolutions), and FCN-32s, then FCN-16s from it, then FCN-8s from that are trained on 224-px
images with the reference solver's relative settings: SGD with momentum 0.99, weight decay 5e-4, biases at
twice the lr without decay, the loss summed over pixels, the lr lowered from one stage to the next. One
departure, named ``--score-init classifier``: the synthetic classifier's classes are the segmentation's
object classes, so ``score_fr`` starts from its fc8 (the paper zero-initialises it because ImageNet's
classes are not VOC's), the background's bias set so that the training images are predicted as much
background as they are labelled.

Everything here composes the library: data sets, loader, models, optimizer,
metrics and plots come from ``lumen``; this file only wires them together and
keeps the run safe to interrupt and resume (atomic checkpoints holding the
model, optimizer, data-loader position and random state).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import shlex
import sys
import time
import zipfile
from pathlib import Path

from tqdm import tqdm

import lumen
import lumen.distributed as dist
from lumen import optim
from lumen.data import DataError, DistributedDataLoader
from lumen.data.distributed import shard
from lumen.nn.parallel import DistributedDataParallel
from lumen.nn import functional as F
from lumen.serialization import CheckpointError, atomic_write
from lumen.utils.csv_log import CSVLog
from lumen.vision import metrics, plot
from lumen.vision.datasets import (VOC_CLASSES, SBDSegmentation, SegmentationFolder, VOCSegmentation,
                                   median_frequency_weights, synthetic_voc)
from lumen.vision.models import fcn, read_npz
from lumen.vision.models.backbones import VGG16Backbone, build_backbone
from lumen.vision.transforms import (VOC_BGR_MEAN, Compose, PadCollate, RandomCrop, ToCaffeInput,
                                     from_caffe_input)
from recipes import imagenet
from recipes._common import (Interrupt, NoLog, UserError, add_run_arguments, cache_dir, global_loss_and_stop,
                             join_ranks, progress, rank0_first, read_checkpoint, rng_state, set_rng_state)

MODELS = ("fcn32s", "fcn16s", "fcn8s", "fcn8s-atonce", "staged")
BACKBONES = ("vgg16", "alexnet", "googlenet")
STAGES = {"staged": ("fcn32s", "fcn16s", "fcn8s")}
N_CLASSES = len(VOC_CLASSES)

PIXEL_LR = 6e-5
STAGE_LR_FACTOR = 0.5
# The embedded default: the paper's protocol at a small scale (see the module's docstring). The lr is
# given per pixel-averaged loss (PIXEL_LR) and divided by the pixels of an image, since the loss is summed.
# The trunk's fc6 and input scale are the embedded classifier's (recipes.imagenet.EMBEDDED*): fc6 a 3x3
# convolution, inputs x0.017; the pools round down (as the classifier's) and conv1_1's padding follows
# (VGG16Backbone's 49), so that every image size is scored and aligns, as the reference's.
EMBEDDED = dict(model="staged", width=1 / 8, iters=300, optimizer="sgd", lr=None, momentum=0.99, weight_decay=5e-4,
                normalize=False, stage_lr_factor=STAGE_LR_FACTOR, eval_every=150, n_train=200, n_val=40, size=224,
                init="embedded", dropout=0.0, input_scale=imagenet.EMBEDDED["input_scale"],
                trunk=dict(fc6_kernel=imagenet.EMBEDDED_VGG_HEAD["fc6_kernel"], ceil_mode=False))
# Objects of the embedded segmentation images, as fractions of the side (recipes.imagenet's classification
# images hold one of about the size of the largest).
OBJECT_RADIUS = (0.1, 0.22)
# The reference solver (voc-fcn32s/solve.py): fixed lr for the unnormalised loss, high momentum, batch 1.
PAPER = dict(model="fcn32s", width=1.0, iters=100000, optimizer="sgd", lr=1e-10, momentum=0.99, weight_decay=5e-4,
             normalize=False, stage_lr_factor=0.01, eval_every=4000, dropout=0.5, input_scale=1.0,
             trunk=dict(fc6_kernel=7, ceil_mode=True))
# Training images whose labels set the background score of a score_fr taken from the classifier.
CALIBRATION_IMAGES = 50


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.fcn_voc", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="VOC2012 folder (JPEGImages, SegmentationClass, ImageSets), or your "
                   "own data: a folder with images/ and masks/ (see README); default: the embedded synthetic data")
    p.add_argument("--num-classes", type=int, help="your own data: the number of classes, background included "
                   "(else DATA/classes.txt or DATA/colors.txt names them)")
    p.add_argument("--ignore-index", type=int, default=255, help="the mask value neither learned nor scored")
    p.add_argument("--class-weights", help="'auto' (median frequency balancing over the training masks) or a "
                   "file with one weight per class")
    p.add_argument("--crop", type=int, help="train on random NxN crops (images padded with the mean, masks "
                   "with the ignore label when smaller)")
    p.add_argument("--sbd", type=Path, help="SBD 'dataset' folder (img, cls, train.txt): train on SBD train, "
                   "validate on VOC seg11valid, as the paper")
    p.add_argument("--model", help=f"one of {', '.join(MODELS)} (staged = 32s, then 16s from it, then 8s)")
    p.add_argument("--backbone", default="vgg16", help=f"one of {', '.join(BACKBONES)}")
    p.add_argument("--width", type=float, help="channel multiplier of the trunk (1 = the paper's nets)")
    p.add_argument("--init", type=Path, help="ImageNet classifier weights to convolutionalise into the trunk: an "
                   ".npz (python -m recipes.imagenet --export, python -m lumen.vision.convert), 'embedded' (the "
                   "default on the embedded data: trained once by recipes.imagenet and cached) or 'none' (from scratch)")
    p.add_argument("--score-init", choices=("zero", "classifier"), help="score_fr's start: zero (the paper's) or "
                   "the classifier's fc8 where its classes are the data's object classes, the background score "
                   "set from the training labels (default with --init embedded)")
    p.add_argument("--input-scale", type=float, help="multiply inputs by this after the mean, as the classifier "
                   "was trained (default 1; the embedded data the embedded classifier's 0.017)")
    p.add_argument("--dropout", type=float, help="dropout after fc6 and fc7 (default 0.5; the embedded data 0, as "
                   "its classifier)")
    p.add_argument("--classifier", default="", metavar="ARGS", help="--init embedded: further recipes.imagenet "
                   "arguments for the classifier (e.g. '--iters 100'; part of its cache key)")
    p.add_argument("--health-check", type=int, default=100, help="after N iterations of each stage, warn if the "
                   "validation prediction is a single class or the loss has not moved from ln(classes) (0: never)")
    p.add_argument("--iters", type=int, help="iterations per stage")
    p.add_argument("--lr", type=float, help="learning rate of the first stage")
    p.add_argument("--stage-lr-factor", type=float, help="lr multiplier from one stage to the next")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="sgd (the paper's, the default) or adam")
    p.add_argument("--momentum", type=float, help="SGD momentum (the reference: 0.99)")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--batch-size", type=int, default=1, help="images per step (reference: 1)")
    p.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None,
                   help="average the loss over pixels (default: unnormalised sum on real data, as the reference)")
    p.add_argument("--eval-every", type=int, help="validate every N iterations (and at the end of each stage)")
    p.add_argument("--checkpoint-every", type=int, default=200, help="checkpoint every N iterations")
    p.add_argument("--workers", type=int, help="background data-loading threads (default: 0 on the CPU, where "
                   "they would compete with BLAS for the cores; 2 on a GPU)")
    add_run_arguments(p, "runs/fcn_voc")
    p.add_argument("--eval-only", type=Path, metavar="CKPT", help="evaluate a checkpoint and exit")
    p.add_argument("--n-train", type=int, help="embedded data: training images")
    p.add_argument("--n-val", type=int, help="embedded data: validation images")
    p.add_argument("--size", type=int, help="embedded data: image size")
    args = p.parse_args(argv)
    preset = EMBEDDED if args.data is None else PAPER
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if str(args.init) in ("embedded", "none"):
        args.init = None if str(args.init) == "none" else "embedded"
    if args.init == "embedded" and args.data is not None:
        raise UserError("--init embedded: the embedded classifier is trained on the embedded synthetic data; for "
                        "real data give ImageNet weights (an .npz) or none")
    if not (0 <= args.dropout < 1):
        raise UserError(f"--dropout must be in [0, 1), got {args.dropout}")
    if not (args.input_scale > 0 and math.isfinite(args.input_scale)):
        raise UserError(f"--input-scale must be a positive number, got {args.input_scale}")
    args.lr_note = None
    if args.lr is None:  # the embedded data's lr for the summed loss: PIXEL_LR over the pixels of an image
        args.lr = PIXEL_LR / (args.size * args.size)
        args.lr_note = f"{PIXEL_LR:g} for a pixel-averaged loss, divided by the {args.size}x{args.size} pixels summed"
    if args.model not in MODELS:
        raise UserError(f"unknown model {args.model!r}; expected one of {', '.join(MODELS)}")
    if args.backbone not in BACKBONES:
        raise UserError(f"unknown backbone {args.backbone!r}; expected one of {', '.join(BACKBONES)}")
    if args.backbone != "vgg16" and args.model not in ("fcn32s",):
        raise UserError(f"--backbone {args.backbone} comes with the fcn32s head only (paper Table 1); "
                        f"use --model fcn32s")
    if args.score_init is None:
        args.score_init = "classifier" if args.init == "embedded" else "zero"
    if args.score_init == "classifier" and args.init is None:
        raise UserError("--score-init classifier needs a classifier (--init)")
    if args.score_init == "classifier" and args.backbone != "vgg16":
        raise UserError(f"--score-init classifier: the {args.backbone} trunk keeps no fc8 to score with; use vgg16")
    if args.health_check < 0:
        raise UserError(f"--health-check must be 0 (never) or more, got {args.health_check}")
    if args.crop is not None and args.crop < 1:
        raise UserError(f"--crop must be at least 1, got {args.crop}")
    for name in ("iters", "batch_size", "checkpoint_every", "eval_every"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.workers is None:
        args.workers = 0 if args.device == "cpu" else 2
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        raise UserError(f"unknown device {args.device!r}; expected cpu or cuda")
    if args.device != "cpu" and not lumen.cuda.is_available():
        raise UserError(f"--device {args.device}: no usable GPU (CuPy with a CUDA device is needed: "
                        f"pip install 'lumen[cuda]')")
    return args


# ---- data ---------------------------------------------------------------------------------
def is_folder_data(path) -> bool:
    return (path / "images").is_dir() and (path / "masks").is_dir()


def load_data(args):
    """(train set, validation set, one-line description); sets ``args.classes``, ``args.palette`` and
    ``args.loss_weight`` from the data set."""
    to_input = ToCaffeInput(scale=args.input_scale)
    train_input = to_input
    if args.crop is not None:
        train_input = Compose([RandomCrop(args.crop, fill="mean", label_fill=args.ignore_index), to_input])
    args.classes, args.palette, args.loss_weight = list(VOC_CLASSES), None, None
    try:
        if args.data is not None and is_folder_data(args.data):
            return load_folder_data(args, train_input, to_input)
        if args.num_classes not in (None, N_CLASSES):
            raise UserError(f"--num-classes {args.num_classes}: PASCAL VOC has {N_CLASSES} classes; for your own "
                            f"data give a folder with images/ and masks/")
        if args.data is None:
            root = cache_dir(args) / (f"synthetic_voc-{args.n_train}-{args.n_val}-{args.size}-"
                                      f"r{OBJECT_RADIUS[0]:g}-{OBJECT_RADIUS[1]:g}")
            synthetic_voc(root, n_train=args.n_train, n_val=args.n_val, size=args.size, seed=0,
                          object_radius=OBJECT_RADIUS)
            train = VOCSegmentation(root, "train", transform=train_input)
            val = VOCSegmentation(root, "val", transform=to_input)
            description = f"embedded synthetic VOC data in {root}"
        else:
            val_split = "seg11valid" if (args.data / "ImageSets/Segmentation/seg11valid.txt").exists() else "val"
            val = VOCSegmentation(args.data, val_split, transform=to_input)
            if args.sbd is not None:
                train = SBDSegmentation(args.sbd, "train", transform=train_input)
                description = f"SBD train ({len(train)}) -> VOC {val_split} ({len(val)})"
            else:
                train = VOCSegmentation(args.data, "train", transform=train_input)
                description = f"VOC train ({len(train)}) -> VOC {val_split} ({len(val)})"
        args.loss_weight = class_weights(args, None)
        return train, val, description
    except (DataError, FileNotFoundError, NotADirectoryError) as e:
        raise UserError(str(e)) from None


def load_folder_data(args, train_input, to_input):
    """Your own data (lumen.vision.datasets.SegmentationFolder), every mask checked once before training."""
    common = dict(num_classes=args.num_classes, ignore_index=args.ignore_index)
    train = SegmentationFolder(args.data, "train", transform=train_input, **common)
    val = SegmentationFolder(args.data, "val", transform=to_input, **common)
    if len(train) == 0 or len(val) == 0:
        raise UserError(f"{args.data}: the train and val splits need an image each, got {len(train)} and {len(val)}")
    scans = cache_dir(args) / "label-scans"
    scan = train.scan(scans)
    val.scan(scans)
    for path in train.write_split():
        print(f"fcn_voc: wrote the split {path} (seeded; edit it to choose your own)")
    args.classes = list(train.classes)
    args.palette = train.palette[:len(train.classes)].tolist()
    if 0 <= args.ignore_index < len(train.classes):
        raise UserError(f"--ignore-index {args.ignore_index} is a class id of {args.data} (0..{len(train.classes) - 1}); "
                        f"the ignore label must be another value (255 by default)")
    args.loss_weight = class_weights(args, scan)
    return train, val, f"{args.data}: {len(train.classes)} classes, train ({len(train)}) -> val ({len(val)})"


def class_weights(args, scan):
    """The loss's per-class weights from --class-weights, or None."""
    if args.class_weights is None:
        return None
    if args.class_weights == "auto":
        if scan is None:
            raise UserError("--class-weights auto needs your own data (a folder with images/ and masks/), whose "
                            "masks are scanned; for VOC give a file of 21 weights")
        weights = median_frequency_weights(scan)
    else:
        try:
            weights = [float(v) for v in Path(args.class_weights).read_text().split()]
        except (OSError, ValueError) as e:
            raise UserError(f"--class-weights {args.class_weights}: not a readable file of numbers ({e})") from None
    if len(weights) != len(args.classes) or min(weights) < 0:
        raise UserError(f"--class-weights: {len(weights)} weights for {len(args.classes)} classes (expected one "
                        f"non-negative weight per class)")
    return weights


# ---- model and optimizer ---------------------------------------------------------------------
def build_net(name, num_classes, backbone, width, dropout=0.5, trunk=None, pretrained=None):
    """The stage ``name``'s net; a vgg16 trunk of ``trunk`` geometry ({fc6_kernel, pad, ceil_mode}, as
    ``VGG16Backbone``'s, each by default the reference's; the fc6 kernel the classifier's when ``pretrained``
    gives one), the others as the reference's."""
    kwargs = dict(num_classes=num_classes, width=width, dropout=dropout)
    if backbone == "vgg16":
        geometry = {**PAPER["trunk"], **(trunk or {})}
        if pretrained is not None:
            del geometry["fc6_kernel"]
            kwargs["backbone"] = VGG16Backbone.from_classifier(pretrained, width, dropout, **geometry)
        else:
            kwargs["backbone"] = build_backbone(backbone, width, dropout, **geometry)
            kwargs["backbone"].init_weights()
    else:
        kwargs.update(backbone=backbone, pretrained_backbone=pretrained)
    model = fcn.CONSTRUCTORS[name](**kwargs)
    model.backbone_name = backbone
    return model


def trunk_geometry(model):
    """What the checkpoint records of the trunk's layers (``build_net``'s ``trunk``)."""
    return model.backbone.geometry() if isinstance(model.backbone, VGG16Backbone) else {}


def checkpoint_trunk(meta):
    """A checkpoint's trunk geometry; the reference's for checkpoints from before it was recorded."""
    return meta.get("trunk", PAPER["trunk"])


def build_model(name, args, previous=None, transplant=True, trunk=None, calibration_set=None, device="cpu"):
    """The stage's net: carried from ``previous``, or built with the trunk from ``args.init`` (unless not
    ``transplant``: a checkpoint's weights follow, its ``trunk`` geometry given) and, with
    ``--score-init classifier``, score_fr from the classifier, calibrated on ``calibration_set`` (on ``device``)."""
    if previous is not None:  # staged training carries the trained stage forward
        return {"fcn16s": fcn.FCN16s.from_fcn32s, "fcn8s": fcn.FCN8s.from_fcn16s}[name](previous)
    pretrained = None
    if args.init is not None and transplant:
        try:
            if args.init.suffix == ".caffemodel":  # e.g. VGG_ILSVRC_16_layers.caffemodel: Caffe layer names
                from lumen.vision.caffe import caffemodel_state_dict
                pretrained = caffemodel_state_dict(args.init)
            else:
                pretrained = read_npz(args.init)
        except (OSError, CheckpointError, ValueError, TypeError, zipfile.BadZipFile, ImportError) as e:
            raise UserError(f"--init {args.init}: {e}") from None
    try:
        model = build_net(name, len(args.classes), args.backbone, args.width, args.dropout,
                          args.trunk if trunk is None else trunk, pretrained)
        if pretrained is not None and args.score_init == "classifier":
            model.init_score_from_classifier_(pretrained)
            n = min(CALIBRATION_IMAGES, len(calibration_set))
            bias, fraction = model.to(device).calibrate_background_((calibration_set[i] for i in range(n)),
                                                                    args.ignore_index)
            print(f"fcn_voc: score_fr from the classifier's fc8, the background's bias {bias:.3g}: "
                  f"{100 * fraction:.1f}% of the pixels of {n} training samples are predicted background, as "
                  f"labelled")
    except (KeyError, ValueError, TypeError) as e:
        raise UserError(f"cannot build {name}: {e}") from None
    return model


def make_optimizer(model, args, lr):
    """Caffe's solver: biases at twice the lr and without weight decay, fixed layers left out."""
    groups = optim.caffe_param_groups(model, lr, args.weight_decay)
    if args.optimizer == "adam":
        return optim.Adam(groups, lr=lr)
    return optim.SGD(groups, lr=lr, momentum=args.momentum)


def segmentation_loss(scores, label, args, weight=None):
    """Softmax loss with the ignore label left out: summed over pixels (Caffe's normalize: false) or
    averaged, per class weighted by ``weight`` when given."""
    loss = F.cross_entropy(scores, label, weight=weight, ignore_index=args.ignore_index,
                           reduction="mean" if args.normalize else "sum")
    return loss if args.normalize else loss / scores.shape[0]


def embedded_classifier(args) -> Path:
    """The embedded data's ImageNet classifier (recipes.imagenet's embedded VGG16 at ``args.width``, seeded by
    ``args.seed``, so that another seed draws the whole pipeline again), trained once by ``recipes.imagenet``
    on its synthetic ImageNet-layout set and cached under the data cache by a digest of its settings."""
    try:
        cls_args = imagenet.parse_args(["--width", repr(args.width), "--input-scale", repr(args.input_scale),
                                        "--seed", str(args.seed), "--device", args.device, *(["--cache", str(args.cache)] if args.cache else []),
                                        *shlex.split(args.classifier)])
    except SystemExit:  # argparse has printed the error
        raise UserError(f"--classifier {args.classifier!r}: not arguments of recipes.imagenet") from None
    if cls_args.arch not in ("vgg16", "vgg16_bn"):
        raise UserError(f"--classifier: the FCN trunk is VGG16's; --arch {cls_args.arch} does not fit it")
    if cls_args.input_scale != args.input_scale:
        raise UserError(f"--classifier: --input-scale {cls_args.input_scale:g} differs from the FCN's "
                        f"{args.input_scale:g}; give fcn_voc --input-scale instead")
    where = cache_dir(args) / "classifiers" / f"{cls_args.arch}-w{args.width:g}-{imagenet.config_key(cls_args)}"
    weights = where / "classifier.npz"
    if weights.is_file():
        top1 = json.loads((where / "metrics.json").read_text())["top1"]
        print(f"fcn_voc: the embedded classifier is cached: {weights} (validation top-1 {100 * top1:.1f}%)")
        return weights
    cls_args.out, cls_args.export = where, weights
    if (where / "checkpoint.npz").is_file():
        cls_args.resume = "auto"
    print(f"fcn_voc: training the embedded classifier once (recipes.imagenet: {cls_args.arch}, width {args.width:g}, "
          f"{cls_args.iters} iterations of {cls_args.batch_size}); it is cached in {where}")
    result = imagenet.run(cls_args, alone=True)  # the other ranks wait for it (run's rank0_first)
    if result is None:
        raise UserError(f"the classifier's training was stopped; run again to resume it ({where})")
    return weights


def pixel_loss(value, labels, batch, args):
    """The loss per scored pixel, whichever normalisation the run uses."""
    if args.normalize:
        return value
    scored = int((labels != args.ignore_index).sum().item())
    return value * batch / max(scored, 1)


def health_warning(model, val_set, device, args, stage, iteration, loss_per_pixel, n_images=8):
    """One line naming the likely causes when the net predicts one class everywhere or its loss sits at
    ln(classes) (the silent all-background failure), else None."""
    predicted = set()
    model.eval()
    with lumen.no_grad():
        for i in range(min(n_images, len(val_set))):
            image, _ = val_set[i]
            predicted.update(model(lumen.from_numpy(image[None]).to(device)).argmax(1).numpy().ravel().tolist())
    model.train()
    chance = math.log(len(args.classes))
    symptoms = []
    if len(predicted) == 1:
        symptoms.append(f"every validation pixel is predicted '{args.classes[predicted.pop()]}'")
    if abs(loss_per_pixel - chance) <= 0.01 * chance:
        symptoms.append(f"the loss per pixel is {loss_per_pixel:.3f}, within 1% of ln({len(args.classes)}) = "
                        f"{chance:.3f}")
    if not symptoms:
        return None
    return (f"fcn_voc: warning: {stage} after {iteration} iterations: {' and '.join(symptoms)}. Likely causes: "
            f"the trunk's weights were not transplanted (check --init; a transplanted conv1_1.weight in "
            f"{args.out / 'checkpoint.npz'} equals the classifier's), the lr does not suit the loss (summed over "
            f"pixels it wants an lr divided by the pixels per image: the reference's 1e-10 is for 500x500), or the "
            f"labels are all void or background (look at the masks)")


# ---- evaluation -----------------------------------------------------------------------------
def evaluate(model, dataset, device, args, n_show=4):
    """Metrics over ``dataset`` (one image at a time, any size) and a few samples to draw."""
    model.eval()
    confusion = metrics.ConfusionMatrix(len(args.classes))
    shown = []
    with lumen.no_grad():
        for image, label in shard(dataset):
            scores = model(lumen.from_numpy(image[None]).to(device))
            pred = scores.argmax(1)[0].numpy()
            confusion.update(label, pred)  # the ignore label, no class id, is not scored
            if len(shown) < n_show:
                shown.append((from_caffe_input(image, scale=args.input_scale), label, pred))
    model.train()
    if dist.is_initialized():
        dist.all_reduce(lumen.from_numpy(confusion.hist))
    return confusion, shown


# ---- checkpoints ---------------------------------------------------------------------------
def load_checkpoint(path, args):
    ckpt = read_checkpoint(path, "fcn_voc")
    meta = ckpt["meta"]
    if list(meta.get("classes", VOC_CLASSES)) != args.classes:
        raise UserError(f"checkpoint {path} is of the {len(meta.get('classes', VOC_CLASSES))} classes "
                        f"{list(meta.get('classes', VOC_CLASSES))[:4]}..., this data has {len(args.classes)}: "
                        f"{args.classes[:4]}...")
    unrecorded = {"input_scale": 1.0, "dropout": 0.5}  # what checkpoints from before these were recorded had
    for key in ("model", "backbone", "width", "optimizer", "batch_size", "input_scale", "dropout"):
        if meta.get(key, unrecorded.get(key)) != getattr(args, key):
            raise UserError(f"checkpoint {path} is of {key} {meta.get(key, unrecorded.get(key))!r}, but this run "
                            f"asks for {getattr(args, key)!r}")
    return ckpt


# ---- training -------------------------------------------------------------------------------
def table2(results):
    """The paper's Table 2 layout: pixel acc., mean acc., mean IU, f.w. IU (in %)."""
    lines = ["| model | pixel acc. | mean acc. | mean IU | f.w. IU |", "|---|---|---|---|---|"]
    for name, m in results.items():
        lines.append(f"| {name} | {100 * m['pixel_accuracy']:.1f} | {100 * m['mean_accuracy']:.1f} | "
                     f"{100 * m['mean_iu']:.1f} | {100 * m['frequency_weighted_iu']:.1f} |")
    return "\n".join(lines)


LOG_FIELDS = ("stage", "iteration", "loss", "lr", "images_per_s", "pixel_accuracy", "mean_accuracy", "mean_iu",
              "frequency_weighted_iu")


def open_log(args, stages, ckpt):
    """``OUT/log.csv``: a training row per iteration, a validation row per evaluation. A resumed run keeps
    the rows up to its checkpoint and writes the rest again, so its log equals the uninterrupted run's."""
    if ckpt is None:
        return CSVLog(args.out / "log.csv", LOG_FIELDS)
    position = (ckpt["meta"]["stage"], ckpt["meta"]["iteration"])

    def before_checkpoint(row):
        here = (stages.index(row["stage"]), int(row["iteration"]))
        # the end-of-stage validation follows the stage's last checkpoint, so a resume repeats it
        final_validation = row["loss"] == "" and here[1] == args.iters
        return here < position or (here == position and not final_validation)

    try:
        return CSVLog(args.out / "log.csv", LOG_FIELDS, keep=before_checkpoint)
    except (ValueError, KeyError, csv.Error) as e:
        raise UserError(f"cannot continue {args.out / 'log.csv'}: {e}") from None


def log_validation(log, name, iteration, scores):
    log.write(stage=name, iteration=iteration, **{key: scores[key] for key in LOG_FIELDS[5:]})


def run(args, on_iteration=None):
    """Train (all stages) and evaluate; returns the per-stage metrics. ``on_iteration(it)`` may return
    "stop" to request the same clean stop as Ctrl-C (used by the tests)."""
    world, device = join_ranks(args)
    main = dist.is_main_process()
    stages = STAGES.get(args.model, (args.model,))
    ckpt_path = args.out / "checkpoint.npz"
    ckpt = None
    with rank0_first(world):  # rank 0 trains or finds the classifier, makes or finds the data, checks the checkpoint
        if args.init == "embedded":  # first: the run's random state must not depend on whether it was cached
            args.init = embedded_classifier(args)
        lumen.manual_seed(args.seed)
        train_set, val_set, description = load_data(args)
        if args.resume is not None:
            ckpt = load_checkpoint(ckpt_path if args.resume == "auto" else Path(args.resume), args)

    print(f"fcn_voc: {args.model} on {args.backbone} (width {args.width:g}), {description}, device {device}")
    if args.data is None:
        print("fcn_voc: for PASCAL VOC pass --data VOCdevkit/VOC2012 (and --sbd benchmark_RELEASE/dataset "
              "for the paper's SBD training set); see README.md")
    if args.init is None and ckpt is None:
        print("fcn_voc: no --init: the trunk starts from random weights (the paper starts from an ImageNet "
              "classifier)")
    loss_kind = "averaged over pixels" if args.normalize else "summed over pixels (Caffe's normalize: false)"
    print(f"fcn_voc: {args.optimizer.upper()} lr {args.lr:.3g}" + (f" ({args.lr_note})" if args.lr_note else "") +
          f", x{args.stage_lr_factor:g} per stage; momentum {args.momentum:g}, weight decay {args.weight_decay:g}, "
          f"batch {args.batch_size}, {args.iters} iterations per stage; loss {loss_kind}")

    # batches of images of different sizes are padded to their largest (with the mean and the ignore label)
    collate = PadCollate(label_fill=args.ignore_index) if args.batch_size // world > 1 else None
    loader = DistributedDataLoader(train_set, batch_size=args.batch_size // world, shuffle=True, num_workers=args.workers,
                        seed=args.seed, drop_last=args.batch_size > 1, collate_fn=collate)
    loss_weight = lumen.tensor(args.loss_weight, device=device) if args.loss_weight is not None else None
    log_csv = open_log(args, stages, ckpt) if main else NoLog()
    history = ckpt["history"] if ckpt else []
    results = dict(ckpt["results"]) if ckpt else {}
    first_stage = ckpt["meta"]["stage"] if ckpt else 0
    model_prev = None
    for k, name in enumerate(stages):
        if k < first_stage:
            continue
        resuming = ckpt is not None and k == first_stage
        if resuming:
            model = build_model(name, args, transplant=False, trunk=checkpoint_trunk(ckpt["meta"]))
            model.load_state_dict(ckpt["model_state"])
        else:
            model = build_model(name, args, previous=model_prev, calibration_set=train_set, device=device)
        model.to(device)
        net = DistributedDataParallel(model) if world > 1 else model
        lr = args.lr * args.stage_lr_factor ** k
        opt = make_optimizer(model, args, lr)
        start = 0
        log = {"name": name, "loss": [], "mean_iu": []}
        if resuming:
            fresh_lrs = [group["lr"] for group in opt.param_groups]
            opt.load_state_dict(ckpt["optimizer"])
            for group, group_lr in zip(opt.param_groups, fresh_lrs):
                group["lr"] = group_lr  # a resumed run takes this command line's --lr
            loader.load_state_dict(ckpt["loader"])
            set_rng_state(ckpt["rng"], "fcn_voc")
            start = ckpt["meta"]["iteration"]
            log = history.pop() if history and history[-1]["name"] == name else log
            ckpt = None
        history.append(log)

        def save(iteration):
            if not main:
                return
            state = {"meta": {"format": "fcn_voc", "model": args.model, "backbone": args.backbone,
                              "width": args.width, "optimizer": args.optimizer, "batch_size": args.batch_size,
                              "stage": k, "stage_name": name, "iteration": iteration,
                              "classes": args.classes, "mean": list(VOC_BGR_MEAN), "channel_order": "BGR",
                              "input_scale": args.input_scale, "dropout": args.dropout,
                              "trunk": trunk_geometry(model),
                              **({"palette": args.palette} if args.palette is not None else {})},
                     "model_state": model.state_dict(), "optimizer": opt.state_dict(),
                     "loader": loader.state_dict(), "rng": rng_state(), "history": history,
                     "results": results}
            args.out.mkdir(parents=True, exist_ok=True)
            lumen.save(state, ckpt_path)

        it = start
        bar = progress(args.iters, start, name)
        t0, seen = time.perf_counter(), 0
        with Interrupt() as interrupt:
            while it < args.iters:
                for images, labels in loader:
                    scores = net(images.to(device))
                    labels = labels.to(device).long()
                    loss = segmentation_loss(scores, labels, args, loss_weight)
                    value, stop_asked = global_loss_and_stop(loss.item(), interrupt.requested, world)
                    if not math.isfinite(value):
                        save(it)
                        raise UserError(f"{name}: the loss became {value} at iteration {it + 1}; lower --lr "
                                        f"(with the unnormalised loss the reference uses 1e-10)")
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    it += 1
                    seen += images.shape[0] * world
                    log["loss"].append([it, value])
                    speed = seen / (time.perf_counter() - t0)
                    log_csv.write(stage=name, iteration=it, loss=value, lr=opt.param_groups[0]["lr"],
                                  images_per_s=speed)
                    bar.set_postfix(loss=f"{value:.4g}", img_s=f"{speed:.1f}")
                    bar.update(1)
                    stop = on_iteration(it) == "stop" if on_iteration else False
                    if it == args.health_check:
                        warning = health_warning(model, val_set, device, args, name, it,
                                                 pixel_loss(value, labels, scores.shape[0], args))
                        if warning:
                            tqdm.write(warning)
                    if it % args.eval_every == 0 and it < args.iters:
                        confusion, _ = evaluate(model, val_set, device, args)
                        scores = scores_of(confusion)
                        miu = scores["mean_iu"]
                        log_validation(log_csv, name, it, scores)
                        log["mean_iu"].append([it, miu])
                        tqdm.write(f"{name} iteration {it}: loss {value:.4g}, validation mean IU {100 * miu:.1f}")
                    if it % args.checkpoint_every == 0 or it == args.iters:
                        save(it)
                    if stop_asked or stop:
                        save(it)
                        bar.close()
                        print(f"fcn_voc: stopped at {name} iteration {it}; checkpoint in {ckpt_path} "
                              f"(resume with --resume)")
                        return None
                    if it >= args.iters:
                        break
        bar.close()
        # The next stage starts a fresh epoch, whether this process goes on or a resumed one does.
        loader.set_epoch(loader.epoch + 1)
        confusion, shown = evaluate(model, val_set, device, args)
        results[name] = scores_of(confusion)
        log_validation(log_csv, name, args.iters, results[name])
        if not (log["mean_iu"] and log["mean_iu"][-1][0] == args.iters):
            log["mean_iu"].append([args.iters, results[name]["mean_iu"]])
        tqdm.write(f"{name}: validation mean IU {100 * results[name]['mean_iu']:.1f}")
        save(args.iters)
        model_prev = model
    if main:
        write_outputs(args, history, results, confusion, shown)
    print(table2(results))
    return results


def scores_of(confusion):
    """The metrics as JSON-ready numbers; a class absent from truth and prediction has IU None."""
    def plain(x):
        return None if math.isnan(x) else float(x)

    return {key: [plain(v) for v in value] if hasattr(value, "tolist") else plain(value)
            for key, value in confusion.compute().items()}


def write_outputs(args, history, results, confusion, shown):
    args.out.mkdir(parents=True, exist_ok=True)
    last = list(results)[-1]
    payload = {"data": str(args.data) if args.data else "embedded", "classes": args.classes, "stages": results,
               "final": {"stage": last, "mean_iu": results[last]["mean_iu"]}}
    text = json.dumps(payload, indent=2, allow_nan=False)
    with atomic_write(args.out / "metrics.json") as f:
        f.write(text.encode("utf-8"))
    with atomic_write(args.out / "curves.png") as f:
        plot.training_curves(history, "mean_iu", "validation mean IU").savefig(f, format="png")
    images, truths, preds = zip(*shown)
    with atomic_write(args.out / "predictions.png") as f:
        plot.segmentation_grid(images, truths, preds).savefig(f, format="png", dpi=80)
    print(f"fcn_voc: wrote {args.out / 'metrics.json'}, curves.png and predictions.png")


def eval_only(args):
    _, val_set, description = load_data(args)
    ckpt = load_checkpoint(args.eval_only, args)
    name = ckpt["meta"]["stage_name"]
    model = build_model(name, args, transplant=False, trunk=checkpoint_trunk(ckpt["meta"]))
    model.load_state_dict(ckpt["model_state"])
    model.to(args.device)
    confusion, shown = evaluate(model, val_set, args.device, args)
    results = {name: scores_of(confusion)}
    write_outputs(args, ckpt["history"], results, confusion, shown)
    print(table2(results))
    return results


def main(argv=None):
    try:
        args = parse_args(argv)
        return 0 if (eval_only(args) if args.eval_only else run(args)) is not None else 130
    except (UserError, DataError) as e:  # DataError: a file found bad while training or scoring
        print(f"fcn_voc: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
