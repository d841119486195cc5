"""Local response normalisation across channels (PyTorch's definition) on the GPU."""
from __future__ import annotations

import math

import cupy
import numpy

from . import _module as km


def _plane(op, x):
    if x.ndim < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dims (N,C,...), got {x.shape}")
    return x.shape[1], math.prod(x.shape[2:])


def lrn_forward(x, size, alpha, beta, k):
    """x (N,C,...) -> (y, scale), both x's shape and dtype.

    scale = k + alpha/size * sum of x**2 over channels [c - size//2, c + (size-1)//2].
    """
    op = "lrn_forward"
    if size < 1:
        raise ValueError(f"{op}: size must be >= 1, got {size}")
    C, HW = _plane(op, x)
    fn = km.kernel("lrn.cu", "lrn_fwd", x.dtype, op)
    x = cupy.ascontiguousarray(x)
    y, scale = cupy.empty_like(x), cupy.empty_like(x)
    km.launch(fn, x.size, (x, y, scale, numpy.int64(x.size), numpy.int32(C), numpy.int64(HW),
                           numpy.int32(size), numpy.float64(alpha), numpy.float64(beta),
                           numpy.float64(k)))
    return y, scale


def lrn_backward(x, y, scale, gy, size, alpha, beta, k):
    """x, y, scale (from lrn_forward), gy, all (N,C,...) -> gx."""
    op = "lrn_backward"
    for name, a in (("y", y), ("scale", scale), ("grad_output", gy)):
        if a.shape != x.shape or a.dtype != x.dtype:
            raise ValueError(f"{op}: {name} is {a.dtype} {a.shape}, expected {x.dtype} {x.shape}")
    C, HW = _plane(op, x)
    fn = km.kernel("lrn.cu", "lrn_bwd", x.dtype, op)
    x, y, scale, gy = (cupy.ascontiguousarray(a) for a in (x, y, scale, gy))
    gx = cupy.empty_like(x)
    km.launch(fn, x.size, (x, y, scale, gy, gx, numpy.int64(x.size), numpy.int32(C),
                           numpy.int64(HW), numpy.int32(size), numpy.float64(alpha),
                           numpy.float64(beta)))
    return gx
