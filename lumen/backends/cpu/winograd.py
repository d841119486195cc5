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
"""
from __future__ import annotations

import numpy as np

from . import blas

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


def conv3x3(x, u, m, padding, workspace, over_channels):
    """Cross-correlation of x with the filters whose transform is u (from ``transform_filter``).

    x (N, C, H, W), u (a*a, O, C), padding (ph, pw) -> (N, O, H + 2ph - 2, W + 2pw - 2), x's dtype.
    ``workspace(slot, shape, dtype)`` gives reusable scratch arrays; ``over_channels(fn, channels,
    elements)`` runs fn(c0, c1) over channel ranges, possibly in parallel.
    """
    bt, _, at = _MATRICES[m]
    a = m + 2
    n, c, h, w = x.shape
    o = u.shape[1]
    ph, pw = padding
    ho, wo = h + 2 * ph - 2, w + 2 * pw - 2
    tiles_h, tiles_w = -(-ho // m), -(-wo // m)
    wp = m * tiles_w + 2
    y = np.empty((n, o, m * tiles_h, m * tiles_w), x.dtype)
    per_row = (a * a * max(c, o) + m * a * c) * n * tiles_w * x.dtype.itemsize
    band = max(1, min(tiles_h, _BAND_BYTES // per_row))
    for t0 in range(0, tiles_h, band):
        tb = min(band, tiles_h - t0)
        p = n * tb * tiles_w
        # The band's padded input rows [m*t0, m*(t0+tb)+2), copied once with zero borders.
        xb = workspace(0, (n, c, m * tb + 2, wp), x.dtype)
        r0 = m * t0 - ph
        x0, x1 = max(0, r0), min(h, r0 + m * tb + 2)
        rows = workspace(1, (a, n, c, tb, wp), x.dtype)
        v = workspace(2, (a, a, c, n, tb, tiles_w), x.dtype)
        mm = workspace(3, (a, a, o, n, tb, tiles_w), x.dtype)
        z = workspace(4, (a, m, o, n, tb, tiles_w), x.dtype)

        def input_transform(c0, c1):
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

        over_channels(input_transform, c, v.size)
        blas.matmul(u, v.reshape(a * a, c, p), out=mm.reshape(a * a, o, p))
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
    return y
