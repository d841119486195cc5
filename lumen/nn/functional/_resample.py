"""Banded linear maps along one axis, the building block of interpolation, adaptive pooling and padding.

``AxisGather`` computes ``y[.., i, ..] = sum_k w_k[i] * x[.., idx_k[i], ..]``. Its adjoint (a scatter-add)
is again such a gather, with the tables transposed on the host: every input position lists the outputs
that read it. So backward is a gather too (no atomic scatter, fast on CPU and GPU), and each one's
backward applies the other: all derivative orders work.
"""
from __future__ import annotations

import numpy as np

from ...autograd.function import Function


def _terms_on_device(node, like):
    """The (index, weight) tables as arrays of the backend, weights in ``like``'s dtype."""
    tail = (1,) * (like.ndim - node.axis - 1)
    out = []
    for idx, w in node.terms:
        idx = node.backend.asarray(idx)
        if w is not None:
            w = node.backend.asarray(w, dtype=like.dtype).reshape((-1,) + tail)
        out.append((idx, w))
    return out


def transpose_terms(terms, n_in: int) -> tuple:
    """Tables of the adjoint map: for each of the ``n_in`` positions, the outputs that read it."""
    n_out = len(terms[0][0])
    rows = np.concatenate([idx for idx, _ in terms])
    cols = np.tile(np.arange(n_out), len(terms))
    vals = np.concatenate([np.ones(n_out) if w is None else w for _, w in terms])
    keep = vals != 0
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    order = np.argsort(rows, kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    counts = np.bincount(rows, minlength=n_in)
    rank = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    out = []
    for f in range(max(int(counts.max(initial=0)), 1)):
        src, w = np.zeros(n_in, np.int64), np.zeros(n_in, vals.dtype)
        sel = rank == f
        src[rows[sel]], w[rows[sel]] = cols[sel], vals[sel]
        out.append((src, w))
    return tuple(out)


class AxisGather(Function):
    """x (.., in_size, ..) -> (.., len(idx), ..) along ``axis`` with ``terms`` = ((idx, w or None), ..).

    ``adjoint``: the transposed tables if already known (else computed when backward needs them).
    """

    adjoint = None

    def forward(self, x):
        self.in_size = x.shape[self.axis]
        lead = (slice(None),) * self.axis
        out = None
        for idx, w in _terms_on_device(self, x):
            t = x[lead + (idx,)]  # fancy indexing: numpy's take is several times slower on the last axis
            if w is not None:
                t *= w
            out = t if out is None else out + t
        return out

    def backward(self, gy):
        adjoint = self.adjoint if self.adjoint is not None else transpose_terms(self.terms, self.in_size)
        return AxisGather.apply(gy, axis=self.axis, terms=adjoint, adjoint=self.terms)


def adaptive_avg_terms(n_in: int, n_out: int, dtype) -> tuple:
    """PyTorch's adaptive windows [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out)) as mean terms."""
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    count = end - start
    terms = []
    for k in range(int(count.max())):
        inside = start + k < end
        idx = np.where(inside, start + k, end - 1).astype(np.int64)
        terms.append((idx, (inside / count).astype(dtype)))
    return tuple(terms)


def nearest_terms(n_in: int, n_out: int, scale, exact: bool) -> tuple:
    """PyTorch's nearest (``floor(i*s)``) / nearest-exact (``floor((i+.5)*s)``) source indices.

    Computed in float32 as PyTorch does; ``scale`` is the user's scale factor or None.
    """
    i = np.arange(n_out)
    if n_out == n_in and not exact:
        idx = i
    elif n_out == 2 * n_in and not exact:
        idx = i >> 1
    else:
        s = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
        if exact:
            src = ((i + 0.5) * np.float64(s)).astype(np.float32)
        else:
            src = i.astype(np.float32) * s
        idx = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    return ((idx.astype(np.int64), None),)


def linear_terms(n_in: int, n_out: int, scale, align_corners: bool, dtype) -> tuple:
    """PyTorch's (bi)linear source indices and weights along one axis, computed in ``dtype``."""
    i = np.arange(n_out)
    if n_out == n_in:
        return ((i.astype(np.int64), None),)
    t = np.dtype(dtype).type
    if align_corners:
        ratio = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = ratio * i.astype(dtype)
    else:
        ratio = t(1.0 / scale) if scale else t(n_in) / t(n_out)
        src = np.maximum(ratio * (i.astype(dtype) + t(0.5)) - t(0.5), t(0))
    idx0 = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n_in - 1)
    lam1 = np.clip(src - idx0.astype(dtype), 0, 1).astype(dtype)
    idx1 = idx0 + (idx0 < n_in - 1)
    return ((idx0, (t(1) - lam1).astype(dtype)), (idx1, lam1))
