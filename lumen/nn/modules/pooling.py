"""Pooling layers over 1, 2 or 3 spatial dims (N, C, *spatial), and max unpooling."""
from __future__ import annotations

from lumen.nn import functional as F
from lumen.nn.module import Module
from lumen.nn.modules.conv import _ntuple

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
           "LPPool1d", "LPPool2d", "LPPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"]


class _MaxPoolNd(Module):
    """Max over ``kernel_size`` windows; ``stride`` defaults to ``kernel_size``, ``ceil_mode=True`` rounds
    the output size up (Caffe's pooling), ``return_indices=True`` also returns the int64 argmax flat over
    each input plane (volume). The arguments are kept as given, as PyTorch does."""

    _pool = None  # F.max_pool1d/2d/3d

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return type(self)._pool(input, self.kernel_size, stride=self.stride, padding=self.padding,
                                dilation=self.dilation, ceil_mode=self.ceil_mode,
                                return_indices=self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """(N, C, L) or (C, L) -> (N, C, L_out)."""

    _pool = F.max_pool1d


class MaxPool2d(_MaxPoolNd):
    """(N, C, H, W) -> (N, C, H_out, W_out)."""

    _pool = F.max_pool2d


class MaxPool3d(_MaxPoolNd):
    """(N, C, D, H, W) or (C, D, H, W) -> (N, C, D_out, H_out, W_out)."""

    _pool = F.max_pool3d


class AvgPool1d(Module):
    """Mean over ``kernel_size`` windows: (N, C, L) or (C, L) -> (N, C, L_out). Its arguments are kept as
    1-tuples, as PyTorch's."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, 1, "kernel_size")
        self.stride = _ntuple(stride if stride is not None else kernel_size, 1, "stride")
        self.padding = _ntuple(padding, 1, "padding")
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolNd(Module):
    """Mean over ``kernel_size`` windows (PyTorch's padding/divisor rules); arguments kept as given."""

    _pool = None  # F.avg_pool2d/3d

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return type(self)._pool(input, self.kernel_size, stride=self.stride, padding=self.padding,
                                ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad,
                                divisor_override=self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """(N, C, H, W) -> (N, C, H_out, W_out)."""

    _pool = F.avg_pool2d


class AvgPool3d(_AvgPoolNd):
    """(N, C, D, H, W) or (C, D, H, W) -> (N, C, D_out, H_out, W_out)."""

    _pool = F.avg_pool3d


class _AdaptivePoolNd(Module):
    """Pooling to a fixed ``output_size`` (an int, or one entry per dim with None keeping that dim)."""

    _pool = None

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return type(self)._pool(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    _pool = F.adaptive_avg_pool1d


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    _pool = F.adaptive_avg_pool2d


class AdaptiveAvgPool3d(_AdaptivePoolNd):
    _pool = F.adaptive_avg_pool3d


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    """Max over adaptive windows; ``return_indices=True`` also returns the int64 argmax flat per plane."""

    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return type(self)._pool(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    _pool = F.adaptive_max_pool1d


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    _pool = F.adaptive_max_pool2d


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    _pool = F.adaptive_max_pool3d


class _LPPoolNd(Module):
    """Power-average pooling: (sum over each window of x**norm_type) ** (1/norm_type)."""

    _pool = None

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return type(self)._pool(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    _pool = F.lp_pool1d


class LPPool2d(_LPPoolNd):
    _pool = F.lp_pool2d


class LPPool3d(_LPPoolNd):
    _pool = F.lp_pool3d


class _MaxUnpoolNd(Module):
    """The partial inverse of a max pool: ``forward(input, indices, output_size=None)`` puts each value at
    its index in a zero output (see ``F.max_unpool2d``). Arguments kept as n-tuples, as PyTorch's."""

    _pool = None
    _dims = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        n = self._dims
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size")
        self.stride = _ntuple(stride if stride is not None else kernel_size, n, "stride")
        self.padding = _ntuple(padding, n, "padding")

    def forward(self, input, indices, output_size=None):
        return type(self)._pool(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    _pool = F.max_unpool1d
    _dims = 1


class MaxUnpool2d(_MaxUnpoolNd):
    _pool = F.max_unpool2d


class MaxUnpool3d(_MaxUnpoolNd):
    _pool = F.max_unpool3d
    _dims = 3
