"""Max and average 2-D pooling on the GPU with PyTorch's semantics.

Output sizes follow ``torch.nn.functional.max_pool2d`` / ``avg_pool2d``,
ceil_mode included (the last window must start inside the input or its left
padding). Max-pool indices are int64 flat positions ``h * W + w`` in each
input plane.
"""
from __future__ import annotations

import cupy
import numpy

from .. import conv as settings
from . import _module as km


def _out_len(size, k, s, p, d, ceil_mode):
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _geometry(op, x_shape, kernel, stride, padding, dilation, ceil_mode):
    if len(x_shape) != 4:
        raise ValueError(f"{op}: expected a 4-d input (N,C,H,W), got shape {tuple(x_shape)}")
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    if min(kh, kw, sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError(f"{op}: need kernel, stride, dilation >= 1 and padding >= 0, got "
                         f"kernel={kernel}, stride={stride}, padding={padding}, "
                         f"dilation={dilation}")
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"{op}: padding {padding} should be at most half of the kernel "
                         f"size {kernel}")
    H, W = x_shape[2], x_shape[3]
    Ho = _out_len(H, kh, sh, ph, dh, ceil_mode)
    Wo = _out_len(W, kw, sw, pw, dw, ceil_mode)
    if Ho < 1 or Wo < 1:
        raise ValueError(f"{op}: input {tuple(x_shape)} is too small for kernel {kernel}, "
                         f"stride {stride}, padding {padding}, dilation {dilation} "
                         f"(output {Ho}x{Wo})")
    return H, W, Ho, Wo


def _i32(*values):
    return tuple(numpy.int32(v) for v in values)


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """x (N,C,H,W) float -> (y (N,C,Ho,Wo), indices (N,C,Ho,Wo) int64)."""
    op = "max_pool2d_forward"
    H, W, Ho, Wo = _geometry(op, x.shape, kernel, stride, padding, dilation, ceil_mode)
    fn = km.kernel("pool.cu", "max_pool_fwd", x.dtype, op)
    x = cupy.ascontiguousarray(x)
    N, C = x.shape[:2]
    y = cupy.empty((N, C, Ho, Wo), x.dtype)
    idx = cupy.empty((N, C, Ho, Wo), numpy.int64)
    km.launch(fn, y.size, (x, y, idx, numpy.int64(y.size),
                           *_i32(H, W, Ho, Wo, *kernel, *stride, *padding, *dilation)))
    return y, idx


def max_pool2d_backward(gy, indices, x_shape):
    """gy (N,C,Ho,Wo), indices int64 from max_pool2d_forward -> gx of x_shape (N,C,H,W).

    Overlapping windows make two outputs share an input. By default those are summed with atomics, so float
    results may differ in the last bit between runs (the emulator's thread orders show it); with
    ``lumen.backends.conv.deterministic`` set, a kernel with one thread per plane sums them in a fixed order
    instead (bitwise reproducible, slower when the planes are few and large).
    """
    op = "max_pool2d_backward"
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4 or gy.ndim != 4 or gy.shape[:2] != x_shape[:2]:
        raise ValueError(f"{op}: grad_output {gy.shape} does not match input shape {x_shape}")
    if indices.shape != gy.shape or indices.dtype != numpy.int64:
        raise ValueError(f"{op}: indices must be int64 of shape {gy.shape}, got "
                         f"{indices.dtype} {indices.shape}")
    gy, indices = cupy.ascontiguousarray(gy), cupy.ascontiguousarray(indices)
    gx = cupy.zeros(x_shape, gy.dtype)
    HW, HoWo = numpy.int64(x_shape[2] * x_shape[3]), numpy.int64(gy.shape[2] * gy.shape[3])
    if settings.deterministic:
        planes = x_shape[0] * x_shape[1]
        fn = km.kernel("pool.cu", "max_pool_bwd_planes", gy.dtype, op)
        km.launch(fn, planes, (gy, indices, gx, numpy.int64(planes), HW, HoWo))
    else:
        fn = km.kernel("pool.cu", "max_pool_bwd", gy.dtype, op)
        km.launch(fn, gy.size, (gy, indices, gx, numpy.int64(gy.size), HW, HoWo))
    return gx


def _avg_args(op, x_shape, kernel, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero")
    H, W, Ho, Wo = _geometry(op, x_shape, kernel, stride, padding, (1, 1), ceil_mode)
    return (H, W, Ho, Wo), _i32(H, W, Ho, Wo, *kernel, *stride, *padding,
                                int(bool(count_include_pad)), divisor_override or 0)


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad,
                       divisor_override):
    """x (N,C,H,W) float -> y (N,C,Ho,Wo)."""
    op = "avg_pool2d_forward"
    (H, W, Ho, Wo), ints = _avg_args(op, x.shape, kernel, stride, padding, ceil_mode,
                                     count_include_pad, divisor_override)
    fn = km.kernel("pool.cu", "avg_pool_fwd", x.dtype, op)
    x = cupy.ascontiguousarray(x)
    y = cupy.empty((x.shape[0], x.shape[1], Ho, Wo), x.dtype)
    km.launch(fn, y.size, (x, y, numpy.int64(y.size), *ints))
    return y


def avg_pool2d_backward(gy, x_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                        divisor_override):
    """gy (N,C,Ho,Wo) -> gx of x_shape (N,C,H,W); deterministic gather."""
    op = "avg_pool2d_backward"
    x_shape = tuple(int(s) for s in x_shape)
    (H, W, Ho, Wo), ints = _avg_args(op, x_shape, kernel, stride, padding, ceil_mode,
                                     count_include_pad, divisor_override)
    if gy.shape != (x_shape[0], x_shape[1], Ho, Wo):
        raise ValueError(f"{op}: grad_output has shape {gy.shape}, expected "
                         f"{(x_shape[0], x_shape[1], Ho, Wo)} for input {x_shape}")
    fn = km.kernel("pool.cu", "avg_pool_bwd", gy.dtype, op)
    gy = cupy.ascontiguousarray(gy)
    gx = cupy.empty(x_shape, gy.dtype)
    km.launch(fn, gx.size, (gy, gx, numpy.int64(gx.size), *ints))
    return gx
