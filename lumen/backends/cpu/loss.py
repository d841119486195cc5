"""Fused softmax cross-entropy over axis 1 on NumPy."""
from __future__ import annotations

import numpy as np


def _gather_index(op, target, n_classes, ignore_index):
    """(ignored mask, target with ignored entries replaced by class 0), both (N, *)."""
    ignored = target == ignore_index
    bad = ~ignored & ((target < 0) | (target >= n_classes))
    if bad.any():
        value = target[bad].flat[0]
        raise ValueError(f"{op}: target value {value} is out of range for {n_classes} classes "
                         f"(expected 0 <= target < {n_classes} or target == ignore_index ({ignore_index}))")
    return ignored, np.where(ignored, 0, target)


def softmax_cross_entropy_forward(x, target, ignore_index):
    """Fused log-softmax + negative log-likelihood over axis 1.

    x (N, C, *) float, target (N, *) integer -> (loss, log_prob): loss (N, *) of x's dtype,
    0 where target == ignore_index; log_prob (N, C, *) the log-softmax of x.
    Raises ValueError for a target outside [0, C) that is not ignore_index.
    """
    op = "softmax_cross_entropy_forward"
    if x.ndim < 2 or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{op}: expected a floating input (N, C, *), got {tuple(x.shape)} {x.dtype}")
    if not np.issubdtype(target.dtype, np.integer) or target.shape != x.shape[:1] + x.shape[2:]:
        raise ValueError(f"{op}: input {tuple(x.shape)} {x.dtype} and target {tuple(target.shape)} "
                         f"{target.dtype}: expected an integer target of shape {x.shape[:1] + x.shape[2:]}")
    ignored, safe = _gather_index(op, target, x.shape[1], ignore_index)
    log_prob = x - x.max(axis=1, keepdims=True)
    lse = np.exp(log_prob).sum(axis=1, keepdims=True)
    np.log(lse, out=lse)
    log_prob -= lse
    loss = -np.take_along_axis(log_prob, safe[:, None], axis=1)[:, 0]
    loss[ignored] = 0
    return loss, log_prob


def softmax_cross_entropy_backward(log_prob, target, gloss, ignore_index):
    """Gradient of softmax_cross_entropy_forward w.r.t. its input.

    log_prob (N, C, *) float, target (N, *) integer, gloss broadcastable to (N, *)
    -> gx = (softmax - onehot(target)) * gloss, zero where target == ignore_index.
    """
    op = "softmax_cross_entropy_backward"
    if target.shape != log_prob.shape[:1] + log_prob.shape[2:]:
        raise ValueError(f"{op}: log_prob {tuple(log_prob.shape)} and target {tuple(target.shape)}: "
                         f"expected target of shape {log_prob.shape[:1] + log_prob.shape[2:]}")
    ignored, safe = _gather_index(op, target, log_prob.shape[1], ignore_index)
    g = np.where(ignored, 0, np.broadcast_to(gloss, target.shape)).astype(log_prob.dtype, copy=False)
    gx = np.exp(log_prob)
    gx *= g[:, None]
    idx = safe[:, None]
    np.put_along_axis(gx, idx, np.take_along_axis(gx, idx, axis=1) - g[:, None], axis=1)
    return gx
