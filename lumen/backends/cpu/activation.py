"""Activation backward passes, fused and split over the worker threads."""
from __future__ import annotations

import numpy as np

from . import parallel

# Elements per step: the mask and the slices stay in cache between the two passes.
_STEP = 1 << 16


def relu_backward(gy, y):
    """gy where y > 0, else 0 (y <= 0 gives 0, a NaN y passes gy, as PyTorch's threshold_backward).

    gy, y: arrays of one shape -> a new array of gy's dtype.
    """
    if gy.shape != y.shape:
        raise ValueError(f"relu_backward: grad_output {tuple(gy.shape)} and output {tuple(y.shape)} differ in shape")
    out = np.empty(gy.shape, gy.dtype)
    g, t, o = gy.reshape(-1), y.reshape(-1), out.reshape(-1)  # reshape copies only non-contiguous inputs

    def part(i0, i1):
        mask = np.empty(min(_STEP, i1 - i0), bool)
        for j in range(i0, i1, _STEP):
            k = min(i1, j + _STEP)
            np.copyto(o[j:k], g[j:k])
            np.copyto(o[j:k], 0, where=np.less_equal(t[j:k], 0, out=mask[:k - j]))

    parallel.over_range(part, g.size, g.size)
    return out
