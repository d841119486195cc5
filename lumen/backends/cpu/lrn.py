"""Local response normalisation across channels (PyTorch's local_response_norm) on NumPy.

Each image is independent, so both directions run image ranges on the worker threads (NumPy releases
the GIL; the fractional powers are most of the time).
"""
from __future__ import annotations

import numpy as np

from . import parallel


def _channel_window_sum(a, before, after):
    """s[:, c] = sum of a[:, c - before : c + after + 1] (zero outside [0, C)), one add per tap."""
    c = a.shape[1]
    s = a.copy()
    for d in range(1, before + 1):
        if d < c:
            s[:, d:] += a[:, :c - d]
    for d in range(1, after + 1):
        if d < c:
            s[:, :c - d] += a[:, d:]
    return s


def _check(op, x, size):
    if x.ndim < 3:
        raise ValueError(f"{op}: expected input (N, C, *) with at least 3 dimensions, got {tuple(x.shape)}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{op}: expected a floating input, got {tuple(x.shape)} {x.dtype}")
    if size < 1:
        raise ValueError(f"{op}: size must be >= 1, got {size}")


def lrn_forward(x, size, alpha, beta, k):
    """Local response norm across channels.

    x (N, C, *) float -> (y, scale), both of x's shape and dtype:
    scale = k + alpha / size * sum of x**2 over channels [c - size//2, c + (size-1)//2]
    (zero padded), y = x * scale**-beta.
    """
    _check("lrn_forward", x, size)
    y, scale = np.empty_like(x), np.empty_like(x)

    def images(n0, n1):
        xs, ss, ys = x[n0:n1], scale[n0:n1], y[n0:n1]
        ss[...] = _channel_window_sum(np.square(xs), size // 2, (size - 1) // 2)
        ss *= x.dtype.type(alpha / size)
        ss += x.dtype.type(k)
        np.power(ss, x.dtype.type(-beta), out=ys)
        ys *= xs

    parallel.over_range(images, x.shape[0], x.size)
    return y, scale


def lrn_backward(x, y, scale, gy, size, alpha, beta, k):
    """Exact gradient of lrn_forward.

    x, y, scale, gy (N, C, *) of one float dtype -> gx of that shape and dtype:
    gx_j = gy_j * scale_j**-beta - 2*alpha*beta/size * x_j * sum_{c: j in window(c)} gy_c * y_c / scale_c.
    """
    _check("lrn_backward", x, size)
    for name, a in (("y", y), ("scale", scale), ("grad_output", gy)):
        if a.shape != x.shape or a.dtype != x.dtype:
            raise ValueError(f"lrn_backward: {name} {tuple(a.shape)} {a.dtype} does not match "
                             f"input {tuple(x.shape)} {x.dtype}")
    gx = np.empty_like(x)

    def images(n0, n1):
        xs, ss, gs, gxs = x[n0:n1], scale[n0:n1], gy[n0:n1], gx[n0:n1]
        t = gs * y[n0:n1]
        t /= ss
        # Channel j feeds the windows of c in [j - (size-1)//2, j + size//2]: the mirrored window.
        acc = _channel_window_sum(t, (size - 1) // 2, size // 2)
        acc *= xs
        acc *= x.dtype.type(-2.0 * alpha * beta / size)
        np.power(ss, x.dtype.type(-beta), out=gxs)
        gxs *= gs
        gxs += acc

    parallel.over_range(images, x.shape[0], x.size)
    return gx
