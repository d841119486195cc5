"""Convolution: ``conv1d``/``2d``/``3d``, ``conv_transpose1d``/``2d``/``3d`` (Caffe's Deconvolution) and
``bilinear_upsample2d``.

The three cuDNN-style 2-d primitives (forward, backward-data, backward-filter) are each a
Function whose backward applies the other two, so every order of derivative works:
backward-data is the adjoint of the forward in ``x``, backward-filter its adjoint in ``w``.
The 1-d convolutions are the 2-d ones over a unit height; the 3-d ones sum, over the kernel's
depth taps, 2-d convolutions of depth slices (folded into the batch), so their gradients are the
2-d primitives' too.
"""
from __future__ import annotations

from ..device import on_input_device
from ..autograd.function import Function
from ._check import check_4d, check_float, check_same, check_tensor, pair
from .shape import pad

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "bilinear_upsample2d"]


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


@on_input_device  # its band matrices are made on the input's device
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


def ntuple(value, n: int, name: str, op: str, minimum: int = 0) -> tuple:
    """An int or a sequence of ``n`` ints as an n-tuple, each at least ``minimum``."""
    if n == 2:
        return pair(value, name, op, minimum)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{op}: {name} must be an int or {n} ints, got {value!r}")
        out = tuple(value)
    else:
        out = (value,) * n
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in out):
        raise TypeError(f"{op}: {name} must be an int or {n} ints, got {value!r}")
    if min(out) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return out


def batched(op, input, spatial: int):
    """``(input with a batch dim, whether one was added)``: PyTorch's N-d ops also take one sample
    (C, *spatial) without its batch dim, and return it without one."""
    check_tensor(input, "input", op)
    if input.ndim == spatial + 1:
        return input.unsqueeze(0), True
    if input.ndim != spatial + 2:
        raise ValueError(f"{op}: expected a {spatial + 1}-d (unbatched) or {spatial + 2}-d (batched) input, "
                         f"got shape {tuple(input.shape)}")
    return input, False


def _check_common(op, input, weight, bias, groups):
    check_tensor(weight, "weight", op)
    if weight.ndim != input.ndim:
        raise ValueError(f"{op}: expected a {input.ndim}-d weight for input of shape {tuple(input.shape)}, "
                         f"got shape {tuple(weight.shape)}")
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


def _conv_geometry(op, input, weight, stride, padding, dilation):
    """``(stride, padding, dilation, input)`` as tuples, one per spatial dim; ``padding`` an int, a tuple,
    ``'valid'`` (none) or ``'same'`` (stride 1 only; an odd total padding puts the extra row at the end,
    padded here onto ``input``, as PyTorch does). Raises if the padded input is smaller than the kernel."""
    n = input.ndim - 2
    stride = ntuple(stride, n, "stride", op, 1)
    dilation = ntuple(dilation, n, "dilation", op, 1)
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * n
        elif padding == "same":
            if stride != (1,) * n:
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                                 f"(stride={stride})")
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            padding = tuple(t // 2 for t in total)
            extra = [t % 2 for t in reversed(total)]
            if any(extra):
                input = pad(input, tuple(p for e in extra for p in (0, e)))
        else:
            raise ValueError(f"{op}: padding must be an int, {n} ints, 'same' or 'valid', got {padding!r}")
    else:
        padding = ntuple(padding, n, "padding", op, 0)
    for size, k, p, d in zip(input.shape[2:], kernel, padding, dilation):
        if size + 2 * p < d * (k - 1) + 1:
            raise ValueError(
                f"{op}: input of shape {tuple(input.shape)} padded by {padding} is smaller than the "
                f"dilated kernel {tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))} "
                f"(weight {tuple(weight.shape)}, dilation {dilation})")
    return stride, padding, dilation, input


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d cross-correlation, as ``torch.nn.functional.conv2d``.

    input (N, C, H, W) float, weight (O, C/groups, kH, kW), bias (O,) or None
    -> (N, O, H_out, W_out) with H_out = (H + 2*pad - dil*(kH-1) - 1) // stride + 1.
    ``padding`` is an int, a pair, ``'valid'`` (no padding) or ``'same'`` (stride 1 only;
    an odd total padding puts the extra row/column at the bottom/right, like PyTorch).
    """
    op = "conv2d"
    check_4d(input, op)
    _check_common(op, input, weight, bias, groups)
    _check_channels(op, input, weight, bias, groups, weight.shape[1] * groups, weight.shape[0])
    stride, padding, dilation, input = _conv_geometry(op, input, weight, stride, padding, dilation)
    return Conv2d.apply(input, weight, bias, stride=stride, padding=padding, dilation=dilation,
                        groups=groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed convolution (the gradient of conv2d w.r.t. its input; Caffe's Deconvolution).

    input (N, C_in, H, W) float, weight (C_in, C_out/groups, kH, kW), bias (C_out,) or None
    -> (N, C_out, H_out, W_out), H_out = (H-1)*stride - 2*pad + dil*(kH-1) + output_padding + 1.
    """
    op = "conv_transpose2d"
    check_4d(input, op)
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


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d cross-correlation, as ``torch.nn.functional.conv1d``: conv2d over a unit height.

    input (N, C, L) or (C, L) float, weight (O, C/groups, k), bias (O,) or None -> (N, O, L_out),
    L_out = (L + 2*pad - dil*(k-1) - 1) // stride + 1; ``padding`` an int, ``'valid'`` or ``'same'``.
    """
    op = "conv1d"
    input, unbatched = batched(op, input, 1)
    _check_common(op, input, weight, bias, groups)
    _check_channels(op, input, weight, bias, groups, weight.shape[1] * groups, weight.shape[0])
    (s,), (p,), (d,), input = _conv_geometry(op, input, weight, stride, padding, dilation)
    y = conv2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, s), (0, p), (1, d), groups).squeeze(2)
    return y.squeeze(0) if unbatched else y


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-d cross-correlation, as ``torch.nn.functional.conv3d``.

    input (N, C, D, H, W) or (C, D, H, W) float, weight (O, C/groups, kD, kH, kW), bias (O,) or None
    -> (N, O, D_out, H_out, W_out), each size as conv2d's; ``padding`` an int, a triple, ``'valid'`` or
    ``'same'``. Computed as the sum over the kD depth taps of one conv2d each, over the depth slices
    that tap reads (folded into the batch).
    """
    op = "conv3d"
    input, unbatched = batched(op, input, 3)
    _check_common(op, input, weight, bias, groups)
    _check_channels(op, input, weight, bias, groups, weight.shape[1] * groups, weight.shape[0])
    stride, padding, dilation, input = _conv_geometry(op, input, weight, stride, padding, dilation)
    if padding[0]:
        input = pad(input, (0, 0, 0, 0, padding[0], padding[0]))
    n, c, depth, h, w = input.shape
    kd, sd, dd = weight.shape[2], stride[0], dilation[0]
    d_out = (depth - dd * (kd - 1) - 1) // sd + 1
    slices = input.transpose(1, 2)  # (N, D, C, H, W): a depth slice is a batch of 2-d images
    y = None
    for tap in range(kd):
        start = tap * dd
        x = slices[:, start:start + (d_out - 1) * sd + 1:sd].reshape(n * d_out, c, h, w)
        z = conv2d(x, weight[:, :, tap], None, stride[1:], padding[1:], dilation[1:], groups)
        y = z if y is None else y + z
    y = y.reshape((n, d_out) + tuple(y.shape[1:])).transpose(1, 2).contiguous()
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1, 1)
    return y.squeeze(0) if unbatched else y


def _transposed_geometry(op, input, weight, stride, padding, output_padding, dilation):
    """(stride, padding, output_padding, dilation, output spatial size) of a transposed convolution."""
    n = input.ndim - 2
    stride = ntuple(stride, n, "stride", op, 1)
    padding = ntuple(padding, n, "padding", op, 0)
    dilation = ntuple(dilation, n, "dilation", op, 1)
    output_padding = ntuple(output_padding, n, "output_padding", op, 0)
    for o, s, d in zip(output_padding, stride, dilation):
        if o >= s and o >= d:
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than either "
                             f"stride {stride} or dilation {dilation}")
    out = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1 for i, s, p, d, k, o in
                zip(input.shape[2:], stride, padding, dilation, weight.shape[2:], output_padding))
    if min(out) < 1:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} with weight {tuple(weight.shape)}, "
                         f"stride {stride}, padding {padding}, dilation {dilation} gives output size "
                         f"{out}, which is too small")
    return stride, padding, output_padding, dilation, out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-d transposed convolution, as ``torch.nn.functional.conv_transpose1d``: conv_transpose2d over a
    unit height. input (N, C_in, L) or (C_in, L), weight (C_in, C_out/groups, k) -> (N, C_out, L_out),
    L_out = (L-1)*stride - 2*pad + dil*(k-1) + output_padding + 1.
    """
    op = "conv_transpose1d"
    input, unbatched = batched(op, input, 1)
    _check_common(op, input, weight, bias, groups)
    _check_channels(op, input, weight, bias, groups, weight.shape[0], weight.shape[1] * groups)
    (s,), (p,), (o,), (d,) = _transposed_geometry(op, input, weight, stride, padding, output_padding, dilation)[:4]
    y = conv_transpose2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, s), (0, p), (0, o), groups,
                         (1, d)).squeeze(2)
    return y.squeeze(0) if unbatched else y


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-d transposed convolution, as ``torch.nn.functional.conv_transpose3d`` (the adjoint of conv3d).

    input (N, C_in, D, H, W) or unbatched, weight (C_in, C_out/groups, kD, kH, kW), bias (C_out,) or None
    -> (N, C_out, D_out, H_out, W_out), D_out = (D-1)*stride - 2*pad + dil*(kD-1) + output_padding + 1.
    Each depth tap is one conv_transpose2d of every input slice (folded into the batch); its output
    slice d lands at depth d*stride + tap*dilation - padding (strided by zero insertion, placed by
    padding), and the taps add up.
    """
    op = "conv_transpose3d"
    input, unbatched = batched(op, input, 3)
    _check_common(op, input, weight, bias, groups)
    _check_channels(op, input, weight, bias, groups, weight.shape[0], weight.shape[1] * groups)
    stride, padding, output_padding, dilation, out = _transposed_geometry(op, input, weight, stride, padding,
                                                                          output_padding, dilation)
    n, c, depth, h, w = input.shape
    sd, pd, dd = stride[0], padding[0], dilation[0]
    full = (depth - 1) * sd + dd * (weight.shape[2] - 1) + 1  # the depth before cropping the padding
    x = input.transpose(1, 2).reshape(n * depth, c, h, w)
    y = None
    for tap in range(weight.shape[2]):
        z = conv_transpose2d(x, weight[:, :, tap], None, stride[1:], padding[1:], output_padding[1:], groups,
                             dilation[1:])
        z = z.reshape((n, depth, 1) + tuple(z.shape[1:]))
        if sd > 1:  # slice d at depth d*stride: sd-1 zero slices after each, as one (N, D*sd, ...) run
            z = pad(z, (0, 0) * 3 + (0, sd - 1))
        z = z.reshape((n, depth * sd) + tuple(z.shape[3:]))
        start = tap * dd - pd
        z = pad(z, (0, 0) * 3 + (start, out[0] - start - depth * sd))
        y = z if y is None else y + z
    y = y.transpose(1, 2).contiguous()
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1, 1)
    return y.squeeze(0) if unbatched else y
