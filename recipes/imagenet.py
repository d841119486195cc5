"""Train an ImageNet classifier as the Caffe reference models were trained (Caffe's examples/imagenet).

    python -m recipes.imagenet                                   # embedded synthetic data, VGG16-BN at 1/8 width
    python -m recipes.imagenet --data ILSVRC2012 --arch caffenet --device cuda
    python -m recipes.imagenet --export classifier.npz           # the weights recipes.fcn_voc --init reads

``--data`` is an ImageNet-layout folder: ``train/<class>/*.JPEG`` and ``val/<class>/*.JPEG``, or
``val/*.JPEG`` with ``val.txt`` ("<file> <label>" lines, Caffe's list format). Images are rescaled
(shorter side 256), randomly cropped (227 for CaffeNet, 224 otherwise) and mirrored for training,
centre-cropped for validation, with the ILSVRC mean subtracted in BGR order. Each architecture
trains with its reference solver:

- CaffeNet / AlexNet (bvlc_reference_caffenet): SGD lr 0.01, momentum 0.9, weight decay 5e-4,
  batch 256, lr x0.1 every 100,000 iterations ("step"), 450,000 iterations;
- VGG (Simonyan & Zisserman): the same, but lr x0.1 when the validation accuracy stops improving
  (``vgg16_bn`` and the other ``_bn`` variants add batch norm, as torchvision's; ``recipes.fcn_voc --init``
  takes vgg16 or vgg16_bn, whose batch norms it folds into the trunk's convolutions);
- GoogLeNet (bvlc_googlenet quick_solver): lr 0.01 (1 - t/T)^0.5 ("poly"), weight decay 2e-4,
  batch 32, the two auxiliary losses weighted 0.3.

The embedded default (synthetic data, a few minutes on a CPU) departs from them to train in 400
iterations: ``vgg16_bn`` at 1/8 width with batch norm after fc6 and fc7 too (``--head-batch-norm``), fc6
over the 3x3 pool5 of 96-px crops (``--fc6-kernel 3``), no dropout, Adam at 1e-3 decayed linearly
(``--optimizer adam --policy poly --gamma 1``), inputs x0.017 after the mean (``--input-scale``).

Biases learn at twice the lr without weight decay (Caffe's lr_mult/decay_mult). Top-1 and top-5
accuracy on the validation set; checkpoints resume exactly; curves.png, metrics.json, log.csv.

``mpirun -np N python -m recipes.imagenet ...`` trains data-parallel: ``--batch-size`` stays the global
batch (N must divide it), each rank loads batch / N images, and the gradients of the batch-averaged loss
are averaged over the ranks, so N ranks step as one process at that batch (same lr, same loss). Rank 0
alone writes checkpoints, logs, metrics, curves and the export and shows progress; the validation set is
split over the ranks and their top-1/top-5 counts summed; a checkpoint resumes on any number of ranks
that divides its batch.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path


import lumen
import lumen.distributed as dist
from lumen import nn, optim
from lumen.data import DataError, DataLoader, DistributedDataLoader
from lumen.data.distributed import shard
from lumen.nn import functional as F
from lumen.nn.parallel import DistributedDataParallel
from lumen.serialization import atomic_write
from lumen.utils.csv_log import CSVLog
from lumen.vision import models, plot
from lumen.vision.datasets.imagefolder import ImageFolder, ImageList
from lumen.vision.datasets.synthetic import VERSION as SYNTHETIC_VERSION, synthetic_imagenet
from lumen.vision.models.alexnet import _caffenet_init, caffenet_trunk
from lumen.vision.models.googlenet import InceptionAux, googlenet_trunk
from lumen.vision.models.layers import fc_head, scaled_channels
from lumen.vision.models.vgg import CFGS, vgg_trunk
from lumen.vision.transforms import (VOC_BGR_MEAN, CenterCrop, Compose, RandomCrop, RandomHorizontalFlip, Resize,
                                     ToCaffeInput)
from recipes._common import (Interrupt, NoLog, UserError, add_run_arguments, cache_dir, global_loss_and_stop,
                             join_ranks, progress, rank0_first, read_checkpoint, rng_state, set_rng_state)

ARCHS = ("alexnet", "caffenet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
         "googlenet")
_VGG_CFG = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}

# The reference solvers. "iters" and "step_size" are iterations of "batch_size" images.
SOLVERS = {
    "caffenet": dict(lr=0.01, policy="step", gamma=0.1, step_size=100000, momentum=0.9, weight_decay=5e-4,
                     batch_size=256, crop=227, iters=450000, aux_weight=0.0),
    "vgg": dict(lr=0.01, policy="plateau", gamma=0.1, step_size=None, momentum=0.9, weight_decay=5e-4,
                batch_size=256, crop=224, iters=370000, aux_weight=0.0),
    "googlenet": dict(lr=0.01, policy="poly", gamma=0.5, step_size=None, momentum=0.9, weight_decay=2e-4,
                      batch_size=32, crop=224, iters=2400000, aux_weight=0.3),
}
# The embedded default, made to train in a few minutes on a CPU and to transfer (recipes.fcn_voc): VGG16
# at 1/8 width with batch norm after every convolution and after fc6 and fc7 (folded into them when the FCN
# takes the trunk), fc6 over the 3x3 pool5 of a 96-px crop as it is (so the FCN's fc6 is a 3x3 convolution),
# no dropout, Adam decayed linearly to 0, inputs scaled by 0.017 after the mean (unit variance, about).
EMBEDDED = dict(arch="vgg16_bn", width=1 / 8, iters=400, batch_size=32, crop=96, eval_every=100, patience=1,
                n_train=100, n_val=10, size=104, optimizer="adam", lr=1e-3, policy="poly", gamma=1.0,
                dropout=0.0, input_scale=0.017)
EMBEDDED_VGG_HEAD = dict(head_batch_norm=True, fc6_kernel=3)  # for a VGG --arch
REAL = dict(arch="caffenet", width=1.0, eval_every=10000, patience=2)
# What neither the preset nor the architecture's solver sets.
DEFAULTS = dict(optimizer="sgd", dropout=0.5, head_batch_norm=False, fc6_kernel=7, input_scale=1.0)


def solver_of(arch):
    return "caffenet" if arch in ("alexnet", "caffenet") else "googlenet" if arch == "googlenet" else "vgg"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.imagenet", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="ImageNet-layout folder (train/<class>/, val/<class>/ or val/ + "
                   "val.txt); default: the embedded synthetic data (20 VOC classes)")
    p.add_argument("--arch", help=f"one of {', '.join(ARCHS)} (default: vgg16 on the embedded data, else caffenet)")
    p.add_argument("--width", type=float, help="channel multiplier (1 = the reference nets)")
    p.add_argument("--iters", type=int)
    p.add_argument("--batch-size", type=int, help="images per step, all ranks together under mpirun")
    p.add_argument("--lr", type=float, help="base learning rate (the reference: 0.01)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="sgd (the reference solvers') or adam (the "
                   "embedded default's)")
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--policy", choices=("step", "plateau", "poly", "fixed"), help="lr schedule (default: the "
                   "architecture's reference solver)")
    p.add_argument("--gamma", type=float, help="step/plateau: lr factor; poly: the power")
    p.add_argument("--step-size", type=int, help="step policy: iterations between lr drops")
    p.add_argument("--patience", type=int, help="plateau policy: evaluations without improvement before a drop")
    p.add_argument("--aux-weight", type=float, help="GoogLeNet: weight of each auxiliary loss")
    p.add_argument("--crop", type=int, help="training crop and validation centre crop")
    p.add_argument("--input-scale", type=float, help="multiply inputs by this after the mean (Caffe's "
                   "transform_param scale; default 1, the embedded data 0.017)")
    p.add_argument("--dropout", type=float, help="dropout after fc6 and fc7 (default 0.5; the embedded data 0)")
    p.add_argument("--head-batch-norm", action=argparse.BooleanOptionalAction, default=None,
                   help="VGG: batch norm after fc6 and fc7 too (the embedded default)")
    p.add_argument("--fc6-kernel", type=int, help="VGG: the pool5 grid fc6 reads (torchvision pools to 7x7; "
                   "the embedded default reads a 96-px crop's 3x3 pool5 as it is: with a crop of 32 x the kernel "
                   "the FCN's fc6 convolution computes exactly the classifier's fc6)")
    p.add_argument("--resize", type=int, default=256, help="real data: shorter side before cropping")
    p.add_argument("--eval-every", type=int)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--export", type=Path, help="also write the trained weights as a plain .npz "
                   "(recipes.fcn_voc --init reads it)")
    p.add_argument("--workers", type=int, help="data-loading workers (default: 0 on the CPU, 4 on a GPU)")
    add_run_arguments(p, "runs/imagenet")
    p.add_argument("--n-train", type=int, help="embedded data: training images per class")
    p.add_argument("--n-val", type=int, help="embedded data: validation images per class")
    p.add_argument("--size", type=int, help="embedded data: image size")
    args = p.parse_args(argv)
    for key, value in (EMBEDDED if args.data is None else REAL).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.arch not in ARCHS:
        raise UserError(f"unknown arch {args.arch!r}; expected one of {', '.join(ARCHS)}")
    if args.data is None and args.arch.startswith("vgg"):
        for key, value in EMBEDDED_VGG_HEAD.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    for key, value in {**SOLVERS[solver_of(args.arch)], **DEFAULTS}.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if not args.arch.startswith("vgg") and (args.head_batch_norm or args.fc6_kernel != 7):
        raise UserError(f"--head-batch-norm and --fc6-kernel are VGG options; --arch {args.arch} has its own head")
    if not (0 <= args.dropout < 1):
        raise UserError(f"--dropout must be in [0, 1), got {args.dropout}")
    if not (args.input_scale > 0 and math.isfinite(args.input_scale)):
        raise UserError(f"--input-scale must be a positive number, got {args.input_scale}")
    if args.step_size is None:
        args.step_size = max(1, args.iters // 3)
    for name in ("iters", "batch_size", "checkpoint_every", "eval_every", "crop", "fc6_kernel"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not (args.width > 0 and math.isfinite(args.width)):
        raise UserError(f"--width must be a positive number, got {args.width}")
    if args.arch == "alexnet" and args.width != 1:
        raise UserError("--arch alexnet (torchvision's one-tower net) comes at width 1 only; use caffenet")
    if args.workers is None:
        args.workers = 0 if args.device == "cpu" else 4
    if args.device != "cpu" and not lumen.cuda.is_available():
        raise UserError(f"--device {args.device}: no usable GPU (CuPy with a CUDA device is needed)")
    return args


# ---- data ---------------------------------------------------------------------------------
class _ImageOnly:
    """A joint (image, label) transform applied to an image alone, as ImageFolder calls it."""

    def __init__(self, joint):
        self.joint = joint

    def __call__(self, image):
        return self.joint(image)[0]


def embedded_root(args) -> Path:
    return cache_dir(args) / f"synthetic_imagenet-{args.n_train}-{args.n_val}-{args.size}"


def load_data(args):
    """(train set, validation set, one-line description)."""
    resize = [] if args.data is None else [Resize(args.resize)]
    to_input = ToCaffeInput(scale=args.input_scale)
    train_tf = _ImageOnly(Compose([*resize, RandomCrop(args.crop), RandomHorizontalFlip(), to_input]))
    val_tf = _ImageOnly(Compose([*resize, CenterCrop(args.crop), to_input]))
    try:
        if args.data is None:
            root = synthetic_imagenet(embedded_root(args), n_train=args.n_train, n_val=args.n_val, size=args.size)
            where = f"embedded synthetic ImageNet-layout data in {root}"
        else:
            root, where = args.data, str(args.data)
        train = ImageFolder(root / "train", transform=train_tf)
        if (root / "val").is_dir() and any(p.is_dir() for p in (root / "val").iterdir()):
            val = ImageFolder(root / "val", transform=val_tf, classes=train.classes)
        else:
            labels = next((f for f in (root / "val.txt", root / "val" / "val.txt") if f.is_file()), None)
            if labels is None:
                raise UserError(f"{root}: no val/<class>/ folders and no val.txt labelling val/")
            val = ImageList(root / "val", labels, train.classes, transform=val_tf)
    except (DataError, FileNotFoundError, NotADirectoryError) as e:
        raise UserError(str(e)) from None
    return train, val, f"{where}: {len(train.classes)} classes, train ({len(train)}) -> val ({len(val)})"


# ---- model --------------------------------------------------------------------------------
def build_classifier(arch, num_classes, width=1.0, dropout=0.5, head_batch_norm=False, fc6_kernel=7):
    """The architecture at ``width``, with its reference init and torchvision's (CaffeNet: Caffe's) keys,
    which ``VGG16Backbone``/``AlexNetBackbone``/``GoogLeNetBackbone.transplant`` read. VGG: ``head_batch_norm``
    adds a BatchNorm1d after fc6 and fc7, ``fc6_kernel`` is the pool5 grid fc6 reads (torchvision's 7)."""
    if arch.startswith("vgg"):
        model = getattr(models, arch)(num_classes=num_classes, dropout=dropout, init_weights=False)
        if width != 1:
            trunk = vgg_trunk(CFGS[_VGG_CFG[arch.removesuffix("_bn")]], batch_norm=arch.endswith("_bn"), width=width)
            model.features = nn.Sequential(*(layer for _, layer in trunk))
        if width != 1 or head_batch_norm or fc6_kernel != 7:
            model.avgpool = nn.AdaptiveAvgPool2d((fc6_kernel, fc6_kernel))
            model.classifier = nn.Sequential(*(layer for _, layer in fc_head(
                scaled_channels(512, width), fc6_kernel, scaled_channels(4096, width), dropout, num_classes,
                batch_norm=head_batch_norm)))
        model._initialize_weights()
        return model
    if arch == "caffenet":
        model = models.caffenet(num_classes=num_classes, dropout=dropout, init_weights=False)
        if width != 1:
            trunk = caffenet_trunk(width)
            for name, layer in trunk + fc_head(trunk[-3][1].out_channels, 6, scaled_channels(4096, width), dropout,
                                               num_classes):
                setattr(model, name, layer)
        _caffenet_init(model)
        return model
    if arch == "googlenet":
        model = models.googlenet(num_classes=num_classes, init_weights=False)
        if width != 1:
            for name, layer in googlenet_trunk(width):
                setattr(model, name, layer)
            model.aux1 = InceptionAux(model.inception4a.out_channels, num_classes)
            model.aux2 = InceptionAux(model.inception4d.out_channels, num_classes)
            model.fc = nn.Linear(model.inception5b.out_channels, num_classes)
        model._initialize_weights()
        return model
    return models.alexnet(num_classes=num_classes, dropout=dropout)


def make_scheduler(opt, args):
    if args.policy == "step":
        return optim.lr_scheduler.StepLR(opt, step_size=args.step_size, gamma=args.gamma)
    if args.policy == "poly":
        return optim.lr_scheduler.PolynomialLR(opt, total_iters=args.iters, power=args.gamma)
    if args.policy == "plateau":
        return optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=args.gamma, patience=args.patience)
    return None


def classification_loss(outputs, targets, aux_weight):
    if isinstance(outputs, models.GoogLeNetOutputs):
        loss = F.cross_entropy(outputs.logits, targets)
        return loss + aux_weight * (F.cross_entropy(outputs.aux1, targets) +
                                    F.cross_entropy(outputs.aux2, targets))
    return F.cross_entropy(outputs, targets)


def evaluate(model, dataset, device, batch_size, world=1):
    """{"top1", "top5"} accuracy over ``dataset`` (top-5 is top-k with k = min(5, classes)); with ``world`` > 1
    ranks each scores its shard and the counts are summed."""
    model.eval()
    if world > 1:
        dataset = shard(dataset)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    correct1 = correct5 = total = 0
    with lumen.no_grad():
        for images, targets in loader:
            scores = model(images.to(device)).cpu()
            ranked = scores.topk(min(5, scores.shape[1]), 1).indices
            truth = targets.view(-1, 1)
            correct1 += int((ranked[:, :1] == truth).sum().item())
            correct5 += int((ranked == truth).any(1).sum().item())
            total += truth.shape[0]
    model.train()
    if world > 1:
        counts = lumen.tensor([correct1, correct5, total], dtype=lumen.int64)
        dist.all_reduce(counts)
        correct1, correct5, total = counts.tolist()
    return {"top1": correct1 / total, "top5": correct5 / total}


# ---- training -----------------------------------------------------------------------------
LOG_FIELDS = ("iteration", "loss", "lr", "images_per_s", "top1", "top5")


def config_key(args) -> str:
    """A digest of everything that determines the trained weights (recipes.fcn_voc caches by it)."""
    fields = ("data", "arch", "width", "iters", "batch_size", "optimizer", "lr", "momentum", "weight_decay",
              "policy", "gamma", "step_size", "patience", "aux_weight", "crop", "resize", "eval_every", "seed",
              "n_train", "n_val", "size", "dropout", "head_batch_norm", "fc6_kernel", "input_scale")
    settings = {f: str(getattr(args, f)) for f in fields}
    if args.data is None:  # the embedded images change with the generator's version
        settings["synthetic_version"] = SYNTHETIC_VERSION
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_resumable(ckpt, args, classes):
    meta = ckpt["meta"]
    for key in ("arch", "width", "batch_size", "policy", "optimizer", "head_batch_norm", "fc6_kernel", "dropout",
                "input_scale"):
        recorded = meta.get(key, DEFAULTS.get(key))  # checkpoints from before a key had its default
        if recorded != getattr(args, key):
            raise UserError(f"the checkpoint is of {key} {recorded!r}, but this run asks for {getattr(args, key)!r}")
    if list(meta["classes"]) != list(classes):
        raise UserError(f"the checkpoint is of {len(meta['classes'])} classes, this data has {len(classes)}")


def run(args, on_iteration=None, quiet=False, alone=False):
    """Train and validate; returns {"top1", "top5", "classes", "export"}, or None when stopped early.
    ``on_iteration(it)`` may return "stop" (the tests' Ctrl-C). Under ``mpirun -np N`` it trains data-parallel
    (see the module's docstring) unless ``alone`` (recipes.fcn_voc's rank 0 trains its cached classifier so
    while the other ranks wait)."""
    world, device = join_ranks(args, alone)
    main = world == 1 or dist.is_main_process()
    ckpt_path = args.out / "checkpoint.npz"
    ckpt = None
    with rank0_first(world):  # rank 0 makes or finds the embedded data, and says what does not fit the checkpoint
        lumen.manual_seed(args.seed)
        train_set, val_set, description = load_data(args)
        classes = train_set.classes
        if args.resume is not None:
            ckpt = read_checkpoint(ckpt_path if args.resume == "auto" else Path(args.resume), "imagenet")
            check_resumable(ckpt, args, classes)
        model = build_classifier(args.arch, len(classes), args.width, args.dropout, args.head_batch_norm,
                                 args.fc6_kernel).to(device)
        if ckpt is not None:
            try:
                model.load_state_dict(ckpt["model_state"])
            except (RuntimeError, KeyError, ValueError) as e:
                details = "; ".join(line.strip() for line in str(e).splitlines()[1:]) or str(e)
                raise UserError(f"the checkpoint's weights do not fit this {args.arch} (width {args.width:g}): "
                                f"{details}") from None
    say = (lambda *a, **k: None) if quiet else print
    ranks = f" x {world} ranks" if world > 1 else ""
    say(f"imagenet: {args.arch} (width {args.width:g}), {description}, device {device}{ranks}")
    momentum = f", momentum {args.momentum:g}" if args.optimizer == "sgd" else ""
    scale = f", inputs x{args.input_scale:g} after the mean" if args.input_scale != 1 else ""
    say(f"imagenet: {args.optimizer.upper()} lr {args.lr:g} ({args.policy}){momentum}, weight decay "
        f"{args.weight_decay:g}, batch {args.batch_size}, {args.iters} iterations, {args.crop} px crops, mirrored"
        f"{scale}")

    groups = optim.caffe_param_groups(model, args.lr, args.weight_decay)
    opt = (optim.Adam(groups, lr=args.lr) if args.optimizer == "adam" else
           optim.SGD(groups, lr=args.lr, momentum=args.momentum))
    scheduler = make_scheduler(opt, args)
    loader = DistributedDataLoader(train_set, batch_size=args.batch_size // world, shuffle=True,
                                   num_replicas=world, rank=dist.get_rank() if world > 1 else 0,
                                   num_workers=args.workers, seed=args.seed,
                                   drop_last=len(train_set) >= args.batch_size)
    history = {"name": args.arch, "loss": [], "top1": []}
    it = 0
    if ckpt is not None:
        opt.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        loader.load_state_dict(ckpt["loader"])
        set_rng_state(ckpt["rng"], "imagenet")
        history, it = ckpt["history"], ckpt["meta"]["iteration"]
    net = DistributedDataParallel(model) if world > 1 else model
    position = it
    log = NoLog() if not main else CSVLog(args.out / "log.csv", LOG_FIELDS,
                                          keep=None if ckpt is None else lambda row: int(row["iteration"]) <= position)

    def save():
        if not main:
            return
        args.out.mkdir(parents=True, exist_ok=True)
        lumen.save({"meta": {"format": "imagenet", "arch": args.arch, "width": args.width, "policy": args.policy,
                             "optimizer": args.optimizer, "head_batch_norm": args.head_batch_norm,
                             "dropout": args.dropout,
                             "fc6_kernel": args.fc6_kernel, "batch_size": args.batch_size, "iteration": it,
                             "classes": list(classes), "mean": list(VOC_BGR_MEAN), "channel_order": "BGR",
                             "crop": args.crop, "input_scale": args.input_scale},
                    "model_state": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else {},
                    "loader": loader.state_dict(), "rng": rng_state(), "history": history}, ckpt_path)

    bar = progress(args.iters, it, args.arch) if not quiet else None
    t0, seen = time.perf_counter(), 0
    with Interrupt() as interrupt:
        while it < args.iters:
            for images, targets in loader:
                loss = classification_loss(net(images.to(device)), targets.to(device), args.aux_weight)
                value, stop_asked = global_loss_and_stop(loss.item(), interrupt.requested, world)
                if not math.isfinite(value):
                    save()
                    raise UserError(f"{args.arch}: the loss became {value} at iteration {it + 1}; lower --lr")
                opt.zero_grad()
                loss.backward()
                opt.step()
                it += 1
                seen += images.shape[0] * world
                lr = opt.param_groups[0]["lr"]
                if scheduler is not None and args.policy != "plateau":
                    scheduler.step()
                history["loss"].append([it, value])
                speed = seen / (time.perf_counter() - t0)
                log.write(iteration=it, loss=value, lr=lr, images_per_s=speed)
                if bar is not None:
                    bar.set_postfix(loss=f"{value:.4g}", img_s=f"{speed:.0f}")
                    bar.update(1)
                stop = on_iteration(it) == "stop" if on_iteration else False
                if it % args.eval_every == 0 or it == args.iters:
                    scores = evaluate(model, val_set, device, args.batch_size // world, world)
                    history["top1"].append([it, scores["top1"]])
                    log.write(iteration=it, **scores)
                    if args.policy == "plateau":
                        scheduler.step(scores["top1"])
                    if bar is not None:
                        bar.write(f"{args.arch} iteration {it}: loss {value:.4g}, validation top-1 "
                                  f"{100 * scores['top1']:.1f}%, top-5 {100 * scores['top5']:.1f}%")
                if it % args.checkpoint_every == 0 or it == args.iters or stop_asked or stop:
                    save()
                if stop_asked or stop:
                    if bar is not None:
                        bar.close()
                    say(f"imagenet: stopped at iteration {it}; checkpoint in {ckpt_path} (resume with --resume)")
                    return None
                if it >= args.iters:
                    break
    if bar is not None:
        bar.close()
    result = {**scores, "classes": list(classes), "arch": args.arch, "width": args.width, "iterations": it}
    if main:
        write_outputs(args, history, result, model)
    say(f"imagenet: validation top-1 {100 * scores['top1']:.1f}%, top-5 {100 * scores['top5']:.1f}% "
        f"(chance {100 / len(classes):.1f}%); wrote {args.out / 'metrics.json'}, curves.png"
        + (f", {args.export}" if args.export else ""))
    return result


def export_weights(model, path):
    """The state dict as a plain ``numpy.savez`` file of name -> array (``read_npz`` reads it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    models.save_npz(model.state_dict(), path)


def write_outputs(args, history, result, model):
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out / "metrics.json") as f:
        f.write(json.dumps(result, indent=2).encode("utf-8"))
    with atomic_write(args.out / "curves.png") as f:
        plot.training_curves([history], "top1", "validation top-1").savefig(f, format="png")
    if args.export is not None:
        export_weights(model, args.export)


def main(argv=None):
    try:
        args = parse_args(argv)
        return 0 if run(args) is not None else 130
    except (UserError, DataError) as e:
        print(f"imagenet: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
