"""Pictures of segmentations and training runs.

Every helper returns a ``matplotlib.figure.Figure`` built without pyplot, so it
works on a headless machine (no display, nothing shown) and displays inline in
Jupyter; save it with ``fig.savefig(path)``.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .datasets.voc import VOC_CLASSES
from .palette import colorize, overlay


def segmentation_grid(images, truths, predictions, titles=("image", "truth", "prediction"), alpha=0.6):
    """Rows of image / truth overlay / prediction overlay.

    images: sequence of HxWx3 uint8 RGB; truths, predictions: sequences of HxW class-id arrays.
    """
    n = len(images)
    fig = Figure(figsize=(3 * 3, 3 * max(n, 1)), layout="constrained")
    axes = fig.subplots(max(n, 1), 3, squeeze=False)
    for row, (img, truth, pred) in enumerate(zip(images, truths, predictions)):
        panels = (np.asarray(img), overlay(img, truth, alpha), overlay(img, pred, alpha))
        for col, panel in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(panel)
            ax.set_axis_off()
            if row == 0:
                ax.set_title(titles[col])
    return fig


def label_image(label):
    """A label map in the VOC palette (HxWx3 uint8), for imshow."""
    return colorize(label)


def confusion_matrix(hist, class_names=VOC_CLASSES, normalize=True):
    """Heatmap of a confusion matrix (rows: truth, columns: prediction), row-normalised by default."""
    hist = np.asarray(hist, dtype=np.float64)
    if normalize:
        with np.errstate(invalid="ignore", divide="ignore"):
            hist = np.nan_to_num(hist / hist.sum(1, keepdims=True))
    n = hist.shape[0]
    fig = Figure(figsize=(0.35 * n + 2.5, 0.35 * n + 2), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(hist, cmap="viridis", vmin=0, vmax=1 if normalize else None)
    names = list(class_names)[:n]
    ax.set_xticks(range(n), names, rotation=90, fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def per_class_iu(iu, class_names=VOC_CLASSES):
    """Bar chart of per-class IU (NaN classes, absent from truth and prediction, left empty)."""
    iu = np.asarray(iu, dtype=np.float64)
    fig = Figure(figsize=(8, 3), layout="constrained")
    ax = fig.subplots()
    ax.bar(range(len(iu)), np.nan_to_num(iu), color=colorize(np.arange(len(iu))[None])[0] / 255.0,
           edgecolor="black", linewidth=0.5)
    ax.set_xticks(range(len(iu)), list(class_names)[:len(iu)], rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("IU")
    return fig


def moving_average(values, window):
    """The trailing mean over up to ``window`` values at each position (shorter at the start)."""
    values = np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.concatenate([[0.0], values]))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (sums[1:] - sums[np.arange(1, len(values) + 1) - counts]) / counts


def training_curves(log, metric="mean_iu", metric_label="validation mean IU", window=50):
    """Training loss (faint: every iteration; solid: its moving average over ``window`` iterations, since a
    batch-1 loss is mostly noise) and the validation ``metric`` of consecutive stages, stage after stage.

    ``log`` is the recipes' history: ``{"name", "loss": [[iteration, loss], ...], metric: [[iteration,
    value], ...]}`` for one stage, or a list of them.
    """
    stages = log if isinstance(log, (list, tuple)) else [log]
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.subplots()
    ax2 = ax.twinx()
    offset = 0
    for k, stage in enumerate(stages):
        colour = f"C{k}"
        loss = np.asarray(stage.get("loss", []), dtype=np.float64).reshape(-1, 2)
        values = np.asarray(stage.get(metric, []), dtype=np.float64).reshape(-1, 2)
        if len(loss):
            ax.plot(loss[:, 0] + offset, loss[:, 1], lw=0.5, alpha=0.25, color=colour)
            ax.plot(loss[:, 0] + offset, moving_average(loss[:, 1], window), lw=1.5, color=colour,
                    label=f"{stage.get('name', f'stage {k + 1}')} loss ({window}-it. mean)")
        if len(values):
            ax2.plot(values[:, 0] + offset, values[:, 1], "o--", color=colour, label=f"{stage.get('name', f'stage {k + 1}')} {metric_label}")
        offset += int(loss[-1, 0]) if len(loss) else 0
    ax.set_xlabel("iteration (stages one after another)")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax2.set_ylabel(metric_label)
    ax2.set_ylim(0, 1)
    handles, labels = ax.get_legend_handles_labels()
    handles2, labels2 = ax2.get_legend_handles_labels()
    if handles or handles2:
        ax.legend(handles + handles2, labels + labels2, fontsize=7, loc="lower left")
    return fig
