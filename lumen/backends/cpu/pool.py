"""2-D max and average pooling on NumPy with PyTorch's window rules.

Both work with one vectorised pass per kernel offset over strided views
(kh*kw passes for max, kh+kw for the separable box sum of average pooling);
no Python loop ever runs over pixels. Max pooling's forward runs in C (``pool.c``: one pass per tap with
its argmax, where NumPy makes ~6) and its backward's scatter-add where ``native.py`` can build it.
"""
from __future__ import annotations

import ctypes

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import native, parallel


class _Pool(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in ("h", "w", "ho", "wo", "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw")]


_SIGNATURES = [("lumen_max_pool_forward", ctypes.c_int, [ctypes.POINTER(_Pool)] + [ctypes.c_void_p] * 3 +
                 [ctypes.c_long] * 2),
               ("lumen_max_pool_backward", ctypes.c_int, [ctypes.c_void_p] * 3 + [ctypes.c_long] * 4)]


def _compiled(dtype):
    """pool.c's max-pooling (forward, backward) for dtype, or None."""
    return native.functions("pool", dtype, _SIGNATURES)


def pool_output_size(size, kernel, stride, pad, dilation, ceil_mode):
    """PyTorch's pooling output length along one axis.

    With ceil_mode the last window must still start inside the input or the
    left padding, otherwise it is dropped.
    """
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _check(op, x_shape, kernel, stride, padding, dilation, ceil_mode):
    """Validate a pooling call on an (N, C, H, W) input and return (Ho, Wo)."""
    for key, value in (("kernel_size", kernel), ("stride", stride), ("padding", padding),
                       ("dilation", dilation)):
        if len(value) != 2:
            raise ValueError(f"{op}: {key} must be an (h, w) pair of ints, got {value!r}")
        if min(value) < (0 if key == "padding" else 1):
            raise ValueError(f"{op}: {key} must be {'>= 0' if key == 'padding' else '>= 1'}, got {value!r}")
    if len(x_shape) != 4:
        raise ValueError(f"{op}: expected input (N, C, H, W), got shape {tuple(x_shape)}")
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ValueError(f"{op}: padding {tuple(padding)} must be at most half of kernel_size {tuple(kernel)}")
    out = tuple(pool_output_size(x_shape[2 + a], kernel[a], stride[a], padding[a], dilation[a], ceil_mode)
                for a in range(2))
    if min(out) < 1:
        raise ValueError(f"{op}: input {tuple(x_shape)} is too small for kernel_size {tuple(kernel)} with "
                         f"padding={tuple(padding)}, dilation={tuple(dilation)}: output would be {out}")
    return out


def _check_float(op, x):
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{op}: expected a floating input, got {tuple(x.shape)} {x.dtype}")


def _padded_view(x, fill, padding, need_hw):
    """x padded with ``fill``: ``padding`` on the top/left and enough on the bottom/right
    for an extent of ``need_hw`` (ceil_mode windows may hang past the right padding)."""
    n, c, h, w = x.shape
    ph, pw = padding
    hp, wp = max(need_hw[0], h + ph), max(need_hw[1], w + pw)
    if (ph, pw) == (0, 0) and (hp, wp) == (h, w):
        return x
    xp = np.full((n, c, hp, wp), fill, dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _offset_view(xp, i, j, out_hw, stride):
    """View (N, C, Ho, Wo) of xp[:, :, i + a*sh, j + b*sw]."""
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp[:, :, i:, j:], shape=xp.shape[:2] + tuple(out_hw),
                      strides=(s_n, s_c, stride[0] * s_h, stride[1] * s_w), writeable=False)


def _first_valid(start, dilation, kernel, size, op, axis):
    """Per output position, the first kernel tap that lands inside [0, size)."""
    first = np.where(start < 0, -(start // dilation), 0)
    if np.any(start + first * dilation >= size) or np.any(first >= kernel):
        raise ValueError(f"{op}: with this padding and dilation some window along {axis} covers only padding")
    return first


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """Max pooling with -inf padding.

    x (N, C, H, W) float -> (y (N, C, Ho, Wo) of x's dtype, indices (N, C, Ho, Wo) int64)
    where indices are flat positions h * W + w in each input plane. Ties keep the first
    window element in row-major order, a NaN wins over numbers (as PyTorch's CPU kernel).
    """
    op = "max_pool2d_forward"
    _check_float(op, x)
    ho, wo = _check(op, x.shape, kernel, stride, padding, dilation, ceil_mode)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    row0 = np.arange(ho) * sh - ph
    col0 = np.arange(wo) * sw - pw
    # Start from PyTorch's default argmax (the first tap inside the image) so an
    # all -inf window reports the same index; padding never wins a strict '>'.
    fi = _first_valid(row0, dh, kh, h, op, "H")
    fj = _first_valid(col0, dw, kw, w, op, "W")
    best = np.empty((n, c, ho, wo), dtype=x.dtype)
    indices = np.empty(best.shape, dtype=np.int64)
    compiled = _compiled(x.dtype)
    if compiled is not None:
        x = np.ascontiguousarray(x)
        geometry = _Pool(h, w, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw)

        def planes(p0, p1):
            if compiled[0](ctypes.byref(geometry), x.ctypes.data, best.ctypes.data, indices.ctypes.data, p0, p1):
                raise MemoryError(f"{op}: out of memory for a padded copy of a {h} x {w} plane")

        parallel.over_range(planes, n * c, x.size)
        return best, indices
    xp = _padded_view(x, -np.inf, padding, ((ho - 1) * sh + (kh - 1) * dh + 1, (wo - 1) * sw + (kw - 1) * dw + 1))
    first = (fi[:, None] * kw + fj[None, :]).astype(np.int32)
    tap_offset = ((np.arange(kh) * dh)[:, None] * w + (np.arange(kw) * dw)[None, :]).ravel()
    window_origin = row0[:, None] * w + col0[None, :]
    padded = xp is not x
    tap_dtype = np.int8 if kh * kw <= 127 else np.int32

    def channels(c0, c1):
        b = best[:, c0:c1]
        views = [_offset_view(xp, i * dh, j * dw, (ho, wo), stride)[:, c0:c1] for i in range(kh) for j in range(kw)]
        np.copyto(b, views[0])
        for v in views[1:]:
            np.maximum(b, v, out=b)  # a NaN propagates: it wins over numbers
        # The argmax is the first tap holding the maximum: taps are written last to first, each by
        # t ^= (t ^ k) & mask with a sign-widened 0/-1 mask, plain one-byte ufunc passes where a
        # masked copy (np.copyto(where=...)) runs several times slower.
        t = np.empty(b.shape, dtype=tap_dtype)
        hit = np.empty(b.shape, dtype=bool)
        scratch = np.empty(b.shape, dtype=tap_dtype)
        for k in range(len(views) - 1, -1, -1):
            mask = np.equal(views[k], b, out=hit).view(np.int8)
            np.negative(mask, out=mask)
            np.bitwise_xor(t, k, out=scratch)
            np.bitwise_and(scratch, mask, out=scratch)
            np.bitwise_xor(t, scratch, out=t)
        if padded:  # an all -inf window reports its first tap inside the image, not the padding
            np.copyto(t, first, where=np.equal(b, -np.inf, out=hit))
        if np.isnan(b, out=hit).any():  # a NaN window reports its last NaN, as PyTorch's CPU kernel
            nan = np.empty(b.shape, dtype=bool)
            for k, v in enumerate(views):
                np.copyto(t, k, where=np.logical_and(np.isnan(v, out=nan), hit, out=nan), casting="unsafe")
        np.add(np.take(tap_offset, t), window_origin, out=indices[:, c0:c1])

    parallel.over_range(channels, c, x.size)
    return best, indices


def max_pool2d_backward(gy, indices, x_shape):
    """Scatter-add gy to the argmax positions.

    gy (N, C, Ho, Wo) float, indices (N, C, Ho, Wo) int64 flat in-plane positions
    -> gx with shape x_shape (N, C, H, W) and gy's dtype.
    """
    op = "max_pool2d_backward"
    _check_float(op, gy)
    x_shape = tuple(int(s) for s in x_shape)
    if gy.shape != indices.shape or len(x_shape) != 4 or gy.shape[:2] != x_shape[:2]:
        raise ValueError(f"{op}: grad_output {tuple(gy.shape)}, indices {tuple(indices.shape)} and input shape "
                         f"{x_shape}: expected equal (N, C, Ho, Wo) shapes and matching (N, C)")
    n, c, h, w = x_shape
    plane = h * w
    compiled = _compiled(gy.dtype)
    if compiled is not None:
        gy, indices = np.ascontiguousarray(gy), np.ascontiguousarray(indices, np.int64)
        gx = np.empty(x_shape, gy.dtype)
        outputs = gy.shape[2] * gy.shape[3]

        def planes(p0, p1):
            if compiled[1](gy.ctypes.data, indices.ctypes.data, gx.ctypes.data, outputs, plane, p0, p1):
                raise IndexError(f"{op}: indices {tuple(indices.shape)} hold a position outside the {h} x {w} plane")

        parallel.over_range(planes, n * c, gx.size)
        return gx
    flat = indices.reshape(n * c, -1) + (np.arange(n * c, dtype=np.int64) * plane)[:, None]
    gx = np.zeros(n * c * plane, dtype=gy.dtype)
    np.add.at(gx, flat.ravel(), gy.ravel())
    return gx.reshape(x_shape)


def _avg_divisor(out, kernel, stride, pad, size, count_include_pad):
    """Per output position along one axis: window length counted by PyTorch."""
    start = np.arange(out) * stride - pad
    end = np.minimum(start + kernel, size + pad)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


def _avg_setup(op, x_shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    ho, wo = _check(op, x_shape, kernel, stride, padding, (1, 1), ceil_mode)
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be non-zero")
        divisor = divisor_override
    else:
        dh = _avg_divisor(ho, kernel[0], stride[0], padding[0], x_shape[2], count_include_pad)
        dw = _avg_divisor(wo, kernel[1], stride[1], padding[1], x_shape[3], count_include_pad)
        divisor = (dh[:, None] * dw[None, :])
    need = ((ho - 1) * stride[0] + kernel[0], (wo - 1) * stride[1] + kernel[1])
    return ho, wo, divisor, need


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Average pooling with zero padding and PyTorch's divisor rules.

    x (N, C, H, W) float -> y (N, C, Ho, Wo) of x's dtype. Windows are clipped at H + pad;
    the divisor counts padded cells when count_include_pad, else only real cells,
    unless divisor_override is given.
    """
    op = "avg_pool2d_forward"
    _check_float(op, x)
    ho, wo, divisor, need = _avg_setup(op, x.shape, kernel, stride, padding, ceil_mode, count_include_pad,
                                       divisor_override)
    xp = _padded_view(x, 0, padding, need)
    (kh, kw), (sh, sw) = kernel, stride
    n, c, hp, _ = xp.shape
    # Separable box sum: along W into (N, C, Hp, Wo), then along H.
    rows = np.zeros((n, c, hp, wo), dtype=x.dtype)
    for j in range(kw):
        rows += xp[:, :, :, j:j + (wo - 1) * sw + 1:sw]
    y = np.zeros((n, c, ho, wo), dtype=x.dtype)
    for i in range(kh):
        y += rows[:, :, i:i + (ho - 1) * sh + 1:sh]
    y /= np.asarray(divisor, dtype=x.dtype)
    return y


def avg_pool2d_backward(gy, x_shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Gradient of avg_pool2d: gy (N, C, Ho, Wo) -> gx with shape x_shape (N, C, H, W), gy's dtype."""
    op = "avg_pool2d_backward"
    _check_float(op, gy)
    x_shape = tuple(int(s) for s in x_shape)
    ho, wo, divisor, need = _avg_setup(op, x_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                                       divisor_override)
    if gy.shape != x_shape[:2] + (ho, wo):
        raise ValueError(f"{op}: grad_output {tuple(gy.shape)} does not match input shape {x_shape}: "
                         f"expected {x_shape[:2] + (ho, wo)}")
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x_shape
    hp, wp = max(need[0], h + ph), max(need[1], w + pw)
    g = gy / np.asarray(divisor, dtype=gy.dtype)
    rows = np.zeros((n, c, ho, wp), dtype=gy.dtype)
    for j in range(kw):
        rows[:, :, :, j:j + (wo - 1) * sw + 1:sw] += g
    gxp = np.zeros((n, c, hp, wp), dtype=gy.dtype)
    for i in range(kh):
        gxp[:, :, i:i + (ho - 1) * sh + 1:sh] += rows
    return np.ascontiguousarray(gxp[:, :, ph:ph + h, pw:pw + w])
