"""Implicit-GEMM convolution for stride-1 layers: kh*kw shifted GEMMs and no column matrix.

The padded input is laid out as X (C, N*Hp*Wp) and the output is computed on the same padded
grid, so output position q of kernel tap (i, j) reads input position q + i*dh*Wp + j*dw: the
tap's operand is a (C, pixels) window of X itself, which BLAS reads in place through its
leading dimension (the array's row stride). Hence ``Y = sum_t W_t (O, C) @ X[:, q + off_t]``, each tap accumulated
into Y with beta = 1 (``blas.gemm``), band by band of pixels so that a band of X and of Y stays
in cache across the taps. Grid positions outside the valid Ho x Wo (the last kw-1 columns of
every row, the last kh-1 rows of every image) read neighbouring rows or images and are dropped.
im2col writes and rereads kh*kw copies of the input; this reads the input once per tap from
cache. The weight gradient is the same sum read the other way round,
``gW_t = sum_q gY[:, q] X[:, q + off_t]^T``, with gY zero outside the valid positions.
"""
from __future__ import annotations

import numpy as np

from . import blas, parallel

# Pixels per band: (C + O) * band * itemsize of about this many bytes (cache-sized), and at
# least _MIN_BAND pixels so that each GEMM stays large enough for BLAS to run at speed.
_BAND_BYTES = 4 << 20
_MIN_BAND = 4096

DTYPES = blas.DTYPES


def _grid(x, padding, rows=None, cols=None):
    """x (N, C, H, W) as a zeroed (C, N, Hp, Wp) array holding x at [:, :, ph:ph+H, pw:pw+W].

    rows, cols: the grid's (Hp, Wp), at least H + 2ph, W + 2pw (the default)."""
    n, c, h, w = x.shape
    ph, pw = padding
    hp, wp = rows or h + 2 * ph, cols or w + 2 * pw
    g = np.empty((c, n, hp, wp), x.dtype)
    xt = x.transpose(1, 0, 2, 3)

    def channels(c0, c1):
        gc = g[c0:c1]
        gc[:, :, :ph] = 0
        gc[:, :, ph + h:] = 0
        gc[:, :, ph:ph + h, :pw] = 0
        gc[:, :, ph:ph + h, pw + w:] = 0
        np.copyto(gc[:, :, ph:ph + h, pw:pw + w], xt[c0:c1])

    parallel.over_range(channels, c, g.size)
    return g


def _taps(kh, kw, dilation, wp):
    return [i * dilation[0] * wp + j * dilation[1] for i in range(kh) for j in range(kw)]


def _bands(pixels, channels, itemsize):
    step = max(_MIN_BAND, _BAND_BYTES // (channels * itemsize))
    return [(m0, min(step, pixels - m0)) for m0 in range(0, pixels, step)]


def forward(x, w, b, padding, dilation):
    """Stride-1 ungrouped cross-correlation plus bias.

    x (N, C, H, W), w (O, C, kh, kw), b (O,) or None, one dtype in ``DTYPES``
    -> (N, O, H + 2ph - dh(kh-1), W + 2pw - dw(kw-1)) of that dtype.
    """
    return forward_grid(_grid(x, padding), np.ascontiguousarray(w.transpose(2, 3, 0, 1)), b, dilation)


def forward_grid(xg, wt, b, dilation):
    """``forward`` on an input already laid out as the zero-padded grid xg (C, N, Hp, Wp) that
    ``_grid`` builds (or a strided convolution's phases, ``phase.py``), with the weight tap-major,
    wt (kh, kw, O, C) C-contiguous: -> (N, O, Ho, Wo)."""
    c, n, hp, wp = xg.shape
    kh, kw, o, _ = wt.shape
    ho, wo = hp - dilation[0] * (kh - 1), wp - dilation[1] * (kw - 1)
    total = n * hp * wp
    taps = _taps(kh, kw, dilation, wp)
    pixels = total - taps[-1]
    xf = xg.reshape(c, total)
    yg = np.empty((o, n, hp, wp), xg.dtype)
    yf = yg.reshape(o, total)
    for m0, m in _bands(pixels, c + o, xg.itemsize):
        for t, off in enumerate(taps):
            blas.gemm(wt[divmod(t, kw)], xf[:, m0 + off:m0 + off + m], yf[:, m0:m0 + m], beta=1.0 if t else 0.0)
    y = np.empty((n, o, ho, wo), xg.dtype)
    valid = yg[:, :, :ho, :wo].transpose(1, 0, 2, 3)

    def channels(c0, c1):
        if b is None:
            np.copyto(y[:, c0:c1], valid[:, c0:c1])
        else:
            np.add(valid[:, c0:c1], b[c0:c1].reshape(-1, 1, 1), out=y[:, c0:c1])

    parallel.over_range(channels, o, y.size)
    return y


def backward_filter(x, gy, w_shape, padding, dilation):
    """Gradient of ``forward`` w.r.t. its filter: x (N, C, H, W), gy (N, O, Ho, Wo) -> (O, C, kh, kw)."""
    o, c, kh, kw = w_shape
    gw = backward_filter_grid(_grid(x, padding), gy, w_shape, dilation)
    return np.ascontiguousarray(gw.reshape(kh, kw, o, c).transpose(2, 3, 0, 1))


def backward_filter_grid(xg, gy, w_shape, dilation):
    """``backward_filter`` on an input already laid out as a grid xg (C, N, Hp, Wp), as ``forward_grid``;
    the gradient tap-major, (kh*kw, O, C)."""
    c, n, hp, wp = xg.shape
    o, _, kh, kw = w_shape
    gg = _grid(gy, (0, 0), hp, wp)
    total = n * hp * wp
    taps = _taps(kh, kw, dilation, wp)
    pixels = total - taps[-1]
    xf, gf = xg.reshape(c, total), gg.reshape(o, total)
    gw = np.empty((kh * kw, o, c), xg.dtype)
    for m0, m in _bands(pixels, c + o, xg.itemsize):
        for t, off in enumerate(taps):
            blas.gemm(gf[:, m0:m0 + m], xf[:, m0 + off:m0 + off + m].T, gw[t], beta=1.0 if m0 else 0.0)
    return gw
