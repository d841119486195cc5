"""Semantic segmentation scores, computed as the FCN reference's score.py.

All scores come from one confusion matrix ``hist`` (n, n) accumulated over the
whole data set: ``hist[i, j]`` counts pixels of true class i predicted as j.
A class with no pixels in truth and prediction has NaN IU (NaN accuracy when it
has no truth pixels) and is left out of the means (``nanmean``).
"""
from __future__ import annotations

import warnings

import numpy as np


def _host(x, op, what):
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "_data") and hasattr(x, "backend"):  # a lumen Tensor on any device
        return x.detach().numpy()
    if type(x).__module__.split(".")[0] == "cupy":
        return x.get()
    if hasattr(x, "__array__") or isinstance(x, (list, tuple)):
        return np.asarray(x)
    raise TypeError(f"{op}: {what} must be array-like (have __array__), got {type(x).__name__}")


def fast_hist(truth, pred, n_classes: int) -> np.ndarray:
    """Confusion matrix (n, n) int64 of integer label arrays of equal shape.

    Pixels whose truth is outside [0, n) (255 = void, or negative) are ignored;
    predictions of kept pixels must lie in [0, n).
    """
    truth = _host(truth, "fast_hist", "truth")
    pred = _host(pred, "fast_hist", "pred")
    if truth.shape != pred.shape:
        raise ValueError(f"fast_hist: truth shape {truth.shape} and prediction shape {pred.shape} differ")
    for name, a in (("truth", truth), ("pred", pred)):
        if a.dtype.kind not in "iu":
            raise TypeError(f"fast_hist: {name} must hold integer class ids, got dtype {a.dtype} "
                            "(take scores.argmax(1) for predictions)")
    n = int(n_classes)
    # int64 before n * a: uint8 labels would wrap around.
    a = truth.reshape(-1).astype(np.int64)
    b = pred.reshape(-1).astype(np.int64)
    keep = (a >= 0) & (a < n)
    a, b = a[keep], b[keep]
    if b.size and (b.min() < 0 or b.max() >= n):
        bad = b[(b < 0) | (b >= n)]
        raise ValueError(f"fast_hist: predictions {np.unique(bad)[:5].tolist()} outside 0..{n - 1}")
    return np.bincount(n * a + b, minlength=n * n).reshape(n, n)


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(num, dtype=np.float64) / den


def _nanmean(x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: "Mean of empty slice"
        return float(np.nanmean(x))


def _check_hist(hist):
    hist = np.asarray(hist)
    if hist.ndim != 2 or hist.shape[0] != hist.shape[1]:
        raise ValueError(f"expected a square confusion matrix (n, n), got shape {hist.shape}")
    return hist


def pixel_accuracy(hist) -> float:
    """Correct pixels / labelled pixels: sum_i n_ii / sum_i t_i (NaN for an empty matrix)."""
    hist = _check_hist(hist)
    return float(_ratio(np.diag(hist).sum(), hist.sum()))


def per_class_accuracy(hist) -> np.ndarray:
    """n_ii / t_i per class, (n,) float64; NaN where a class has no truth pixels."""
    hist = _check_hist(hist)
    return _ratio(np.diag(hist), hist.sum(1))


def mean_accuracy(hist) -> float:
    """nanmean over classes of n_ii / t_i."""
    return _nanmean(per_class_accuracy(hist))


def per_class_iu(hist) -> np.ndarray:
    """n_ii / (t_i + sum_j n_ji - n_ii) per class, (n,) float64; NaN where truth and prediction lack the class."""
    hist = _check_hist(hist)
    diag = np.diag(hist)
    return _ratio(diag, hist.sum(1) + hist.sum(0) - diag)


def mean_iu(hist) -> float:
    """nanmean over classes of the intersection over union."""
    return _nanmean(per_class_iu(hist))


def frequency_weighted_iu(hist) -> float:
    """sum_i (t_i / sum_k t_k) IU_i over classes present in the truth."""
    hist = _check_hist(hist)
    freq = _ratio(hist.sum(1), hist.sum())
    iu = per_class_iu(hist)
    present = freq > 0
    return float((freq[present] * iu[present]).sum())


class ConfusionMatrix:
    """Accumulates ``fast_hist`` over a data set and scores it as the FCN reference."""

    def __init__(self, n_classes: int):
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
            raise ValueError(f"ConfusionMatrix: n_classes must be a positive int, got {n_classes!r}")
        self.n_classes = int(n_classes)
        self.hist = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)

    def update(self, truth, pred) -> None:
        """Add label maps of equal shape, e.g. (H, W) or (N, H, W); numpy arrays or lumen Tensors."""
        self.hist += fast_hist(truth, pred, self.n_classes)

    def reset(self) -> None:
        self.hist[...] = 0

    def compute(self) -> dict:
        """{"pixel_accuracy", "mean_accuracy", "mean_iu", "frequency_weighted_iu": float,
        "per_class_iu": (n,) float64}."""
        return {
            "pixel_accuracy": pixel_accuracy(self.hist),
            "mean_accuracy": mean_accuracy(self.hist),
            "mean_iu": mean_iu(self.hist),
            "frequency_weighted_iu": frequency_weighted_iu(self.hist),
            "per_class_iu": per_class_iu(self.hist),
        }
