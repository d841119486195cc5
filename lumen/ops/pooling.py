"""Pooling: ``max_pool2d``, ``avg_pool2d``, ``adaptive_avg_pool2d``.

Max and average pooling are linear in the input once the argmax is fixed, so each forward/backward
pair are adjoints and each one's backward applies the other (double backward works).
"""
from __future__ import annotations

from ..autograd.function import Function
from ._check import check_4d, check_float, pair
from .resample import AxisGather, adaptive_avg_terms

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


class MaxPool2d(Function):
    """x (N,C,H,W) -> (y (N,C,Ho,Wo), int64 flat indices into each H*W plane)."""

    def __init__(self, kernel, stride, padding, dilation, ceil_mode):
        self.kernel, self.stride, self.padding, self.dilation = kernel, stride, padding, dilation
        self.ceil_mode = ceil_mode

    def forward(self, x):
        self.x_shape = x.shape
        y, idx = self.backend.max_pool2d_forward(x, self.kernel, self.stride, self.padding,
                                                 self.dilation, self.ceil_mode)
        self.mark_non_differentiable(1)
        self.save_outputs(1)
        return y, idx

    def backward(self, gy, _):
        (idx,) = self.saved_outputs
        return MaxPool2dBackward.apply(gy, idx, x_shape=self.x_shape)


class MaxPool2dBackward(Function):
    """Scatter-add gy (N,C,Ho,Wo) to the argmax ``indices`` (N,C,Ho,Wo) -> (N,C,H,W) of ``x_shape``."""

    def __init__(self, x_shape):
        self.x_shape = x_shape

    def forward(self, gy, indices):
        self.save_inputs(1)
        return self.backend.max_pool2d_backward(gy, indices, self.x_shape)

    def backward(self, ggx):
        (idx,) = self.saved_inputs
        return MaxPoolGather.apply(ggx, idx), None


class MaxPoolGather(Function):
    """Read x (N,C,H,W) at the argmax ``indices`` (N,C,Ho,Wo) -> (N,C,Ho,Wo); the adjoint of the scatter."""

    def forward(self, x, indices):
        self.x_shape = x.shape
        self.save_inputs(1)
        n, c = x.shape[:2]
        flat = self.backend.take_along_axis(x.reshape(n, c, -1), indices.reshape(n, c, -1), axis=2)
        return flat.reshape(indices.shape)

    def backward(self, gy):
        (idx,) = self.saved_inputs
        return MaxPool2dBackward.apply(gy, idx, x_shape=self.x_shape), None


class _AvgPoolFunction(Function):
    def __init__(self, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        self.kernel, self.stride, self.padding, self.ceil_mode = kernel, stride, padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def window(self):
        return dict(kernel=self.kernel, stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode,
                    count_include_pad=self.count_include_pad, divisor_override=self.divisor_override)


class AvgPool2d(_AvgPoolFunction):
    def forward(self, x):
        self.x_shape = x.shape
        return self.backend.avg_pool2d_forward(x, self.kernel, self.stride, self.padding, self.ceil_mode,
                                               self.count_include_pad, self.divisor_override)

    def backward(self, gy):
        return AvgPool2dBackward.apply(gy, x_shape=self.x_shape, **self.window())


class AvgPool2dBackward(_AvgPoolFunction):
    def __init__(self, x_shape, **window):
        super().__init__(**window)
        self.x_shape = x_shape

    def forward(self, gy):
        return self.backend.avg_pool2d_backward(gy, self.x_shape, self.kernel, self.stride, self.padding,
                                                self.ceil_mode, self.count_include_pad,
                                                self.divisor_override)

    def backward(self, ggx):
        return AvgPool2d.apply(ggx, **self.window())


def _window(op, input, kernel_size, stride, padding):
    """Check a pooling input (4-d float) and normalise its window: (kernel, stride, padding) pairs,
    stride defaulting to the kernel."""
    check_4d(input, op)
    check_float(input, op)
    kernel = pair(kernel_size, "kernel_size", op, 1)
    stride = kernel if stride is None or stride == [] else pair(stride, "stride", op, 1)
    return kernel, stride, pair(padding, "padding", op, 0)


def _pool_output(op, input, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's pooling output size; raises if padding exceeds half the kernel or output is empty."""
    for k, p in zip(kernel, padding):
        if p > k // 2:
            raise ValueError(f"{op}: padding {padding} should be at most half of kernel_size {kernel}")
    out = []
    for n, k, s, p, d in zip(input.shape[2:], kernel, stride, padding, dilation):
        span = n + 2 * p - d * (k - 1) - 1
        o = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= n + p:
            o -= 1
        out.append(o)
    if min(out) < 1:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} with kernel_size {kernel}, "
                         f"stride {stride}, padding {padding}, dilation {dilation} gives output size "
                         f"{tuple(out)}, which is too small")
    return tuple(out)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-d max pooling, as ``torch.nn.functional.max_pool2d``.

    input (N, C, H, W) float -> (N, C, H_out, W_out); with ``return_indices`` also the int64
    argmax positions flattened over each H*W plane (as PyTorch). ``stride`` defaults to the kernel;
    padding pads with -inf; ``ceil_mode`` rounds the output size up (Caffe's pooling).
    """
    op = "max_pool2d"
    kernel, stride, padding = _window(op, input, kernel_size, stride, padding)
    dilation = pair(dilation, "dilation", op, 1)
    out = _pool_output(op, input, kernel, stride, padding, dilation, ceil_mode)
    for axis, n, o, k, st, p, d in zip("HW", input.shape[2:], out, kernel, stride, padding, dilation):
        # Every window starts below n and ends at or above 0 (padding <= kernel // 2, and the output size
        # rule), so with taps at most n apart one lands inside: only a dilation above n can skip the input.
        if d > n and not all(any(0 <= i * st - p + j * d < n for j in range(k)) for i in range(o)):
            raise ValueError(f"{op}: with input {tuple(input.shape)}, kernel_size {kernel}, padding {padding} "
                             f"and dilation {dilation} some window along {axis} covers only padding")
    y, idx = MaxPool2d.apply(input, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                             ceil_mode=bool(ceil_mode))
    return (y, idx) if return_indices else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-d average pooling, as ``torch.nn.functional.avg_pool2d``.

    input (N, C, H, W) float -> (N, C, H_out, W_out). The divisor is the window size clipped to the
    padded input (``count_include_pad``) or to the input, unless ``divisor_override`` is given.
    """
    op = "avg_pool2d"
    kernel, stride, padding = _window(op, input, kernel_size, stride, padding)
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
    _pool_output(op, input, kernel, stride, padding, (1, 1), ceil_mode)
    return AvgPool2d.apply(input, kernel=kernel, stride=stride, padding=padding, ceil_mode=bool(ceil_mode),
                           count_include_pad=bool(count_include_pad), divisor_override=divisor_override)


def adaptive_avg_pool2d(input, output_size):
    """Average over PyTorch's adaptive windows [floor(i*H/Ho), ceil((i+1)*H/Ho)).

    input (N, C, H, W) float -> (N, C, Ho, Wo); ``output_size`` an int or a pair whose entries
    may be None (keep that input size).
    """
    op = "adaptive_avg_pool2d"
    check_4d(input, op)
    check_float(input, op)
    sizes = tuple(output_size) if isinstance(output_size, (list, tuple)) else (output_size, output_size)
    sizes = tuple(n if s is None else s for s, n in zip(sizes, input.shape[2:]))
    out = pair(sizes, "output_size", op, 1)
    h, w = input.shape[2:]
    if min(h, w) < 1:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} has an empty spatial dim")
    if h % out[0] == 0 and w % out[1] == 0:
        k = (h // out[0], w // out[1])
        return AvgPool2d.apply(input, kernel=k, stride=k, padding=(0, 0), ceil_mode=False,
                               count_include_pad=True, divisor_override=None)
    y = input
    for axis, n_in, n_out in ((2, h, out[0]), (3, w, out[1])):
        if n_in != n_out:
            y = AxisGather.apply(y, axis=axis, terms=adaptive_avg_terms(input.backend, n_in, n_out, input.dtype.np))
    return y
