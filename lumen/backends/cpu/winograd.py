"""Winograd minimal filtering F(m x m, 3 x 3) for 3x3, stride-1, dilation-1, ungrouped convolutions.

An output tile of m x m pixels comes from an (m+2) x (m+2) input tile d as
``Y = A^T [(G g G^T) * (B^T d B)] A``: the elementwise product over the
(m+2)^2 transform points becomes (m+2)^2 independent GEMMs
``M[p] = U[p] (O, C) @ V[p] (C, tiles)``, i.e. 9 m^2 / (m+2)^2 fewer
multiplications than im2col (2.25x for m=2, 4x for m=4). The transforms are
fixed integer-coefficient linear combinations of strided slices, done in
place on reusable buffers. F(4x4) rounds worse than F(2x2) (its matrices hold
4, 5 and 1/24): ``tests/backends/test_cpu_fast_paths.py`` measures and bounds
the error of both against the im2col path in float32 and float64.

The image is processed in bands of tile rows so that the transformed input
and the GEMM output stay within ``_BAND_BYTES`` each, whatever the image size.
The input transform (forward and backward-filter) and the forward's output transform run in C
(``winograd.c``, one pass per tile) where ``native.py`` can build it, in NumPy otherwise (one pass per
coefficient: they took ~40 % of the F(2x2) time).
"""
from __future__ import annotations

import ctypes

import numpy as np

from . import blas, native

# (B^T, G, A^T) of Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016).
_MATRICES = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64),
        np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float64),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float64),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], np.float64),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]], np.float64)),
}

_BAND_BYTES = 24 << 20


class _Tiles(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in ("n", "c", "h", "w", "ph", "pw", "t0", "tb", "tiles_w")]


_TILE_ARGS = [ctypes.POINTER(_Tiles)]


def _check(status):
    if status:
        raise MemoryError("conv2d (winograd): out of memory for a transform's row buffers")


def _compiled(dtype, m):
    """(input transform, output transform) of F(m x m) in C for dtype, or None."""
    return native.functions("winograd", dtype, [
        (f"lumen_winograd{m}_input", ctypes.c_int, _TILE_ARGS + [ctypes.c_void_p] * 2 + [ctypes.c_int] * 2),
        (f"lumen_winograd{m}_output", ctypes.c_int, _TILE_ARGS + [ctypes.c_void_p] * 3 + [ctypes.c_int] * 2)])


def transform_filter(w, m):
    """U = G w G^T per (output, input) channel pair: w (O, C, 3, 3) -> (a*a, O, C), a = m + 2, w's dtype."""
    _, g, _ = _MATRICES[m]
    a = m + 2
    o, c = w.shape[:2]
    # One (a*a, 9) @ (9, O*C) GEMM with the Kronecker product G (x) G, written in U's layout.
    kron = np.einsum("xi,yj->xyij", g, g).reshape(a * a, 9).astype(w.dtype)
    return blas.matmul(kron, np.ascontiguousarray(w).reshape(o * c, 9).T).reshape(a * a, o, c)


def _combine(coefs, terms, out, tmp):
    """out = sum_k coefs[k] * terms[k] over the nonzero coefficients; tmp: scratch of out's shape.

    Each NumPy call is a full memory pass, so two leading unit coefficients share one call
    (every row of F(2x2)'s B^T is such a pair)."""
    pairs = [(c, t) for c, t in zip(coefs, terms) if c != 0]
    (c0, t0), rest = pairs[0], pairs[1:]
    if rest and c0 == 1 and abs(rest[0][0]) == 1:
        (np.add if rest[0][0] == 1 else np.subtract)(t0, rest[0][1], out=out)
        rest = rest[1:]
    elif rest and c0 == -1 and rest[0][0] == 1:
        np.subtract(rest[0][1], t0, out=out)
        rest = rest[1:]
    elif c0 == 1:
        np.copyto(out, t0)
    elif c0 == -1:
        np.negative(t0, out=out)
    else:
        np.multiply(t0, c0, out=out)
    for c, t in rest:
        if c == 1:
            np.add(out, t, out=out)
        elif c == -1:
            np.subtract(out, t, out=out)
        else:
            np.multiply(t, c, out=tmp)
            np.add(out, tmp, out=out)


def _input_transform(x, m, padding, t0, tb, tiles_w, workspace, over_channels):
    """V = B^T d B for the tiles of tile rows [t0, t0 + tb): x (N, C, H, W) -> (a, a, C, N, tb, tiles_w).

    The band's padded input rows [m*t0, m*(t0+tb)+2) are copied once with zero borders (also past
    the image, where the last tiles overhang it), then transformed rows first, columns second."""
    a = m + 2
    n, c, h, w = x.shape
    ph, pw = padding
    compiled = _compiled(x.dtype, m)
    if compiled is not None:  # x is C-contiguous (conv3x3 and filter_gradient make it so)
        v = workspace(2, (a, a, c, n, tb, tiles_w), x.dtype)
        tiles = _Tiles(n, c, h, w, ph, pw, t0, tb, tiles_w)
        over_channels(lambda c0, c1: _check(compiled[0](ctypes.byref(tiles), x.ctypes.data, v.ctypes.data, c0, c1)),
                      c, v.size)
        return v
    bt = _MATRICES[m][0]
    wp = m * tiles_w + 2
    xb = workspace(0, (n, c, m * tb + 2, wp), x.dtype)
    r0 = m * t0 - ph
    x0, x1 = max(0, r0), min(h, r0 + m * tb + 2)
    rows = workspace(1, (a, n, c, tb, wp), x.dtype)
    v = workspace(2, (a, a, c, n, tb, tiles_w), x.dtype)

    def channels(c0, c1):
        xc = xb[:, c0:c1]
        xc[:, :, :max(0, x0 - r0)] = 0
        xc[:, :, max(0, x1 - r0):] = 0
        if x1 > x0:
            inner = xc[:, :, x0 - r0:x1 - r0]
            inner[..., :pw] = 0
            inner[..., pw + w:] = 0
            np.copyto(inner[..., pw:pw + w], x[:, c0:c1, x0:x1])
        tmp = np.empty((n, c1 - c0, tb, wp), x.dtype)
        src = [xc[:, :, i:i + m * (tb - 1) + 1:m] for i in range(a)]
        for xi in range(a):
            _combine(bt[xi], src, rows[xi, :, c0:c1], tmp)
        tmp = np.empty((n, c1 - c0, tb, tiles_w), x.dtype)
        for xi in range(a):
            src = [rows[xi, :, c0:c1, :, j:j + m * (tiles_w - 1) + 1:m] for j in range(a)]
            for nu in range(a):
                _combine(bt[nu], src, v[xi, nu, c0:c1].transpose(1, 0, 2, 3), tmp)

    over_channels(channels, c, v.size)
    return v


def _bands(tiles_h, n, tiles_w, channels_per_point, itemsize):
    """(t0, tb): bands of tile rows whose per-point buffers (channels_per_point channels at each
    transform point of each tile) stay within _BAND_BYTES."""
    band = max(1, min(tiles_h, _BAND_BYTES // (channels_per_point * n * tiles_w * itemsize)))
    return [(t0, min(band, tiles_h - t0)) for t0 in range(0, tiles_h, band)]


def conv3x3(x, u, m, padding, workspace, over_channels, bias=None):
    """Cross-correlation of x with the filters whose transform is u (from ``transform_filter``), plus bias.

    x (N, C, H, W), u (a*a, O, C), padding (ph, pw), bias (O,) or None -> (N, O, H + 2ph - 2, W + 2pw - 2),
    x's dtype. ``workspace(slot, shape, dtype)`` gives reusable scratch arrays; ``over_channels(fn, channels,
    elements)`` runs fn(c0, c1) over channel ranges, possibly in parallel.
    """
    _, _, at = _MATRICES[m]
    a = m + 2
    n, c, h, w = x.shape
    o = u.shape[1]
    ph, pw = padding
    ho, wo = h + 2 * ph - 2, w + 2 * pw - 2
    tiles_h, tiles_w = -(-ho // m), -(-wo // m)
    compiled = _compiled(x.dtype, m)
    if compiled is not None:  # the C output transform crops and adds the bias itself
        x = np.ascontiguousarray(x)
        y = np.empty((n, o, ho, wo), x.dtype)
        bias = None if bias is None else np.ascontiguousarray(bias, x.dtype)
    else:
        y = np.empty((n, o, m * tiles_h, m * tiles_w), x.dtype)
    for t0, tb in _bands(tiles_h, n, tiles_w, a * a * max(c, o) + m * a * c, x.dtype.itemsize):
        p = n * tb * tiles_w
        v = _input_transform(x, m, padding, t0, tb, tiles_w, workspace, over_channels)
        mm = workspace(3, (a, a, o, n, tb, tiles_w), x.dtype)
        blas.matmul(u, v.reshape(a * a, c, p), out=mm.reshape(a * a, o, p))
        if compiled is not None:
            tiles = _Tiles(n, o, ho, wo, 0, 0, t0, tb, tiles_w)
            over_channels(lambda o0, o1: _check(compiled[1](ctypes.byref(tiles), mm.ctypes.data,
                                                            None if bias is None else bias.ctypes.data, y.ctypes.data,
                                                            o0, o1)), o, mm.size)
            continue
        z = workspace(4, (a, m, o, n, tb, tiles_w), x.dtype)
        yb = y[:, :, m * t0:m * (t0 + tb)].reshape(n, o, tb, m, tiles_w, m)

        def output_transform(o0, o1):
            tmp = np.empty((o1 - o0, n, tb, tiles_w), x.dtype)
            for xi in range(a):
                src = [mm[xi, nu, o0:o1] for nu in range(a)]
                for j in range(m):
                    _combine(at[j], src, z[xi, j, o0:o1], tmp)
            for i in range(m):
                for j in range(m):
                    dst = yb[:, o0:o1, :, i, :, j].transpose(1, 0, 2, 3)
                    _combine(at[i], [z[xi, j, o0:o1] for xi in range(a)], dst, tmp)

        over_channels(output_transform, o, mm.size)
    if (ho, wo) != y.shape[2:]:
        y = np.ascontiguousarray(y[:, :, :ho, :wo])
    if bias is not None and compiled is None:
        y += bias.reshape(-1, 1, 1)
    return y


def filter_gradient(x, gy, m, padding, workspace, over_channels):
    """Gradient of ``conv3x3`` w.r.t. its 3x3 filters: x (N, C, H, W), gy (N, O, Ho, Wo) -> (O, C, 3, 3).

    The forward's M = U * V (per transform point) and Y = A^T M A read backwards: the output
    gradient goes to the transform domain as dM = A gY A^T per tile (zero past Ho x Wo, where the
    forward's overhanging tiles are cropped), dU[p] = dM[p] (O, tiles) @ V[p]^T (tiles, C) summed
    over the bands, and the filter gradient is G^T dU G, one (9, a*a) GEMM with G (x) G transposed.
    """
    _, g, at = _MATRICES[m]
    a = m + 2
    n, c = x.shape[:2]
    o, ho, wo = gy.shape[1:]
    tiles_h, tiles_w = -(-ho // m), -(-wo // m)
    if _compiled(x.dtype, m) is not None:
        x = np.ascontiguousarray(x)
    du = np.empty((a * a, o, c), x.dtype)
    for k, (t0, tb) in enumerate(_bands(tiles_h, n, tiles_w, a * a * (c + o) + m * a * max(c, o),
                                        x.dtype.itemsize)):
        p = n * tb * tiles_w
        v = _input_transform(x, m, padding, t0, tb, tiles_w, workspace, over_channels)
        gyb = gy[:, :, m * t0:m * (t0 + tb)]
        if gyb.shape[2:] != (m * tb, m * tiles_w):
            padded = workspace(5, (n, o, m * tb, m * tiles_w), x.dtype)
            padded[:, :, gyb.shape[2]:] = 0
            padded[:, :, :, gyb.shape[3]:] = 0
            padded[:, :, :gyb.shape[2], :gyb.shape[3]] = gyb
            gyb = padded
        gyb = gyb.reshape(n, o, tb, m, tiles_w, m)
        dm = workspace(3, (a, a, o, n, tb, tiles_w), x.dtype)
        z = workspace(4, (a, m, o, n, tb, tiles_w), x.dtype)

        def gradient_transform(o0, o1):
            tmp = np.empty((o1 - o0, n, tb, tiles_w), x.dtype)
            for xi in range(a):
                src = [gyb[:, o0:o1, :, i].transpose(1, 0, 2, 3, 4) for i in range(m)]
                for j in range(m):
                    _combine(at[:, xi], [s[..., j] for s in src], z[xi, j, o0:o1], tmp)
            for xi in range(a):
                src = [z[xi, j, o0:o1] for j in range(m)]
                for nu in range(a):
                    _combine(at[:, nu], src, dm[xi, nu, o0:o1], tmp)

        over_channels(gradient_transform, o, dm.size)
        blas.matmul(dm.reshape(a * a, o, p), v.reshape(a * a, c, p).transpose(0, 2, 1), out=du,
                    beta=1.0 if k else 0.0)
    kron = np.einsum("xi,yj->xyij", g, g).reshape(a * a, 9).astype(x.dtype)
    gw = blas.matmul(np.ascontiguousarray(kron.T), du.reshape(a * a, o * c))
    return np.ascontiguousarray(gw.reshape(3, 3, o, c).transpose(2, 3, 0, 1))
