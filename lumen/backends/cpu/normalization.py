"""Batch normalisation split over the worker threads by channel ranges.

Each range runs every pass of ``batch_norm_forward_into`` / ``batch_norm_backward_into`` on its own
channels, so a range's passes also find their data in cache.
"""
from __future__ import annotations

import numpy as np

from ..base import batch_norm_backward_into, batch_norm_forward_into
from . import parallel

# Bytes of input per channel range: a range's temporaries then stay in the L2 cache between passes.
_RANGE_BYTES = 1 << 20
# Each primitive makes ~8 passes over its input, so the threads pay off at 1/8 of parallel.MIN_ELEMENTS.
_PASSES = 8


def _ranges_per_thread(x):
    return max(1, -(-x.nbytes // (_RANGE_BYTES * parallel.WORKERS)))


def batch_norm_forward(x, w, b, eps):
    """x (N, C, S), w and b (C,) or None -> (y, mean, biased variance, invstd), as ``Backend.batch_norm_forward``."""
    c = x.shape[1]
    y = np.empty(x.shape, x.dtype)
    mean, var, invstd = (np.empty(c, x.dtype) for _ in range(3))

    def part(c0, c1):
        stats = batch_norm_forward_into(np, x[:, c0:c1], None if w is None else w[c0:c1],
                                        None if b is None else b[c0:c1], eps, y[:, c0:c1])
        for out, value in zip((mean, var, invstd), stats):
            out[c0:c1] = value

    parallel.over_range(part, c, _PASSES * x.size, ranges_per_thread=_ranges_per_thread(x))
    return y, mean, var, invstd


def batch_norm_backward(x, mean, invstd, w, gy, input_grad=True):
    """-> (gx or None, gw, gb), as ``Backend.batch_norm_backward``."""
    c = x.shape[1]
    gx = np.empty(x.shape, gy.dtype) if input_grad else None
    gw, gb = np.empty(c, gy.dtype), np.empty(c, gy.dtype)

    def part(c0, c1):
        gw[c0:c1], gb[c0:c1] = batch_norm_backward_into(
            np, x[:, c0:c1], mean[c0:c1], invstd[c0:c1], None if w is None else w[c0:c1], gy[:, c0:c1],
            None if gx is None else gx[:, c0:c1])

    parallel.over_range(part, c, _PASSES * x.size, ranges_per_thread=_ranges_per_thread(x))
    return gx, gw, gb
