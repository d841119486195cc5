"""Pooling: max, average, adaptive and power-average pooling in 1, 2 and 3 dims, and max unpooling.

Max and average pooling are linear in the input once the argmax is fixed, so each forward/backward
pair are adjoints and each one's backward applies the other (double backward works). The 1-d ops are
the 2-d ones over a unit height; the 3-d ones pool each depth slice in 2-d, then along depth, with the
same 2-d primitives (a (kD, 1) window over (D, H_out*W_out)): max and mean over a box are both
separable. Max-pool indices are flat over each input plane or volume (as PyTorch), so one gather
(``MaxPoolGather``) and its adjoint scatter serve every dimension, over the input viewed as 2-d planes.
"""
from __future__ import annotations

import itertools

from ..autograd.function import Function
from ..device import placed
from ._check import check_4d, check_float
from .activation import relu
from .conv import batched, ntuple
from .resample import AxisGather, adaptive_avg_terms

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "adaptive_max_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d",
           "max_unpool2d", "max_unpool3d"]


def _planes(shape):
    """An (N, C, *spatial) shape as the (N, C, rows, last) planes the 2-d primitives take."""
    rows = 1
    for size in shape[2:-1]:
        rows *= size
    return tuple(shape[:2]) + (rows, shape[-1])


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


class MaxUnpool(Function):
    """Put x (N,C,rows,W) at its flat ``indices`` (x's shape) in zero planes of ``y_shape`` (N,C,H',W').

    Max-pool indices that repeat (overlapping windows) point at one input value, which is written once, as
    PyTorch does; the gradient reads gy back at every index (PyTorch's too: a gather, whose adjoint scatter
    is its backward in turn)."""

    def __init__(self, y_shape):
        self.y_shape = y_shape

    def forward(self, x, indices):
        self.save_inputs(1)
        n, c, h, w = self.y_shape
        y = self.backend.zeros((n * c, h * w), dtype=x.dtype)
        rows = self.backend.arange(n * c).reshape(-1, 1)
        y[rows, indices.reshape(n * c, -1)] = x.reshape(n * c, -1)
        return y.reshape(self.y_shape)

    def backward(self, gy):
        (idx,) = self.saved_inputs
        return MaxPoolGather.apply(gy, idx), None


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


class MaxPool3d(Function):
    """x (N,C,D,H,W) -> (y (N,C,Do,Ho,Wo), int64 indices flat over each D*H*W volume).

    A 2-d max pool of every depth slice, then one along depth over the slices' maxima; ties go to the
    first tap in (d, h, w) order, as PyTorch's."""

    def __init__(self, kernel, stride, padding, dilation, ceil_mode):
        self.kernel, self.stride, self.padding, self.dilation = kernel, stride, padding, dilation
        self.ceil_mode = ceil_mode

    def forward(self, x):
        self.x_shape = x.shape
        n, c, d, h, w = x.shape
        pool = self.backend.max_pool2d_forward
        m, at_hw = pool(x.reshape(n, c * d, h, w), self.kernel[1:], self.stride[1:], self.padding[1:],
                        self.dilation[1:], self.ceil_mode)
        ho, wo = m.shape[2:]
        y, at_d = pool(m.reshape(n, c, d, ho * wo), (self.kernel[0], 1), (self.stride[0], 1),
                       (self.padding[0], 0), (self.dilation[0], 1), self.ceil_mode)
        depth = at_d // (ho * wo)
        at_hw = self.backend.take_along_axis(at_hw.reshape(n, c, d, ho * wo), depth, axis=2)
        idx = (depth * (h * w) + at_hw).reshape(n, c, -1, ho, wo)
        self.mark_non_differentiable(1)
        self.save_outputs(1)
        return y.reshape(idx.shape), idx

    def backward(self, gy, _):
        (idx,) = self.saved_outputs
        planes = _planes(gy.shape)
        return MaxPool2dBackward.apply(gy.reshape(planes), idx.reshape(planes),
                                       x_shape=_planes(self.x_shape)).reshape(self.x_shape)


class AdaptiveMaxPool(Function):
    """x (N,C,*spatial) -> (y (N,C,*output_size), int64 indices flat over each input plane or volume) over
    PyTorch's adaptive windows [floor(i*L/Lo), ceil((i+1)*L/Lo)) per axis; ties go to the first position in
    row-major order, a later NaN replaces the max, as PyTorch's kernels."""

    def __init__(self, output_size):
        self.output_size = output_size

    def forward(self, x):
        self.x_shape = x.shape
        n, c = x.shape[:2]
        spatial, out = x.shape[2:], self.output_size
        be = self.backend
        # each tap's index is inside its window (short windows repeat their last one): a repeat never wins
        axes = [[idx for idx, _ in adaptive_avg_terms(be, size, o, x.dtype)] for size, o in zip(spatial, out)]
        strides = [1] * len(spatial)
        for a in range(len(spatial) - 2, -1, -1):
            strides[a] = strides[a + 1] * spatial[a + 1]
        flat = x.reshape(n, c, -1)
        best = idx = None
        for taps in itertools.product(*axes):
            tap = 0
            for a, (t, stride) in enumerate(zip(taps, strides)):
                tap = tap + t.reshape(tuple(-1 if b == a else 1 for b in range(len(out)))) * stride
            tap = tap.reshape(-1)
            v = flat[:, :, tap]
            if best is None:
                best, idx = v, be.broadcast_to(tap, v.shape)
                continue
            wins = (v > best) | (v != v)
            best, idx = be.where(wins, v, best), be.where(wins, tap, idx)
        self.mark_non_differentiable(1)
        self.save_outputs(1)
        shape = (n, c) + tuple(out)
        return best.reshape(shape), be.ascontiguousarray(idx).reshape(shape)

    def backward(self, gy, _):
        (idx,) = self.saved_outputs
        planes = _planes(gy.shape)
        return MaxPool2dBackward.apply(gy.reshape(planes), idx.reshape(planes),
                                       x_shape=_planes(self.x_shape)).reshape(self.x_shape)


def _window(op, input, n, kernel_size, stride, padding):
    """Check a pooling input (float, n spatial dims, batched or not) and normalise its window:
    ``(batched input, whether unbatched, kernel, stride, padding)``, stride defaulting to the kernel."""
    input, unbatched = batched(op, input, n)
    check_float(input, op)
    kernel = ntuple(kernel_size, n, "kernel_size", op, 1)
    stride = kernel if stride is None or stride == [] else ntuple(stride, n, "stride", op, 1)
    return input, unbatched, kernel, stride, ntuple(padding, n, "padding", op, 0)


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


def _max_window(op, input, n, kernel_size, stride, padding, dilation, ceil_mode):
    """``(batched input, unbatched, kernel, stride, padding, dilation)`` of a max pool, checked."""
    input, unbatched, kernel, stride, padding = _window(op, input, n, kernel_size, stride, padding)
    dilation = ntuple(dilation, n, "dilation", op, 1)
    out = _pool_output(op, input, kernel, stride, padding, dilation, ceil_mode)
    for axis, size, o, k, st, p, d in zip("DHW"[-n:], input.shape[2:], out, kernel, stride, padding, dilation):
        # Every window starts below size and ends at or above 0 (padding <= kernel // 2, and the output
        # size rule), so with taps at most size apart one lands inside: only a larger dilation can skip it.
        if d > size and not all(any(0 <= i * st - p + j * d < size for j in range(k)) for i in range(o)):
            raise ValueError(f"{op}: with input {tuple(input.shape)}, kernel_size {kernel}, padding {padding} "
                             f"and dilation {dilation} some window along {axis} covers only padding")
    return input, unbatched, kernel, stride, padding, dilation


def _unbatch(unbatched, *outputs):
    outputs = tuple(t.squeeze(0) for t in outputs) if unbatched else outputs
    return outputs if len(outputs) > 1 else outputs[0]


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-d max pooling, as ``torch.nn.functional.max_pool1d``: (N, C, L) or (C, L) -> (N, C, L_out);
    with ``return_indices`` also the int64 argmax positions along L."""
    op = "max_pool1d"
    input, unbatched, kernel, stride, padding, dilation = _max_window(op, input, 1, kernel_size, stride,
                                                                      padding, dilation, ceil_mode)
    y, idx = MaxPool2d.apply(input.unsqueeze(2), kernel=(1,) + kernel, stride=(1,) + stride,
                             padding=(0,) + padding, dilation=(1,) + dilation, ceil_mode=bool(ceil_mode))
    y, idx = y.squeeze(2), idx.squeeze(2)
    return _unbatch(unbatched, y, idx) if return_indices else _unbatch(unbatched, y)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-d max pooling, as ``torch.nn.functional.max_pool2d``.

    input (N, C, H, W) float -> (N, C, H_out, W_out); with ``return_indices`` also the int64
    argmax positions flattened over each H*W plane (as PyTorch). ``stride`` defaults to the kernel;
    padding pads with -inf; ``ceil_mode`` rounds the output size up (Caffe's pooling).
    """
    check_4d(input, "max_pool2d")  # PyTorch also takes (C, H, W): see the report on tests/ops/test_pooling.py
    input, unbatched, kernel, stride, padding, dilation = _max_window("max_pool2d", input, 2, kernel_size,
                                                                      stride, padding, dilation, ceil_mode)
    y, idx = MaxPool2d.apply(input, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                             ceil_mode=bool(ceil_mode))
    return _unbatch(unbatched, y, idx) if return_indices else _unbatch(unbatched, y)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-d max pooling, as ``torch.nn.functional.max_pool3d``: (N, C, D, H, W) or unbatched
    -> (N, C, D_out, H_out, W_out); indices flat over each D*H*W volume."""
    input, unbatched, kernel, stride, padding, dilation = _max_window("max_pool3d", input, 3, kernel_size,
                                                                      stride, padding, dilation, ceil_mode)
    y, idx = MaxPool3d.apply(input, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                             ceil_mode=bool(ceil_mode))
    return _unbatch(unbatched, y, idx) if return_indices else _unbatch(unbatched, y)


def _avg_window(op, input, n, kernel_size, stride, padding, ceil_mode, divisor_override):
    input, unbatched, kernel, stride, padding = _window(op, input, n, kernel_size, stride, padding)
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
    _pool_output(op, input, kernel, stride, padding, (1,) * n, ceil_mode)
    return input, unbatched, kernel, stride, padding


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-d average pooling, as ``torch.nn.functional.avg_pool1d``: (N, C, L) or (C, L) -> (N, C, L_out)."""
    input, unbatched, kernel, stride, padding = _avg_window("avg_pool1d", input, 1, kernel_size, stride,
                                                            padding, ceil_mode, None)
    y = AvgPool2d.apply(input.unsqueeze(2), kernel=(1,) + kernel, stride=(1,) + stride, padding=(0,) + padding,
                        ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
                        divisor_override=None)
    return _unbatch(unbatched, y.squeeze(2))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-d average pooling, as ``torch.nn.functional.avg_pool2d``.

    input (N, C, H, W) float -> (N, C, H_out, W_out). The divisor is the window size clipped
    to the padded input (``count_include_pad``) or to the input, unless ``divisor_override`` is given.
    """
    check_4d(input, "avg_pool2d")
    input, unbatched, kernel, stride, padding = _avg_window("avg_pool2d", input, 2, kernel_size, stride,
                                                            padding, ceil_mode, divisor_override)
    y = AvgPool2d.apply(input, kernel=kernel, stride=stride, padding=padding, ceil_mode=bool(ceil_mode),
                        count_include_pad=bool(count_include_pad), divisor_override=divisor_override)
    return _unbatch(unbatched, y)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3-d average pooling, as ``torch.nn.functional.avg_pool3d``: (N, C, D, H, W) or unbatched
    -> (N, C, D_out, H_out, W_out).

    PyTorch's divisor is the product of the per-axis window lengths (each clipped as in 2-d), so this is a
    2-d average of every depth slice, then one along depth; with ``divisor_override`` both stages sum
    and the second divides by it.
    """
    op = "avg_pool3d"
    input, unbatched, kernel, stride, padding = _avg_window(op, input, 3, kernel_size, stride, padding, ceil_mode,
                                                            divisor_override)
    if any(size < k for size, k in zip(input.shape[2:], kernel)):  # PyTorch's 3-d check ignores the padding
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} is smaller than kernel_size {kernel}")
    n, c, d, h, w = input.shape
    rules = dict(ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))
    y = AvgPool2d.apply(input.reshape(n, c * d, h, w), kernel=kernel[1:], stride=stride[1:], padding=padding[1:],
                        divisor_override=None if divisor_override is None else 1, **rules)
    ho, wo = y.shape[2:]
    y = AvgPool2d.apply(y.reshape(n, c, d, ho * wo), kernel=(kernel[0], 1), stride=(stride[0], 1),
                        padding=(padding[0], 0), divisor_override=divisor_override, **rules)
    return _unbatch(unbatched, y.reshape(n, c, -1, ho, wo))


def _adaptive_size(op, input, output_size, n):
    """``output_size`` (an int, or n entries of which None keeps that input size) as an n-tuple."""
    sizes = tuple(output_size) if isinstance(output_size, (list, tuple)) else (output_size,) * n
    if n == 1 and None in sizes:  # PyTorch's 1-d adaptive pools take ints only
        raise TypeError(f"{op}: output_size must be an int, got {output_size!r}")
    if len(sizes) != n:
        raise ValueError(f"{op}: output_size must be an int or {n} ints (or None), got {output_size!r}")
    sizes = tuple(size if s is None else s for s, size in zip(sizes, input.shape[2:]))
    out = ntuple(sizes, n, "output_size", op, 1)
    if min(input.shape[2:]) < 1:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} has an empty spatial dim")
    return out


def _adaptive_avg(op, input, output_size, n):
    input, unbatched = batched(op, input, n)
    check_float(input, op)
    out = _adaptive_size(op, input, output_size, n)
    spatial = tuple(input.shape[2:])
    if n == 2 and all(size % o == 0 for size, o in zip(spatial, out)):
        k = tuple(size // o for size, o in zip(spatial, out))
        y = AvgPool2d.apply(input, kernel=k, stride=k, padding=(0, 0), ceil_mode=False,
                            count_include_pad=True, divisor_override=None)
        return _unbatch(unbatched, y)
    y = input
    for axis, n_in, n_out in zip(range(2, 2 + n), spatial, out):
        if n_in != n_out:
            with placed(input._device):
                terms = adaptive_avg_terms(input.backend, n_in, n_out, input.dtype.np)
            y = AxisGather.apply(y, axis=axis, terms=terms)
    return _unbatch(unbatched, y)


def adaptive_avg_pool1d(input, output_size):
    """Average over PyTorch's adaptive windows [floor(i*L/Lo), ceil((i+1)*L/Lo)): (N, C, L) -> (N, C, Lo)."""
    return _adaptive_avg("adaptive_avg_pool1d", input, output_size, 1)


def adaptive_avg_pool2d(input, output_size):
    """Average over PyTorch's adaptive windows [floor(i*H/Ho), ceil((i+1)*H/Ho)).

    input (N, C, H, W) float -> (N, C, Ho, Wo); ``output_size`` an int or a pair whose
    entries may be None (keep that input size).
    """
    check_4d(input, "adaptive_avg_pool2d")
    return _adaptive_avg("adaptive_avg_pool2d", input, output_size, 2)


def adaptive_avg_pool3d(input, output_size):
    """Adaptive average pooling over (D, H, W), as ``torch.nn.functional.adaptive_avg_pool3d``."""
    return _adaptive_avg("adaptive_avg_pool3d", input, output_size, 3)


def _adaptive_max(op, input, output_size, return_indices, n):
    input, unbatched = batched(op, input, n)
    check_float(input, op)
    y, idx = AdaptiveMaxPool.apply(input, output_size=_adaptive_size(op, input, output_size, n))
    return _unbatch(unbatched, y, idx) if return_indices else _unbatch(unbatched, y)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Adaptive max pooling along L: (N, C, L) or (C, L) -> (N, C, Lo), indices along L."""
    return _adaptive_max("adaptive_max_pool1d", input, output_size, return_indices, 1)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over PyTorch's adaptive windows: (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo); with
    ``return_indices`` also the int64 argmax flat over each H*W plane. ``output_size`` as in
    :func:`adaptive_avg_pool2d`."""
    return _adaptive_max("adaptive_max_pool2d", input, output_size, return_indices, 2)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Adaptive max pooling over (D, H, W), as ``torch.nn.functional.adaptive_max_pool3d``; indices flat over
    each D*H*W volume."""
    return _adaptive_max("adaptive_max_pool3d", input, output_size, return_indices, 3)


def _lp_pool(avg_pool, n, input, norm_type, kernel_size, stride, ceil_mode):
    """PyTorch's power-average pooling: (sum of x**p over the window) ** (1/p), from an average pool
    of x**p times the window size (its sign kept through the root, as PyTorch's formula)."""
    size = 1
    for k in ntuple(kernel_size, n, "kernel_size", f"lp_pool{n}d", 1):
        size *= k
    out = avg_pool(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (out.sign() * relu(out.abs())).mul(size).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """1-d power-average pooling, as ``torch.nn.functional.lp_pool1d``."""
    return _lp_pool(avg_pool1d, 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """2-d power-average pooling, as ``torch.nn.functional.lp_pool2d``: ``norm_type`` p gives
    (sum over the window of x**p) ** (1/p); p = inf is max pooling's limit (use max_pool2d)."""
    return _lp_pool(avg_pool2d, 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """3-d power-average pooling, as ``torch.nn.functional.lp_pool3d``."""
    return _lp_pool(avg_pool3d, 3, input, norm_type, kernel_size, stride, ceil_mode)


def _max_unpool(op, n, input, indices, kernel_size, stride, padding, output_size):
    """Scatter ``input`` to the flat ``indices`` (a max pool's) in a zero output of PyTorch's default size
    ``(L_in - 1) * stride - 2 * padding + kernel`` per axis, or of ``output_size`` (its last n entries)."""
    input, unbatched = batched(op, input, n)
    check_float(input, op)
    indices = indices.unsqueeze(0) if unbatched else indices
    if tuple(indices.shape) != tuple(input.shape) or indices.dtype.is_floating_point:
        raise ValueError(f"{op}: indices must be an integer tensor of the input's shape {tuple(input.shape)}, "
                         f"got {indices.dtype} of shape {tuple(indices.shape)}")
    kernel = ntuple(kernel_size, n, "kernel_size", op, 1)
    stride = kernel if stride is None else ntuple(stride, n, "stride", op, 1)
    padding = ntuple(padding, n, "padding", op, 0)
    default = tuple((i - 1) * s - 2 * p + k for i, s, p, k in zip(input.shape[2:], stride, padding, kernel))
    if output_size is None:
        out = default
    else:
        out = tuple(output_size)[-n:]
        if len(tuple(output_size)) not in (n, n + 2) or any(
                not d - s < o < d + s for o, d, s in zip(out, default, stride)):
            raise ValueError(f"{op}: output_size {tuple(output_size)} must be {n} (or {n + 2}) sizes, each "
                             f"within one stride of the default {default} (stride {stride})")
    volume = 1
    for o in out:
        volume *= o
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= volume):
        raise RuntimeError(f"{op}: indices must lie in [0, {volume}) for output size {out}, got values in "
                           f"[{int(indices.min())}, {int(indices.max())}]")
    shape = tuple(input.shape[:2]) + out
    planes = _planes(input.shape)
    y = MaxUnpool.apply(input.reshape(planes), indices.long().reshape(planes), y_shape=_planes(shape))
    return _unbatch(unbatched, y.reshape(shape))


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool1d, as ``torch.nn.functional.max_unpool1d`` (see max_unpool2d)."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool2d, as ``torch.nn.functional.max_unpool2d``: every value goes to its
    index in a zero (N, C, H_out, W_out); an index that repeats (overlapping windows) is written once."""
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool3d, as ``torch.nn.functional.max_unpool3d`` (see max_unpool2d)."""
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)


def _with_indices(pool):
    """torch.nn.functional's ``<pool>_with_indices``: the pool, always returning (values, indices);
    ``return_indices`` is accepted (torch's signature has it) and changes nothing, as in torch."""
    def pool_with_indices(input, *args, return_indices=False, **kwargs):
        return pool(input, *args, return_indices=True, **kwargs)
    pool_with_indices.__name__ = pool_with_indices.__qualname__ = f"{pool.__name__}_with_indices"
    pool_with_indices.__doc__ = f"``{pool.__name__}(..., return_indices=True)``: (values, int64 indices)."
    return pool_with_indices


max_pool1d_with_indices = _with_indices(max_pool1d)
max_pool2d_with_indices = _with_indices(max_pool2d)
max_pool3d_with_indices = _with_indices(max_pool3d)
adaptive_max_pool1d_with_indices = _with_indices(adaptive_max_pool1d)
adaptive_max_pool2d_with_indices = _with_indices(adaptive_max_pool2d)
adaptive_max_pool3d_with_indices = _with_indices(adaptive_max_pool3d)
__all__ += ["max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
            "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
            "adaptive_max_pool3d_with_indices"]
