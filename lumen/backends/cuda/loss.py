"""Fused softmax cross-entropy (log-softmax + NLL over axis 1) on the GPU."""
from __future__ import annotations

import math

import cupy
import numpy

from . import _module as km

def _layout(op, x, target):
    if x.ndim < 2:
        raise ValueError(f"{op}: expected input (N,C,...), got shape {x.shape}")
    expected = (x.shape[0],) + x.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}: target has shape {target.shape}, expected {expected} for "
                         f"input {x.shape}")
    if target.dtype != numpy.int64:
        raise TypeError(f"{op}: target must be int64, got {target.dtype}")
    if x.shape[1] < 1:
        raise ValueError(f"{op}: input {x.shape} has no classes")
    return x.shape[1], math.prod(x.shape[2:])


def softmax_cross_entropy_forward(x, target, ignore_index):
    """x (N,C,...) float, target (N,...) int64 -> (loss of target's shape, log_prob of x's).

    loss is 0 where target == ignore_index; any other target outside [0, C)
    raises ValueError (this synchronises with the device once).
    """
    op = "softmax_cross_entropy_forward"
    C, S = _layout(op, x, target)
    # With one position per image a thread per row would read C-strided logits;
    # the block-per-row kernel reads them coalesced instead.
    fn = km.kernel("softmax_ce.cu", "sce_fwd_rows" if S == 1 else "sce_fwd_spatial", x.dtype, op)
    x, target = cupy.ascontiguousarray(x), cupy.ascontiguousarray(target)
    loss = cupy.empty(target.shape, x.dtype)
    logp = cupy.empty_like(x)
    bad = cupy.zeros((), numpy.int32)
    rows = target.size
    args = (x, target, loss, logp, bad, numpy.int64(rows), numpy.int32(C), numpy.int64(S),
            numpy.int64(ignore_index))
    if rows and S == 1:
        fn((min(rows, 65535 * 4),), (256,), args)
    else:
        km.launch(fn, rows, args)
    if int(bad):
        t = target[(target != ignore_index) & ((target < 0) | (target >= C))]
        raise ValueError(f"{op}: target values must be in [0, {C}) or equal ignore_index="
                         f"{ignore_index}; found {int(t[0])}")
    return loss, logp


def softmax_cross_entropy_backward(log_prob, target, gloss, ignore_index):
    """log_prob (N,C,...), target (N,...) int64, gloss (N,...) -> gx (N,C,...)."""
    op = "softmax_cross_entropy_backward"
    C, S = _layout(op, log_prob, target)
    if gloss.shape != target.shape or gloss.dtype != log_prob.dtype:
        raise ValueError(f"{op}: grad of loss is {gloss.dtype} {gloss.shape}, expected "
                         f"{log_prob.dtype} {target.shape}")
    fn = km.kernel("softmax_ce.cu", "sce_bwd", log_prob.dtype, op)
    log_prob, target, gloss = (cupy.ascontiguousarray(a) for a in (log_prob, target, gloss))
    gx = cupy.empty_like(log_prob)
    km.launch(fn, gx.size, (log_prob, target, gloss, gx, numpy.int64(gx.size), numpy.int32(C),
                            numpy.int64(S), numpy.int64(ignore_index)))
    return gx
