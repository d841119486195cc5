"""Convolution: ``conv2d``, ``conv_transpose2d`` (Caffe's Deconvolution) and ``bilinear_upsample2d``.

The three cuDNN-style primitives (forward, backward-data, backward-filter) are each a
Function whose backward applies the other two, so every order of derivative works:
backward-data is the adjoint of the forward in ``x``, backward-filter its adjoint in ``w``.
"""
from __future__ import annotations

from ..autograd.function import Function
from ._check import check_4d, check_float, check_same, pair
from .shape import pad

__all__ = ["conv2d", "conv_transpose2d", "bilinear_upsample2d"]


class _ConvFunction(Function):
    """The geometry every convolution node carries (pairs of ints, and the group count)."""

    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def geometry(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)


class Conv2d(_ConvFunction):
    """y = conv(x, w) + b.  x (N,C,H,W), w (O,C/g,kh,kw), b (O,) or None -> (N,O,Ho,Wo)."""

    def forward(self, x, w, b):
        self.x_shape, self.w_shape = x.shape, w.shape
        self.save_inputs(0, 1)
        return self.backend.conv2d_forward(x, w, b, self.stride, self.padding, self.dilation, self.groups)

    def backward(self, gy):
        x, w = self.saved_inputs
        need = self.needs_input_grad
        gx = Conv2dBackwardData.apply(gy, w, x_shape=self.x_shape, **self.geometry()) if need[0] else None
        gw = Conv2dBackwardFilter.apply(x, gy, w_shape=self.w_shape, **self.geometry()) if need[1] else None
        gb = gy.sum((0, 2, 3)) if need[2] else None
        return gx, gw, gb


class Conv2dBackwardData(_ConvFunction):
    """gx = conv2d's input gradient: gy (N,O,Ho,Wo), w (O,C/g,kh,kw) -> (N,C,H,W) of ``x_shape``."""

    def __init__(self, x_shape, stride, padding, dilation, groups):
        super().__init__(stride, padding, dilation, groups)
        self.x_shape = x_shape

    def forward(self, gy, w):
        self.save_inputs(0, 1)
        return self.backend.conv2d_backward_data(gy, w, self.x_shape, self.stride, self.padding,
                                                 self.dilation, self.groups)

    def backward(self, ggx):
        gy, w = self.saved_inputs
        need = self.needs_input_grad
        g_gy = Conv2d.apply(ggx, w, None, **self.geometry()) if need[0] else None
        g_w = Conv2dBackwardFilter.apply(ggx, gy, w_shape=w.shape, **self.geometry()) if need[1] else None
        return g_gy, g_w


class Conv2dBackwardFilter(_ConvFunction):
    """gw = conv2d's filter gradient: x (N,C,H,W), gy (N,O,Ho,Wo) -> ``w_shape``."""

    def __init__(self, w_shape, stride, padding, dilation, groups):
        super().__init__(stride, padding, dilation, groups)
        self.w_shape = w_shape

    def forward(self, x, gy):
        self.save_inputs(0, 1)
        return self.backend.conv2d_backward_filter(x, gy, self.w_shape, self.stride, self.padding,
                                                   self.dilation, self.groups)

    def backward(self, ggw):
        x, gy = self.saved_inputs
        need = self.needs_input_grad
        g_x = Conv2dBackwardData.apply(gy, ggw, x_shape=x.shape, **self.geometry()) if need[0] else None
        g_gy = Conv2d.apply(x, ggw, None, **self.geometry()) if need[1] else None
        return g_x, g_gy


class SeparableResample(Function):
    """y[n, c] = left @ x[n, c] @ right: x (N,C,H,W), left (Ho,H), right (W,Wo) -> (N,C,Ho,Wo).

    A transposed convolution whose weight is class-diagonal with one rank-1 kernel u v^T
    (FCN's fixed bilinear upsampling) is this map with banded ``left``/``right`` built from
    u and v: two small GEMMs instead of a dense C x C x kH x kW deconvolution.
    """

    def __init__(self, left, right):
        self.left, self.right = left, right

    def forward(self, x):
        return self.backend.matmul(self.left, self.backend.matmul(x, self.right))

    def backward(self, gy):
        return SeparableResample.apply(gy, left=self.left.T, right=self.right.T)


def bilinear_filter_shape(k):
    """``(factor, center)`` of the 1-d FCN bilinear filter of size k: ``f(t) = 1 - |t - center| / factor``
    (the reference's ``upsample_filt``)."""
    factor = (k + 1) // 2
    return factor, factor - 1 if k % 2 else factor - 0.5


def _bilinear_band(backend, k, n_in, n_out, stride, padding, dtype):
    """(n_in, n_out) matrix m with m[a, i] = f[i + padding - stride*a] where that tap is in the kernel,
    f the 1-d FCN bilinear filter of size k (``nn.init.bilinear_``'s factor per axis): input row a
    reaches output row i through kernel tap i + padding - stride*a of a transposed convolution."""
    factor, center = bilinear_filter_shape(k)
    t = backend.arange(n_out).reshape(1, n_out) + (padding - stride * backend.arange(n_in).reshape(n_in, 1))
    f = 1 - backend.abs(t - center) / factor
    return backend.where((t >= 0) & (t < k), f, 0).astype(dtype)


def bilinear_upsample2d(input, kernel_size, stride=1, padding=0, output_padding=0, bias=None):
    """``conv_transpose2d`` with a fixed bilinear weight (``nn.init.bilinear_``: each channel upsampled on
    its own by the FCN kernel), computed as two banded GEMMs per plane instead of a dense deconvolution.

    input (N, C, H, W) float, bias (C,) or None -> (N, C, H_out, W_out),
    H_out = (H-1)*stride - 2*padding + kH + output_padding. Equal, within rounding, to
    ``conv_transpose2d(input, w, bias, stride, padding, output_padding)`` with ``w`` (C, C, kH, kW) that
    ``nn.init.bilinear_`` fills.
    """
    op = "bilinear_upsample2d"
    check_4d(input, op)
    check_float(input, op)
    check_same(op, input, bias=bias)
    kernel = pair(kernel_size, "kernel_size", op, 1)
    stride = pair(stride, "stride", op, 1)
    padding = pair(padding, "padding", op, 0)
    output_padding = pair(output_padding, "output_padding", op, 0)
    if any(o >= s for o, s in zip(output_padding, stride)):
        raise ValueError(f"{op}: output_padding {output_padding} must be smaller than stride {stride}")
    c = input.shape[1]
    if bias is not None and tuple(bias.shape) != (c,):
        raise ValueError(f"{op}: bias of shape {tuple(bias.shape)} does not match the {c} channels of "
                         f"input {tuple(input.shape)}")
    n_in = input.shape[2:]
    out = tuple((i - 1) * s - 2 * p + k + o for i, s, p, k, o in zip(n_in, stride, padding, kernel, output_padding))
    if min(out) < 1:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} with kernel_size {kernel}, stride {stride}, "
                         f"padding {padding} gives output size {out}, which is too small")
    backend, dt = input.backend, input.dtype.np
    left = _bilinear_band(backend, kernel[0], n_in[0], out[0], stride[0], padding[0], dt).T
    right = _bilinear_band(backend, kernel[1], n_in[1], out[1], stride[1], padding[1], dt)
    y = SeparableResample.apply(input, left=left, right=right)
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


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
