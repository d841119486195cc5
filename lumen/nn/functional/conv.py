"""Convolution: ``conv2d`` and ``conv_transpose2d`` (Caffe's Deconvolution).

The three cuDNN-style primitives (forward, backward-data, backward-filter) are each a
Function whose backward applies the other two, so every order of derivative works:
backward-data is the adjoint of the forward in ``x``, backward-filter its adjoint in ``w``.
"""
from __future__ import annotations

import weakref

import numpy as np

from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ._util import check_4d, check_float, check_same, needs_grad, pair
from .vision import pad

__all__ = ["conv2d", "conv_transpose2d"]


def _params(node):
    return dict(stride=node.stride, padding=node.padding, dilation=node.dilation, groups=node.groups)


class Conv2d(Function):
    """y = conv(x, w) + b.  x (N,C,H,W), w (O,C/g,kh,kw), b (O,) or None -> (N,O,Ho,Wo)."""

    def forward(self, x, w, b):
        self.x_shape, self.w_shape = x.shape, w.shape
        self.save_inputs(0, 1)
        return self.backend.conv2d_forward(x, w, b, self.stride, self.padding, self.dilation, self.groups)

    def backward(self, gy):
        x, w = self.saved_inputs
        gx = (Conv2dBackwardData.apply(gy, w, x_shape=self.x_shape, **_params(self))
              if needs_grad(self, 0) else None)
        gw = (Conv2dBackwardFilter.apply(x, gy, w_shape=self.w_shape, **_params(self))
              if needs_grad(self, 1) else None)
        gb = gy.sum((0, 2, 3)) if needs_grad(self, 2) else None
        return gx, gw, gb


class Conv2dBackwardData(Function):
    """gx = conv2d's input gradient: gy (N,O,Ho,Wo), w (O,C/g,kh,kw) -> (N,C,H,W) of ``x_shape``."""

    def forward(self, gy, w):
        self.save_inputs(0, 1)
        return self.backend.conv2d_backward_data(gy, w, self.x_shape, self.stride, self.padding,
                                                 self.dilation, self.groups)

    def backward(self, ggx):
        gy, w = self.saved_inputs
        g_gy = Conv2d.apply(ggx, w, None, **_params(self)) if needs_grad(self, 0) else None
        g_w = (Conv2dBackwardFilter.apply(ggx, gy, w_shape=w.shape, **_params(self))
               if needs_grad(self, 1) else None)
        return g_gy, g_w


class Conv2dBackwardFilter(Function):
    """gw = conv2d's filter gradient: x (N,C,H,W), gy (N,O,Ho,Wo) -> ``w_shape``."""

    def forward(self, x, gy):
        self.save_inputs(0, 1)
        return self.backend.conv2d_backward_filter(x, gy, self.w_shape, self.stride, self.padding,
                                                   self.dilation, self.groups)

    def backward(self, ggw):
        x, gy = self.saved_inputs
        g_x = (Conv2dBackwardData.apply(gy, ggw, x_shape=x.shape, **_params(self))
               if needs_grad(self, 0) else None)
        g_gy = Conv2d.apply(x, ggw, None, **_params(self)) if needs_grad(self, 1) else None
        return g_x, g_gy


class SeparableResample(Function):
    """y[n, c] = left @ x[n, c] @ right: x (N,C,H,W), left (Ho,H), right (W,Wo) -> (N,C,Ho,Wo).

    A transposed convolution whose weight is class-diagonal with one rank-1 kernel u v^T
    (FCN's fixed bilinear upsampling) is this map with banded ``left``/``right`` built from
    u and v: two small GEMMs instead of a dense C x C x kH x kW deconvolution.
    """

    def forward(self, x):
        return self.backend.matmul(self.left, self.backend.matmul(x, self.right))

    def backward(self, gy):
        return SeparableResample.apply(gy, left=self.left.T, right=self.right.T)


# id(weight) -> (weakref to weight, its array, version, (u, v) or None): detecting the rank-1
# class-diagonal kernel reads the whole weight (a device-to-host copy on GPU), so it runs once per
# weight array and version. The array is held so that its identity check cannot be fooled by a reused id.
_separable_cache: dict = {}


def _separable_kernel(weight):
    """(u, v) float64 host vectors with weight[c, c] == outer(u, v) for every c and weight[c, d] == 0
    for c != d (within rounding of weight's dtype), or None."""
    arr = weight._data
    hit = _separable_cache.get(id(weight))
    if hit is not None and hit[0]() is weight and hit[1] is arr and hit[2] == weight._version:
        return hit[3]
    w = np.asarray(weight.backend.to_numpy(arr), dtype=np.float64)
    result = None
    c_in, c_out, kh, kw = w.shape
    if c_in == c_out:
        k = w[0, 0]
        i, j = np.unravel_index(np.argmax(np.abs(k)), k.shape)
        if k[i, j] != 0:
            u, v = k[:, j], k[i, :] / k[i, j]
            diag = w[np.arange(c_in), np.arange(c_in)]
            off = w.copy()
            off[np.arange(c_in), np.arange(c_in)] = 0
            tol = 4 * np.finfo(weight.dtype.np).eps * abs(k[i, j])
            if not off.any() and np.abs(diag - np.outer(u, v)).max() <= tol:
                result = (u, v)
    for key in [key for key, (ref, *_) in _separable_cache.items() if ref() is None]:
        del _separable_cache[key]
    _separable_cache[id(weight)] = (weakref.ref(weight), arr, weight._version, result)
    return result


def _band(f, n_in, n_out, stride, padding):
    """(n_in, n_out) matrix m with m[a, i] = f[i + padding - stride*a] where that index is in f."""
    t = np.arange(n_out)[None, :] + padding - stride * np.arange(n_in)[:, None]
    inside = (t >= 0) & (t < len(f))
    return np.where(inside, f[np.clip(t, 0, len(f) - 1)], 0.0)


def _check_common(op, input, weight, bias, groups):
    check_4d(input, op)
    check_4d(weight, op, "weight")
    check_float(input, op)
    check_same(op, input, weight=weight, bias=bias)
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")


def _check_channels(op, input, weight, bias, groups, in_channels, out_channels):
    """``in_channels``/``out_channels``: what the weight implies; its dim 0 is split into groups."""
    if in_channels != input.shape[1]:
        raise ValueError(
            f"{op}: input of shape {tuple(input.shape)} has {input.shape[1]} channels but weight of "
            f"shape {tuple(weight.shape)} with groups={groups} expects {in_channels}")
    if weight.shape[0] % groups:
        raise ValueError(f"{op}: dim 0 of weight {tuple(weight.shape)} ({weight.shape[0]}) "
                         f"is not divisible by groups={groups}")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{op}: bias of shape {tuple(bias.shape)} does not match the {out_channels} "
                         f"output channels of weight {tuple(weight.shape)} with groups={groups}")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d cross-correlation, as ``torch.nn.functional.conv2d``.

    input (N, C, H, W) float, weight (O, C/groups, kH, kW), bias (O,) or None
    -> (N, O, H_out, W_out) with H_out = (H + 2*pad - dil*(kH-1) - 1) // stride + 1.
    ``padding`` is an int, a pair, ``'valid'`` (no padding) or ``'same'`` (stride 1 only;
    an odd total padding puts the extra row/column at the bottom/right, like PyTorch).
    """
    op = "conv2d"
    _check_common(op, input, weight, bias, groups)
    _check_channels(op, input, weight, bias, groups, weight.shape[1] * groups, weight.shape[0])
    stride = pair(stride, "stride", op, 1)
    dilation = pair(dilation, "dilation", op, 1)
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                                 f"(stride={stride})")
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            padding = tuple(t // 2 for t in total)
            extra = [t - 2 * (t // 2) for t in total]
            if any(extra):
                input = pad(input, (0, extra[1], 0, extra[0]))
        else:
            raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    else:
        padding = pair(padding, "padding", op, 0)
    for n, k, p, d in zip(input.shape[2:], kernel, padding, dilation):
        if n + 2 * p < d * (k - 1) + 1:
            raise ValueError(
                f"{op}: input of shape {tuple(input.shape)} padded by {padding} is smaller than the "
                f"dilated kernel {tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))} "
                f"(weight {tuple(weight.shape)}, dilation {dilation})")
    return Conv2d.apply(input, weight, bias, stride=stride, padding=padding, dilation=dilation,
                        groups=groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed convolution (the gradient of conv2d w.r.t. its input; Caffe's Deconvolution).

    input (N, C_in, H, W) float, weight (C_in, C_out/groups, kH, kW), bias (C_out,) or None
    -> (N, C_out, H_out, W_out), H_out = (H-1)*stride - 2*pad + dil*(kH-1) + output_padding + 1.
    """
    op = "conv_transpose2d"
    _check_common(op, input, weight, bias, groups)
    out_channels = weight.shape[1] * groups
    _check_channels(op, input, weight, bias, groups, weight.shape[0], out_channels)
    stride = pair(stride, "stride", op, 1)
    padding = pair(padding, "padding", op, 0)
    dilation = pair(dilation, "dilation", op, 1)
    output_padding = pair(output_padding, "output_padding", op, 0)
    for o, s, d in zip(output_padding, stride, dilation):
        if o >= s and o >= d:
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than either "
                             f"stride {stride} or dilation {dilation}")
    n, _, h, w = input.shape
    out = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1 for i, s, p, d, k, o in
                zip((h, w), stride, padding, dilation, weight.shape[2:], output_padding))
    if min(out) < 1:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} with weight {tuple(weight.shape)}, "
                         f"stride {stride}, padding {padding}, dilation {dilation} gives output size "
                         f"{out}, which is too small")
    if groups == 1 and dilation == (1, 1) and not (weight.requires_grad and is_grad_enabled()):
        uv = _separable_kernel(weight)
        if uv is not None:
            dt = weight.dtype.np
            left = weight.backend.asarray(_band(uv[0], h, out[0], stride[0], padding[0]).T, dtype=dt)
            right = weight.backend.asarray(_band(uv[1], w, out[1], stride[1], padding[1]), dtype=dt)
            y = SeparableResample.apply(input, left=left, right=right)
            return y if bias is None else y + bias.reshape(1, -1, 1, 1)
    # An output_padding >= stride adds rows that a conv2d of the output would map to extra outputs;
    # zero-padding the input to that conv2d's output size keeps the primitives' geometry consistent.
    extra = [o // s for o, s in zip(output_padding, stride)]
    if any(extra):
        input = pad(input, (0, extra[1], 0, extra[0]))
    y = Conv2dBackwardData.apply(input, weight, x_shape=(n, out_channels) + out, stride=stride,
                                 padding=padding, dilation=dilation, groups=groups)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y
