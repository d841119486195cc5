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


def training_curves(log):
    """Loss (left axis) and validation mean IU (right axis) against iteration.

    ``log`` is the recipe's history: ``{"loss": [[iter, loss], ...], "mean_iu": [[iter, miu], ...]}``
    (one such dict, or a list of them for consecutive stages).
    """
    stages = log if isinstance(log, (list, tuple)) else [log]
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.subplots()
    ax2 = ax.twinx()
    offset = 0
    for k, stage in enumerate(stages):
        name = stage.get("name", f"stage {k + 1}")
        loss = np.asarray(stage.get("loss", []), dtype=np.float64).reshape(-1, 2)
        miu = np.asarray(stage.get("mean_iu", []), dtype=np.float64).reshape(-1, 2)
        if len(loss):
            ax.plot(loss[:, 0] + offset, loss[:, 1], lw=1, label=f"loss {name}")
        if len(miu):
            ax2.plot(miu[:, 0] + offset, miu[:, 1], "o-", label=f"mean IU {name}")
        offset += int(loss[-1, 0]) if len(loss) else 0
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss")
    ax2.set_ylabel("validation mean IU")
    ax2.set_ylim(0, 1)
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    if handles[0] or handles2[0]:
        ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], fontsize=7, loc="upper right")
    return fig
