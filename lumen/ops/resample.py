"""Resampling: ``interpolate`` (nearest / bilinear) and Caffe's ``crop``, over banded linear maps along one
axis, the building block of interpolation, adaptive pooling and the index modes of padding.

``AxisGather`` computes ``y[.., i, ..] = sum_k w_k[i] * x[.., idx_k[i], ..]``. Its adjoint (a scatter-add)
is again such a gather, with the tables transposed: every input position lists the outputs that read
it. So backward is a gather too (no atomic scatter, fast on CPU and GPU), and each one's backward
applies the other: all derivative orders work. The tables are backend arrays, built by the backend's
primitives on the input's device.
"""
from __future__ import annotations

import math

from .. import dtypes
from ..autograd.function import Function
from ..tensor import Tensor  # defined before lumen.tensor imports the ops
from ._check import check_4d, check_float, pair

__all__ = ["crop", "interpolate"]


def transpose_terms(backend, terms, n_in: int) -> tuple:
    """Tables of the adjoint map: for each of the ``n_in`` positions, the outputs that read it."""
    n_out = len(terms[0][0])
    rows = backend.concatenate([idx for idx, _ in terms])
    cols = backend.arange(n_out * len(terms)) % n_out
    vals = backend.concatenate([backend.ones(n_out) if w is None else w for _, w in terms])
    keep = vals != 0
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    order = backend.argsort(rows, kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    counts = backend.bincount(rows, minlength=n_in)
    starts = backend.cumsum(counts) - counts
    rank = backend.arange(len(rows)) - starts[rows]
    out = []
    for f in range(max(int(counts.max()) if n_in else 0, 1)):
        src, w = backend.zeros(n_in, dtype=rows.dtype), backend.zeros(n_in, dtype=vals.dtype)
        sel = rank == f
        src[rows[sel]], w[rows[sel]] = cols[sel], vals[sel]
        out.append((src, w))
    return tuple(out)


class AxisGather(Function):
    """x (.., in_size, ..) -> (.., len(idx), ..) along ``axis`` with ``terms`` = ((idx, w or None), ..),
    1-d backend arrays (int64 indices, float weights).

    ``adjoint``: the transposed tables if already known (else computed when backward needs them).
    """

    def __init__(self, axis, terms, adjoint=None):
        self.axis, self.terms, self.adjoint = axis, terms, adjoint

    def forward(self, x):
        self.in_size = x.shape[self.axis]
        lead = (slice(None),) * self.axis
        tail = (1,) * (x.ndim - self.axis - 1)
        out = None
        for idx, w in self.terms:
            t = x[lead + (idx,)]  # fancy indexing: numpy's take is several times slower on the last axis
            if w is not None:
                t *= w.astype(x.dtype, copy=False).reshape((-1,) + tail)
            out = t if out is None else out + t
        return out

    def backward(self, gy):
        adjoint = self.adjoint if self.adjoint is not None else transpose_terms(self.backend, self.terms,
                                                                                self.in_size)
        return AxisGather.apply(gy, axis=self.axis, terms=adjoint, adjoint=self.terms)


def adaptive_avg_terms(backend, n_in: int, n_out: int, dtype) -> tuple:
    """PyTorch's adaptive windows [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out)) as mean terms."""
    i = backend.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    count = end - start
    widest = max(-((-(j + 1) * n_in) // n_out) - (j * n_in) // n_out for j in range(n_out))
    terms = []
    for k in range(widest):
        inside = start + k < end
        idx = backend.where(inside, start + k, end - 1)
        terms.append((idx, (inside / count).astype(dtype)))
    return tuple(terms)


def nearest_terms(backend, n_in: int, n_out: int, scale, exact: bool) -> tuple:
    """PyTorch's nearest (``floor(i*s)``) / nearest-exact (``floor((i+.5)*s)``) source indices.

    Computed in float32 as PyTorch does; ``scale`` is the user's scale factor or None.
    """
    i = backend.arange(n_out)
    if n_out == n_in and not exact:
        idx = i
    elif n_out == 2 * n_in and not exact:
        idx = i >> 1
    else:
        f32 = dtypes.float32.np
        s = (backend.asarray(1.0 / scale, dtype=f32) if scale else
             backend.asarray(n_in, dtype=f32) / backend.asarray(n_out, dtype=f32))
        if exact:
            src = ((i + 0.5) * s.astype(dtypes.float64.np)).astype(f32)
        else:
            src = i.astype(f32) * s
        idx = backend.minimum(backend.floor(src).astype(dtypes.int64.np), n_in - 1)
    return ((idx.astype(dtypes.int64.np), None),)


def linear_terms(backend, n_in: int, n_out: int, scale, align_corners: bool, dtype) -> tuple:
    """PyTorch's (bi)linear source indices and weights along one axis, computed in ``dtype``."""
    i = backend.arange(n_out)
    if n_out == n_in:
        return ((i.astype(dtypes.int64.np), None),)

    def t(v):
        return backend.asarray(v, dtype=dtype)
    if align_corners:
        ratio = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = ratio * i.astype(dtype)
    else:
        ratio = t(1.0 / scale) if scale else t(n_in) / t(n_out)
        src = backend.maximum(ratio * (i.astype(dtype) + t(0.5)) - t(0.5), t(0))
    idx0 = backend.minimum(backend.floor(src.astype(dtypes.float32.np)).astype(dtypes.int64.np), n_in - 1)
    lam1 = backend.clip(src - idx0.astype(dtype), 0, 1).astype(dtype)
    idx1 = idx0 + (idx0 < n_in - 1)
    return ((idx0, (t(1) - lam1).astype(dtype)), (idx1, lam1))


def crop(input, reference_or_size, offset=0):
    """Caffe's Crop layer on the spatial dims: ``input[:, :, o_h:o_h+H, o_w:o_w+W]``.

    input (N, C, H_in, W_in); ``reference_or_size`` a Tensor (its last two dims give (H, W))
    or an int / pair; ``offset`` an int or pair (default 0). Output (N, C, H, W).
    """
    op = "crop"
    check_4d(input, op)
    if isinstance(reference_or_size, Tensor):
        if reference_or_size.ndim < 2:
            raise ValueError(f"{op}: reference must have at least 2 dims, got {tuple(reference_or_size.shape)}")
        size = tuple(reference_or_size.shape[-2:])
    else:
        size = pair(reference_or_size, "size", op, 1)
    offset = pair(offset, "offset", op, 0)
    h_in, w_in = input.shape[2:]
    if offset[0] + size[0] > h_in or offset[1] + size[1] > w_in:
        raise ValueError(f"{op}: a {size} window at offset {offset} does not fit in input of shape "
                         f"{tuple(input.shape)}")
    (oh, ow), (h, w) = offset, size
    return input[:, :, oh:oh + h, ow:ow + w]


def _output_size(op, input, size, scale_factor, recompute_scale_factor):
    """(out_h, out_w) and the scale factors the kernels see (None: derive them from the sizes)."""
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: exactly one of size or scale_factor must be given "
                         f"(got size={size!r}, scale_factor={scale_factor!r})")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an explicit size")
        return pair(size, "size", op, 1), (None, None)
    sf = tuple(scale_factor) if isinstance(scale_factor, (list, tuple)) else (scale_factor,) * 2
    if len(sf) != 2 or not all(isinstance(s, (int, float)) and s > 0 for s in sf):
        raise ValueError(f"{op}: scale_factor must be a positive number or a pair of them, got {scale_factor!r}")
    out = tuple(math.floor(float(n) * float(s)) for n, s in zip(input.shape[2:], sf))
    if min(out) < 1:
        raise ValueError(f"{op}: scale_factor {scale_factor} gives empty output {out} for input "
                         f"{tuple(input.shape)}")
    return out, ((None, None) if recompute_scale_factor else tuple(float(s) for s in sf))


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None):
    """Resize (N, C, H, W) -> (N, C, H_out, W_out) as ``torch.nn.functional.interpolate``.

    ``mode``: "nearest" (PyTorch's ``floor(i * in/out)`` rule; any dtype), "nearest-exact"
    or "bilinear" (float; ``align_corners`` False by default, True maps corner pixel centres).
    Give ``size`` (int or pair) or ``scale_factor`` (number or pair), not both.
    """
    op = "interpolate"
    check_4d(input, op)
    if mode not in ("nearest", "nearest-exact", "bilinear"):
        raise ValueError(f"{op}: mode must be 'nearest', 'nearest-exact' or 'bilinear' for a 4-d input, "
                         f"got {mode!r}")
    if align_corners is not None and mode != "bilinear":
        raise ValueError(f"{op}: align_corners can only be set with mode 'bilinear', got mode {mode!r}")
    out, scales = _output_size(op, input, size, scale_factor, recompute_scale_factor)
    if mode == "bilinear":
        check_float(input, op)
    y = input
    for axis, n_in, n_out, s in zip((2, 3), input.shape[2:], out, scales):
        if mode == "bilinear":
            terms = linear_terms(input.backend, n_in, n_out, s, bool(align_corners), input.dtype.np)
        else:
            terms = nearest_terms(input.backend, n_in, n_out, s, exact=mode == "nearest-exact")
        y = AxisGather.apply(y, axis=axis, terms=terms)
    return y
