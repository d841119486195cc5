"""Spatial reshaping: ``pad``, Caffe's ``crop`` and ``interpolate`` (nearest / bilinear)."""
from __future__ import annotations

import math

import numpy as np

from ...autograd.function import Function
from ...tensor import Tensor
from ._resample import AxisGather, linear_terms, nearest_terms
from ._util import check_4d, check_float, check_tensor, pair

__all__ = ["pad", "crop", "interpolate"]

_INDEX_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class ConstantPad(Function):
    """Pads (positive) or trims (negative) each dim by ``widths`` = ((before, after), ...)."""

    def forward(self, x):
        grow = [(max(b, 0), max(a, 0)) for b, a in self.widths]
        if any(b or a for b, a in grow):
            x = self.xp.pad(x, grow, mode="constant", constant_values=self.value)
        trim = tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(self.widths, x.shape))
        return self.xp.ascontiguousarray(x[trim])

    def backward(self, gy):
        return ConstantPad.apply(gy, widths=tuple((-b, -a) for b, a in self.widths), value=0)


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims, as ``torch.nn.functional.pad``.

    ``pad`` = (left, right, top, bottom, ...) starting from the last dim; negative values trim
    (constant mode). ``mode``: "constant" (fill ``value``, default 0), "reflect", "replicate",
    "circular". Any dtype; output has input's dtype.
    """
    op = "pad"
    check_tensor(input, "input", op)
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim or not all(isinstance(p, int) for p in pad):
        raise ValueError(f"{op}: pad must be an even-length sequence of ints covering at most "
                         f"{input.ndim} dims of input {tuple(input.shape)}, got {pad}")
    k = len(pad) // 2
    widths = [(0, 0)] * (input.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    sizes = [n + b + a for n, (b, a) in zip(input.shape, widths)]
    if min(sizes, default=0) < 0:
        raise ValueError(f"{op}: padding {pad} of input {tuple(input.shape)} gives shape {tuple(sizes)}")
    if mode == "constant":
        return ConstantPad.apply(input, widths=tuple(widths), value=0 if value is None else value)
    if mode not in _INDEX_MODES:
        raise ValueError(f"{op}: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if value is not None:
        raise ValueError(f"{op}: value is only meaningful in mode 'constant', got mode {mode!r}")
    out = input
    for axis, (b, a) in enumerate(widths):
        if not (b or a):
            continue
        n = input.shape[axis]
        if min(b, a) < 0:
            raise ValueError(f"{op}: mode {mode!r} needs non-negative padding, got {pad}")
        if mode == "reflect" and max(b, a) >= n:
            raise ValueError(f"{op}: reflect padding {pad} must be smaller than the padded dims of "
                             f"input {tuple(input.shape)}")
        if mode == "circular" and max(b, a) > n:
            raise ValueError(f"{op}: circular padding {pad} must be at most the padded dims of "
                             f"input {tuple(input.shape)}")
        idx = np.pad(np.arange(n), (b, a), mode=_INDEX_MODES[mode])
        out = AxisGather.apply(out, axis=axis, terms=((idx, None),))
    return out


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
            terms = linear_terms(n_in, n_out, s, bool(align_corners), input.dtype.np)
        else:
            terms = nearest_terms(n_in, n_out, s, exact=mode == "nearest-exact")
        y = AxisGather.apply(y, axis=axis, terms=terms)
    return y
