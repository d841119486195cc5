"""The training protocol of the FCN paper's other benchmarks (recipes.fcn_nyud, fcn_siftflow, fcn_context).

A recipe describes its ``Stage``s (each a net trained in turn, possibly started from earlier stages'
trained nets: FCN-16s from FCN-32s, RGB-HHA from RGB and HHA) and its data; ``run`` trains them one
after another with exact resume (atomic checkpoints of model, optimizer, loader position and random
state; each finished stage's weights kept in ``OUT/<stage>.npz`` for the stages that start from it),
a progress bar, ``log.csv`` (a row per iteration and per validation; a resumed run's log equals the
uninterrupted one's), and at the end ``metrics.json``, ``curves.png``, ``predictions.png`` and the
recipe's table. Nets with several heads (SIFT Flow's semantic + geometric) are trained on the sum of
their heads' losses (the reference's ``loss`` + ``loss_geo``) and scored per head.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tqdm import tqdm

import lumen
from lumen import optim
from lumen.data import DataError, DataLoader
from lumen.nn import functional as F
from lumen.serialization import CheckpointError, atomic_write
from lumen.utils.csv_log import CSVLog
from lumen.vision import metrics, plot
from lumen.vision.models import read_npz
from recipes._common import Interrupt, UserError, progress, read_checkpoint, rng_state, set_rng_state

IGNORE = 255
METRICS = ("pixel_accuracy", "mean_accuracy", "mean_iu", "frequency_weighted_iu")
# The reference solvers of these nets ([FBV] nyud-*, siftflow-*, pascalcontext-* solver.prototxt): fixed
# lr for the unnormalised loss, x0.01 from FCN-32s to FCN-16s, momentum 0.99, weight decay 5e-4, batch 1.
PAPER_SOLVER = dict(optimizer="sgd", lr=1e-10, stage_lr_factor=0.01, momentum=0.99, weight_decay=5e-4,
                    normalize=False, eval_every=4000, width=1.0)


@dataclass
class Stage:
    """One net of the protocol. ``make()`` builds it fresh (trunk transplanted from --init where that
    applies); ``carry(*nets)``, when given, builds it instead from the trained nets of the stages
    ``init_from``. ``data`` names its (train, val) pair; its lr is the run's lr times ``lr_factor``."""

    key: str
    name: str
    data: str
    make: Callable
    init_from: tuple = ()
    carry: Callable | None = None
    lr_factor: float = 1.0


@dataclass
class Spec:
    """What a recipe hands to ``run``: its stages and data, the heads {head: class names} ("" for one
    head), the classes each head is scored on (None: all, as nanmean does), how to draw an input
    (``display(x) -> (H, W, 3) uint8``), the table printer and what the checkpoint's meta records."""

    recipe: str
    stages: list
    data: dict
    heads: dict
    display: Callable
    table: Callable
    scored: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    description: str = ""


def add_arguments(p: argparse.ArgumentParser, out: str) -> None:
    """The options every benchmark recipe has."""
    p.add_argument("--iters", type=int, help="iterations per stage")
    p.add_argument("--lr", type=float, help="learning rate of the first stage")
    p.add_argument("--stage-lr-factor", type=float, help="lr multiplier from FCN-32s to FCN-16s to FCN-8s")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="sgd (the reference's) or adam (the embedded "
                   "default, whose trunks start from scratch)")
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None,
                   help="average the loss over pixels (default: the reference's sum on real data)")
    p.add_argument("--width", type=float, help="channel multiplier of the trunks (1 = the paper's nets)")
    p.add_argument("--init", type=Path, help="ImageNet VGG16 weights (.npz or .caffemodel) transplanted into "
                   "every trunk (the paper's start); default: from scratch")
    p.add_argument("--eval-every", type=int, help="validate every N iterations (and at the end of each stage)")
    p.add_argument("--checkpoint-every", type=int, default=200, help="checkpoint every N iterations")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", type=Path, default=Path(out), help="output folder")
    p.add_argument("--resume", nargs="?", const="auto", help="resume from CHECKPOINT (default: OUT/checkpoint.npz)")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--n-train", type=int, help="embedded data: training images")
    p.add_argument("--n-val", type=int, help="embedded data: test images")
    p.add_argument("--size", type=int, help="embedded data: image size")
    p.add_argument("--cache", type=Path, help="where the embedded data set is generated (default: $LUMEN_CACHE "
                   "or ~/.cache/lumen)")


def finish_arguments(args, embedded: dict, paper: dict):
    """Fill the options not given from the embedded preset (no --data) or the reference's (--data)."""
    for key, value in (embedded if args.data is None else paper).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    for name in ("iters", "checkpoint_every", "eval_every"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.device != "cpu" and not lumen.cuda.is_available():
        raise UserError(f"--device {args.device}: no usable GPU (CuPy with a CUDA device is needed)")
    return args


def pretrained(args):
    """The --init classifier's state dict, or None."""
    if args.init is None:
        return None
    try:
        if args.init.suffix == ".caffemodel":
            from lumen.vision.caffe import caffemodel_state_dict
            return caffemodel_state_dict(args.init)
        return read_npz(args.init)
    except (OSError, CheckpointError, ValueError, TypeError, zipfile.BadZipFile, ImportError) as e:
        raise UserError(f"--init {args.init}: {e}") from None


def segmentation_loss(scores, labels, normalize: bool):
    """Softmax loss without the ignore label: summed over pixels and divided by the batch (Caffe's
    ``normalize: false``) or averaged over them; for several heads ({head: scores}) the sum of the
    heads' losses, as the reference's two SoftmaxWithLoss layers."""
    if isinstance(scores, dict):
        return sum((segmentation_loss(scores[head], labels[head], normalize) for head in scores), lumen.tensor(0.0))
    loss = F.cross_entropy(scores, labels, ignore_index=IGNORE, reduction="mean" if normalize else "sum")
    return loss if normalize else loss / scores.shape[0]


def _to(x, device):
    if isinstance(x, (list, tuple)):
        return type(x)(_to(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    return x.to(device)


def _batch_of_one(x):
    if isinstance(x, (list, tuple)):
        return [lumen.from_numpy(v[None]) for v in x]
    return lumen.from_numpy(x[None])


def scores_of(confusion, scored=None) -> dict:
    """The reference's metrics as JSON-ready numbers (a class absent from truth and prediction: IU None);
    with ``scored`` (class ids), mean accuracy and mean IU average those classes only (the paper's SIFT
    Flow rule: classes absent from the test set are not scored)."""
    def plain(x):
        return None if math.isnan(x) else float(x)

    out = {key: [plain(v) for v in value] if hasattr(value, "tolist") else plain(value)
           for key, value in confusion.compute().items()}
    if scored is not None:
        def mean_over(values):
            kept = [v for v in (values[i] for i in scored) if v is not None and not math.isnan(v)]
            return sum(kept) / len(kept) if kept else None

        out["mean_iu"] = mean_over(out["per_class_iu"])
        out["mean_accuracy"] = mean_over(metrics.per_class_accuracy(confusion.hist).tolist())
        out["scored_classes"] = list(scored)
    return out


def evaluate(model, dataset, spec, device, n_show=4):
    """{head: ConfusionMatrix} over ``dataset`` (one image at a time, any size) and samples to draw."""
    model.eval()
    confusions = {head: metrics.ConfusionMatrix(len(classes)) for head, classes in spec.heads.items()}
    shown = []
    with lumen.no_grad():
        for i in range(len(dataset)):
            x, label = dataset[i]
            out = model(_to(_batch_of_one(x), device))
            out = out if isinstance(out, dict) else {"": out}
            labels = label if isinstance(label, dict) else {"": label}
            for head, confusion in confusions.items():
                pred = out[head].argmax(1)[0].numpy()
                confusion.update(labels[head], pred)
                if head == next(iter(spec.heads)) and len(shown) < n_show:
                    shown.append((spec.display(x), labels[head], pred))
    model.train()
    return confusions, shown


def head_scores(confusions, spec) -> dict:
    """{head: metrics}, each scored on the classes ``spec.scored`` names for it."""
    return {head: scores_of(c, spec.scored.get(head)) for head, c in confusions.items()}


def _log_fields(spec):
    heads = [f"{h}_{m}" if h else m for h in spec.heads for m in METRICS]
    return ("stage", "iteration", "loss", "lr", "images_per_s", *heads)


def _validation_row(scores):
    return {(f"{h}_{m}" if h else m): s[m] for h, s in scores.items() for m in METRICS}


def _open_log(args, spec, ckpt):
    fields = _log_fields(spec)
    if ckpt is None:
        return CSVLog(args.out / "log.csv", fields)
    keys = [s.key for s in spec.stages]
    position = (ckpt["meta"]["stage"], ckpt["meta"]["iteration"])

    def before_checkpoint(row):
        here = (keys.index(row["stage"]), int(row["iteration"]))
        final_validation = row["loss"] == "" and here[1] == args.iters  # follows the stage's last checkpoint
        return here < position or (here == position and not final_validation)

    try:
        return CSVLog(args.out / "log.csv", fields, keep=before_checkpoint)
    except (ValueError, KeyError, csv.Error) as e:
        raise UserError(f"cannot continue {args.out / 'log.csv'}: {e}") from None


def _load_checkpoint(path, args, spec):
    ckpt = read_checkpoint(path, spec.recipe)
    meta = ckpt["meta"]
    for key, value in {"stages": [s.key for s in spec.stages], "width": args.width,
                       "optimizer": args.optimizer, **spec.meta}.items():
        if meta.get(key) != value:
            raise UserError(f"checkpoint {path} is of {key} {meta.get(key)!r}, but this run asks for {value!r}")
    return ckpt


def run(args, spec: Spec, on_iteration=None):
    """Train every stage of ``spec`` and score it; returns {stage name: {head: metrics}}, or None when
    stopped (Ctrl-C, or ``on_iteration(it)`` returning "stop", as the tests do) with a checkpoint."""
    lumen.manual_seed(args.seed)
    device, ckpt_path = args.device, args.out / "checkpoint.npz"
    ckpt = None
    if args.resume is not None:
        ckpt = _load_checkpoint(ckpt_path if args.resume == "auto" else Path(args.resume), args, spec)
    tag = spec.recipe
    print(f"{tag}: {', '.join(s.name for s in spec.stages)} (width {args.width:g}), {spec.description}, "
          f"device {device}")
    loss_kind = "averaged over pixels" if args.normalize else "summed over pixels (Caffe's normalize: false)"
    print(f"{tag}: {args.optimizer.upper()} lr {args.lr:.3g}, momentum {args.momentum:g}, weight decay "
          f"{args.weight_decay:g}, batch 1, {args.iters} iterations per stage; loss {loss_kind}")
    args.out.mkdir(parents=True, exist_ok=True)
    log_csv = _open_log(args, spec, ckpt)
    history = ckpt["history"] if ckpt else []
    results = dict(ckpt["results"]) if ckpt else {}
    first = ckpt["meta"]["stage"] if ckpt else 0
    trained = {}
    by_key = {s.key: s for s in spec.stages}

    def trained_net(key):
        if key not in trained:
            net = by_key[key].make()
            try:
                net.load_state_dict(lumen.load(args.out / f"{key}.npz", map_location="cpu"))
            except (OSError, CheckpointError, ValueError, KeyError, RuntimeError) as e:
                raise UserError(f"cannot read the trained {key} net {args.out / f'{key}.npz'}: {e}") from None
            trained[key] = net.to(device)
        return trained[key]

    for k, stage in enumerate(spec.stages):
        if k < first:
            continue
        train_set, val_set = spec.data[stage.data]
        resuming = ckpt is not None and k == first
        if resuming:
            model = stage.make()
            model.load_state_dict(ckpt["model_state"])
        elif stage.carry is not None:
            model = stage.carry(*[trained_net(key) for key in stage.init_from])
        else:
            model = stage.make()
        model.to(device)
        lr = args.lr * stage.lr_factor
        groups = optim.caffe_param_groups(model, lr, args.weight_decay)
        opt = optim.Adam(groups, lr=lr) if args.optimizer == "adam" else optim.SGD(groups, lr=lr, momentum=args.momentum)
        loader = DataLoader(train_set, batch_size=1, shuffle=True, seed=args.seed + k)
        log = {"name": stage.key, "loss": [], "mean_iu": []}
        start = 0
        if resuming:
            opt.load_state_dict(ckpt["optimizer"])
            loader.load_state_dict(ckpt["loader"])
            set_rng_state(ckpt["rng"], tag)
            start = ckpt["meta"]["iteration"]
            log = history.pop() if history and history[-1]["name"] == stage.key else log
            ckpt = None
        history.append(log)

        def save(iteration):
            meta = {"format": tag, "stages": [s.key for s in spec.stages], "stage": k, "stage_key": stage.key,
                    "iteration": iteration, "width": args.width, "optimizer": args.optimizer,
                    "heads": {h: list(c) for h, c in spec.heads.items()}, **spec.meta}
            lumen.save({"meta": meta, "model_state": model.state_dict(), "optimizer": opt.state_dict(),
                        "loader": loader.state_dict(), "rng": rng_state(), "history": history,
                        "results": results}, ckpt_path)

        it = start
        bar = progress(args.iters, start, stage.key)
        t0, seen = time.perf_counter(), 0
        with Interrupt() as interrupt:
            while it < args.iters:
                for x, labels in loader:
                    scores = model(_to(x, device))
                    loss = segmentation_loss(scores, _to(labels, device), args.normalize)
                    value = loss.item()
                    if not math.isfinite(value):
                        save(it)
                        raise UserError(f"{stage.key}: the loss became {value} at iteration {it + 1}; lower --lr "
                                        f"(with the unnormalised loss the reference uses 1e-10)")
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    it += 1
                    seen += 1
                    log["loss"].append([it, value])
                    speed = seen / (time.perf_counter() - t0)
                    log_csv.write(stage=stage.key, iteration=it, loss=value, lr=lr, images_per_s=speed)
                    bar.set_postfix(loss=f"{value:.4g}", img_s=f"{speed:.1f}")
                    bar.update(1)
                    stop = on_iteration(it) == "stop" if on_iteration else False
                    if it % args.eval_every == 0 and it < args.iters:
                        scores_now = head_scores(evaluate(model, val_set, spec, device)[0], spec)
                        log_csv.write(stage=stage.key, iteration=it, **_validation_row(scores_now))
                        miu = next(iter(scores_now.values()))["mean_iu"]
                        log["mean_iu"].append([it, miu])
                        tqdm.write(f"{stage.key} iteration {it}: loss {value:.4g}, mean IU {100 * miu:.1f}")
                    if it % args.checkpoint_every == 0 or it == args.iters:
                        save(it)
                    if interrupt.requested or stop:
                        save(it)
                        bar.close()
                        print(f"{tag}: stopped at {stage.key} iteration {it}; checkpoint in {ckpt_path} "
                              f"(resume with --resume)")
                        return None
                    if it >= args.iters:
                        break
        bar.close()
        confusions, shown = evaluate(model, val_set, spec, device)  # the last stage's are drawn
        results[stage.name] = head_scores(confusions, spec)
        log_csv.write(stage=stage.key, iteration=args.iters, **_validation_row(results[stage.name]))
        if not (log["mean_iu"] and log["mean_iu"][-1][0] == args.iters):
            log["mean_iu"].append([args.iters, next(iter(results[stage.name].values()))["mean_iu"]])
        lumen.save(model.state_dict(), args.out / f"{stage.key}.npz")
        trained[stage.key] = model
        save(args.iters)
    write_outputs(args, spec, history, results, shown)
    print(spec.table(results))
    return results


def write_outputs(args, spec, history, results, shown):
    payload = {"data": str(args.data) if args.data else "embedded", "heads": spec.heads, "stages": results,
               "final": {"stage": list(results)[-1]}}
    with atomic_write(args.out / "metrics.json") as f:
        f.write(json.dumps(payload, indent=2, allow_nan=False).encode("utf-8"))
    with atomic_write(args.out / "curves.png") as f:
        plot.training_curves(history, "mean_iu", "validation mean IU").savefig(f, format="png")
    images, truths, preds = zip(*shown)
    with atomic_write(args.out / "predictions.png") as f:
        plot.segmentation_grid(images, truths, preds).savefig(f, format="png", dpi=80)
    print(f"{spec.recipe}: wrote {args.out / 'metrics.json'}, log.csv, curves.png and predictions.png")


def table(rows: dict, results: dict, head: str = "", extra=None) -> str:
    """The paper's layout (pixel acc., mean acc., mean IU, f.w. IU in %) for ``results`` {row: {head:
    metrics}}, each row followed by the paper's numbers for it from ``rows`` {row: (4 numbers) or None};
    ``extra`` = (column title, head, metric) adds a column (SIFT Flow's geometric accuracy)."""
    title = f" | {extra[0]}" if extra else ""
    lines = [f"| model | pixel acc. | mean acc. | mean IU | f.w. IU{title} |", "|---|---|---|---|---|" + ("---|" if extra else "")]

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}"

    for name, by_head in results.items():
        m = by_head[head]
        more = f" | {pct(by_head[extra[1]][extra[2]])}" if extra else ""
        lines.append(f"| {name} (ours) | " + " | ".join(pct(m[k]) for k in METRICS) + f"{more} |")
        paper = rows.get(name)
        if paper is not None:
            lines.append(f"| {name} (paper) | " + " | ".join("-" if v is None else f"{v:.1f}" for v in paper) + " |")
    return "\n".join(lines)


def main(recipe, run_recipe, argv=None):
    try:
        return 0 if run_recipe(argv) is not None else 130
    except (UserError, DataError, FileNotFoundError) as e:  # DataError: a file found bad while training
        print(f"{recipe}: error: {e}", file=sys.stderr)
        return 2
