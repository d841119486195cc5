"""Resampling: ``interpolate`` (nearest, (bi/tri)linear, bicubic, area), ``pixel_shuffle``/``pixel_unshuffle``,
``fold``/``unfold`` and Caffe's ``crop``, over banded linear maps along one axis, the building block of
interpolation, adaptive pooling, im2col and the index modes of padding.

``AxisGather`` computes ``y[.., i, ..] = sum_k w_k[i] * x[.., idx_k[i], ..]``. Its adjoint (a scatter-add)
is again such a gather, with the tables transposed: every input position lists the outputs that read
it. So backward is a gather too (no atomic scatter, fast on CPU and GPU), and each one's backward
applies the other: all derivative orders work. The tables are backend arrays, built by the backend's
primitives on the input's device.
"""
from __future__ import annotations

import math
import warnings

from .. import dtypes
from ..device import on_input_device, placed
from ..autograd.function import Function
from ..tensor import Tensor  # defined before lumen.tensor imports the ops
from ._check import check_4d, check_float, check_tensor, pair
from .conv import ntuple
from .shape import pad

__all__ = ["crop", "interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "pixel_shuffle",
           "pixel_unshuffle", "fold", "unfold"]


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


def nearest_terms(backend, n_in: int, n_out: int, scale, exact: bool, shortcuts: bool = True) -> tuple:
    """PyTorch's nearest (``floor(i*s)``) / nearest-exact (``floor((i+.5)*s)``) source indices.

    Computed in float32 as PyTorch does; ``scale`` is the user's scale factor or None. PyTorch's 2-d
    nearest kernel copies (equal sizes) or halves indices (twice the size) whatever the scale; its 1-d
    and 3-d ones apply the scale (1.05 on 10 rows repeats row 0): ``shortcuts`` False for those.
    """
    i = backend.arange(n_out)
    if n_out == n_in and not exact and (shortcuts or scale is None):
        idx = i
    elif n_out == 2 * n_in and not exact and (shortcuts or scale is None):
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


def cubic_terms(backend, n_in: int, n_out: int, scale, align_corners: bool, dtype) -> tuple:
    """PyTorch's bicubic taps along one axis: Keys' cubic convolution (A = -0.75) over the four inputs
    around the source position, indices clamped to the edge, computed in ``dtype``."""
    i = backend.arange(n_out)  # no copy for equal sizes: PyTorch applies a user's scale (1.1 on 4 rows)

    def t(v):
        return backend.asarray(v, dtype=dtype)
    if align_corners:
        src = (t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)) * i.astype(dtype)
    else:
        ratio = t(1.0 / scale) if scale else t(n_in) / t(n_out)
        src = ratio * (i.astype(dtype) + t(0.5)) - t(0.5)  # no clamp at 0, unlike linear
    floor = backend.floor(src)
    frac = src - floor
    a = t(-0.75)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    weights = (far(frac + 1), near(frac), near(1 - frac), far(2 - frac))
    first = floor.astype(dtypes.int64.np) - 1
    return tuple((backend.clip(first + k, 0, n_in - 1), w.astype(dtype)) for k, w in enumerate(weights))


def antialias_terms(backend, n_in: int, n_out: int, scale, align_corners: bool, dtype, cubic: bool) -> tuple:
    """PyTorch's antialiased (bi)linear / bicubic taps along one axis (PIL's resampling): when shrinking by
    s > 1 the filter (triangle, or Keys' cubic with A = -0.5) is stretched by s and its taps normalised to
    sum 1; when growing it is the plain filter, normalised at the edges. Computed in ``dtype``."""

    def t(v):
        return backend.asarray(v, dtype=dtype)
    if align_corners:
        ratio = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
    else:
        ratio = t(1.0 / scale) if scale else t(n_in) / t(n_out)
    half = 2.0 if cubic else 1.0  # half the filter's support at scale 1
    stretch = float(ratio) >= 1.0
    support = ratio * t(half) if stretch else t(half)
    inv = t(1) / ratio if stretch else t(1)
    center = ratio * (backend.arange(n_out).astype(dtype) + t(0.5))
    first = backend.maximum(backend.trunc(center - support + t(0.5)).astype(dtypes.int64.np), 0)
    size = backend.minimum(backend.trunc(center + support + t(0.5)).astype(dtypes.int64.np), n_in) - first
    a = t(-0.5)

    def taper(x):
        x = backend.abs(x)
        if not cubic:
            return backend.maximum(t(1) - x, t(0))
        near = ((a + 2) * x - (a + 3)) * x * x + 1
        far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
        return backend.where(x < 1, near, backend.where(x < 2, far, t(0)))
    taps = int(math.ceil(float(support))) * 2 + 1
    weights = [backend.where(k < size, taper((first + k - center + t(0.5)) * inv), t(0)).astype(dtype)
               for k in range(taps)]
    total = sum(weights[1:], weights[0])
    total = backend.where(total != 0, total, t(1))
    return tuple((backend.minimum(first + k, n_in - 1), (w / total).astype(dtype)) for k, w in enumerate(weights))


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
    """The output's spatial size and the scale factors the kernels see (None: derive them from the sizes),
    PyTorch's rule: ``floor(size * scale)``, the scale kept unless ``recompute_scale_factor``."""
    n = input.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: exactly one of size or scale_factor must be given "
                         f"(got size={size!r}, scale_factor={scale_factor!r})")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an explicit size")
        if isinstance(size, (list, tuple)) and len(size) != n:
            raise ValueError(f"{op}: input of shape {tuple(input.shape)} has {n} spatial dims but size {size!r} "
                             f"gives {len(size)}")
        return ntuple(size, n, "size", op, 1), (None,) * n
    sf = tuple(scale_factor) if isinstance(scale_factor, (list, tuple)) else (scale_factor,) * n
    if len(sf) != n or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in sf):
        raise ValueError(f"{op}: scale_factor must be a positive number or {n} of them for input of shape "
                         f"{tuple(input.shape)}, got {scale_factor!r}")
    out = tuple(math.floor(float(size) * float(s)) for size, s in zip(input.shape[2:], sf))
    if min(out) < 1:
        raise ValueError(f"{op}: scale_factor {scale_factor} gives empty output {out} for input "
                         f"{tuple(input.shape)}")
    return out, ((None,) * n if recompute_scale_factor else tuple(float(s) for s in sf))


# each mode and the spatial dims it needs (None: any of 1, 2, 3)
_MODES = {"nearest": None, "nearest-exact": None, "area": None, "linear": 1, "bilinear": 2, "bicubic": 2,
          "trilinear": 3}
_INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, *spatial) with 1 to 3 spatial dims, as ``torch.nn.functional.interpolate``.

    ``mode``: "nearest" (PyTorch's ``floor(i * in/out)`` rule; any dtype), "nearest-exact", "linear"
    (3-d input), "bilinear" or "bicubic" (4-d), "trilinear" (5-d) (float; ``align_corners`` False by
    default, True maps corner pixel centres), "area" (adaptive average pooling). Give ``size`` (an int or
    one per spatial dim) or ``scale_factor`` (a number or one per dim), not both; the scale factor is
    what the kernels use unless ``recompute_scale_factor``. ``antialias=True`` (bilinear, bicubic) low-pass
    filters when shrinking, as PyTorch's (PIL's) antialiased resize.
    """
    op = "interpolate"
    check_tensor(input, "input", op)
    n = input.ndim - 2
    if mode not in _MODES or not 1 <= n <= 3:
        raise NotImplementedError(f"{op}: only 3-d, 4-d and 5-d inputs are supported, for the modes "
                                  f"{', '.join(_MODES)}; got a {input.ndim}-d input of shape "
                                  f"{tuple(input.shape)} and mode {mode!r}")
    if _MODES[mode] not in (None, n):
        raise NotImplementedError(f"{op}: got a {input.ndim}-d input of shape {tuple(input.shape)}, but {mode} "
                                  f"mode needs a {_MODES[mode] + 2}-d input")
    if align_corners is not None and mode not in _INTERPOLATING:
        raise ValueError(f"{op}: align_corners can only be set with the interpolating modes "
                         f"{' | '.join(_INTERPOLATING)}, got mode {mode!r}")
    if antialias and mode not in ("bilinear", "bicubic"):
        raise ValueError(f"{op}: antialias is restricted to the bilinear and bicubic modes on a 4-d input, got "
                         f"mode {mode!r}")
    out, scales = _output_size(op, input, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        from . import pooling  # pooling builds on this module's gathers

        return getattr(pooling, f"adaptive_avg_pool{n}d")(input, out)
    if mode in _INTERPOLATING:
        check_float(input, op)
    y = input
    for axis, n_in, n_out, s in zip(range(2, 2 + n), input.shape[2:], out, scales):
        with placed(input._device):  # the index and weight arrays on the input's device
            if antialias:
                terms = antialias_terms(input.backend, n_in, n_out, s, bool(align_corners), input.dtype.np,
                                        cubic=mode == "bicubic")
            elif mode == "bicubic":
                terms = cubic_terms(input.backend, n_in, n_out, s, bool(align_corners), input.dtype.np)
            elif mode in _INTERPOLATING:
                terms = linear_terms(input.backend, n_in, n_out, s, bool(align_corners), input.dtype.np)
            else:
                terms = nearest_terms(input.backend, n_in, n_out, s, exact=mode == "nearest-exact",
                                      shortcuts=n == 2)
        y = AxisGather.apply(y, axis=axis, terms=terms)
    return y


def _deprecated(name):
    warnings.warn(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=3)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate` (PyTorch still has it, with a warning)."""
    _deprecated("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, mode="nearest")``, with a warning."""
    _deprecated("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)``,
    with a warning."""
    _deprecated("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def _shuffle_factor(op, input, factor, name):
    check_tensor(input, "input", op)
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {factor!r}")
    if input.ndim < 3:
        raise RuntimeError(f"{op}: expected an input of at least 3 dims (*, C, H, W), got shape "
                           f"{tuple(input.shape)}")
    return tuple(input.shape[:-3]), tuple(input.shape[-3:])


def pixel_shuffle(input, upscale_factor):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r), as ``torch.nn.functional.pixel_shuffle`` (sub-pixel
    convolution's rearrangement): channel c*r*r + i*r + j becomes pixel (h*r + i, w*r + j) of channel c."""
    op = "pixel_shuffle"
    lead, (c, h, w) = _shuffle_factor(op, input, upscale_factor, "upscale_factor")
    r = upscale_factor
    if c % (r * r):
        raise RuntimeError(f"{op}: the channel dim of input {tuple(input.shape)} ({c}) is not divisible by "
                           f"upscale_factor**2 = {r * r}")
    k = len(lead)
    y = input.reshape(lead + (c // (r * r), r, r, h, w))
    y = y.permute(tuple(range(k)) + tuple(k + d for d in (0, 3, 1, 4, 2)))
    return y.reshape(lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W): the inverse of :func:`pixel_shuffle`, as
    ``torch.nn.functional.pixel_unshuffle``."""
    op = "pixel_unshuffle"
    lead, (c, h, w) = _shuffle_factor(op, input, downscale_factor, "downscale_factor")
    r = downscale_factor
    if h % r or w % r:
        raise RuntimeError(f"{op}: the height and width of input {tuple(input.shape)} ({h}, {w}) must be "
                           f"divisible by downscale_factor = {r}")
    k = len(lead)
    y = input.reshape(lead + (c, h // r, r, w // r, r))
    y = y.permute(tuple(range(k)) + tuple(k + d for d in (0, 2, 4, 1, 3)))
    return y.reshape(lead + (c * r * r, h // r, w // r))


def _patches(op, kernel_size, dilation, padding, stride, image):
    """im2col's geometry for a (H, W) ``image``: ``(kernel, dilation, padding, blocks (Ho, Wo))``."""
    kernel = pair(kernel_size, "kernel_size", op, 1)
    dilation = pair(dilation, "dilation", op, 1)
    padding = pair(padding, "padding", op, 0)
    stride = pair(stride, "stride", op, 1)
    blocks = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, d, p, s in
                   zip(image, kernel, dilation, padding, stride))
    if min(blocks) < 1:
        raise RuntimeError(f"{op}: an image of size {tuple(image)} padded by {padding} is smaller than the "
                           f"kernel {kernel} with dilation {dilation}: no sliding block fits")
    return kernel, dilation, padding, stride, blocks


def _patch_terms(backend, kernel, dilation, stride, blocks, width):
    """One gather term: for kernel tap t and block l, the flat position in a padded plane ``width``
    wide that column t*L + l reads."""
    (kh, kw), (dh, dw), (sh, sw), (ho, wo) = kernel, dilation, stride, blocks
    rows = (backend.arange(kh) * dh).reshape(kh, 1, 1, 1) + (backend.arange(ho) * sh).reshape(1, 1, ho, 1)
    cols = (backend.arange(kw) * dw).reshape(1, kw, 1, 1) + (backend.arange(wo) * sw).reshape(1, 1, 1, wo)
    return (((rows * width + cols).reshape(-1).astype(dtypes.int64.np), None),)


@on_input_device
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col, as ``torch.nn.functional.unfold``: (N, C, H, W) or (C, H, W) -> (N, C*kH*kW, L), the L
    sliding blocks' values, column index c*kH*kW + i*kW + j for channel c and kernel tap (i, j)."""
    op = "unfold"
    check_tensor(input, "input", op)
    if input.ndim not in (3, 4):
        raise NotImplementedError(f"{op}: only 3-d or 4-d (batched) inputs are supported, got shape "
                                  f"{tuple(input.shape)}")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    kernel, dilation, padding, stride, blocks = _patches(op, kernel_size, dilation, padding, stride, x.shape[2:])
    (ph, pw), (n, c, h, w) = padding, x.shape
    if ph or pw:
        x = pad(x, (pw, pw, ph, ph))
    terms = _patch_terms(x.backend, kernel, dilation, stride, blocks, w + 2 * pw)
    y = AxisGather.apply(x.reshape(n, c, -1), axis=2, terms=terms)
    y = y.reshape(n, c * kernel[0] * kernel[1], blocks[0] * blocks[1])
    return y.squeeze(0) if unbatched else y


@on_input_device
def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, as ``torch.nn.functional.fold``: (N, C*kH*kW, L) or (C*kH*kW, L) -> (N, C, H, W) of
    ``output_size``, summing each column into its block's positions (the adjoint of :func:`unfold`)."""
    op = "fold"
    check_tensor(input, "input", op)
    if input.ndim not in (2, 3):
        raise NotImplementedError(f"{op}: only 2-d or 3-d (batched) inputs are supported, got shape "
                                  f"{tuple(input.shape)}")
    unbatched = input.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    image = pair(output_size, "output_size", op, 1)
    kernel, dilation, padding, stride, blocks = _patches(op, kernel_size, dilation, padding, stride, image)
    n, ckk, length = x.shape
    taps = kernel[0] * kernel[1]
    if ckk % taps or length != blocks[0] * blocks[1]:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} does not match kernel_size {kernel} and "
                           f"output_size {image}: expected dim -2 divisible by {taps} and dim -1 equal to the "
                           f"{blocks[0]} x {blocks[1]} = {blocks[0] * blocks[1]} sliding blocks")
    (ph, pw), (h, w) = padding, image
    plane = (h + 2 * ph) * (w + 2 * pw)
    terms = _patch_terms(x.backend, kernel, dilation, stride, blocks, w + 2 * pw)
    y = AxisGather.apply(x.reshape(n, ckk // taps, taps * length), axis=2,
                         terms=transpose_terms(x.backend, terms, plane), adjoint=terms)
    y = y.reshape(n, ckk // taps, h + 2 * ph, w + 2 * pw)
    if ph or pw:
        y = pad(y, (-pw, -pw, -ph, -ph))
    return y.squeeze(0) if unbatched else y


def channel_shuffle(input, groups):
    """(N, g*k, *) -> (N, k*g, *): channel i*k + j moves to j*g + i (ShuffleNet's shuffle), as
    ``torch.nn.functional.channel_shuffle``."""
    op = "channel_shuffle"
    check_tensor(input, "input", op)
    if input.ndim <= 2:
        raise RuntimeError(f"{op}: expected an input with more than 2 dims (N, C, *), got shape "
                           f"{tuple(input.shape)}")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise RuntimeError(f"{op}: groups must be a positive int, got {groups!r}")
    n, c, *spatial = input.shape
    if c % groups:
        raise RuntimeError(f"{op}: the {c} channels of input {tuple(input.shape)} are not divisible by "
                           f"groups = {groups}")
    y = input.reshape((n, groups, c // groups, *spatial)).transpose(1, 2)
    return y.reshape(tuple(input.shape))


native_channel_shuffle = channel_shuffle  # torch's kernel of the same shuffle (which, unlike this, has no derivative)
__all__ += ["channel_shuffle", "native_channel_shuffle"]
