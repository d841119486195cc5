"""Convolution layers: ``Conv2d`` and ``ConvTranspose2d`` (Caffe's Deconvolution)."""
from __future__ import annotations

import lumen
from lumen.nn import functional as F
from lumen.nn.module import Module
from lumen.nn.parameter import Parameter
from lumen.nn.modules.utils import _pair, default_reset, describe

__all__ = ["Conv2d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, device, dtype):
        super().__init__()
        name = type(self).__name__
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups != 0:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups != 0:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, "
                             f"got {padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        if isinstance(padding, str):
            if transposed or padding not in ("same", "valid"):
                allowed = "an int or a pair of ints" + ("" if transposed else ", 'same' or 'valid'")
                raise ValueError(f"{name}: padding must be {allowed}, got {padding!r}")
            if padding == "same" and padding_mode != "zeros":
                raise ValueError(f"{name}: padding='same' works with padding_mode='zeros' only, "
                                 f"got {padding_mode!r}")
            self.padding = padding  # F.conv2d resolves it, PyTorch's way
        else:
            self.padding = _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        self.transposed = transposed
        self.output_padding = _pair(output_padding, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        if transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(lumen.empty(shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(lumen.empty((out_channels,), dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        default_reset(self.weight, self.bias)

    def extra_repr(self):
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0, 0):
            s += ", padding={padding}"
        if self.dilation != (1, 1):
            s += ", dilation={dilation}"
        if self.output_padding != (0, 0):
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)

    def _check_input(self, input):
        if not isinstance(input, lumen.Tensor) or input.ndim != 4:
            raise ValueError(f"{type(self).__name__} expects a 4-d (N, C, H, W) Tensor, got {describe(input)}")
        if input.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}: input has {input.shape[1]} channels (shape "
                f"{tuple(input.shape)}) but the layer expects in_channels={self.in_channels}")


class Conv2d(_ConvNd):
    """2-d convolution. input (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    weight (C_out, C_in/groups, kH, kW), bias (C_out,). ``padding_mode`` other than
    "zeros" pads explicitly ("reflect", "replicate", "circular") before a convolution
    without padding, as PyTorch does.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)

    def forward(self, input):
        self._check_input(input)
        if self.padding_mode != "zeros" and self.padding != "valid":
            ph, pw = self.padding
            padded = F.pad(input, (pw, pw, ph, ph), mode=self.padding_mode)
            return F.conv2d(padded, self.weight, self.bias, stride=self.stride,
                            padding=0, dilation=self.dilation, groups=self.groups)
        return F.conv2d(input, self.weight, self.bias, stride=self.stride, padding=self.padding,
                        dilation=self.dilation, groups=self.groups)


class ConvTranspose2d(_ConvNd):
    """2-d transposed convolution (Caffe's Deconvolution). (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    ``H_out = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1``.
    weight (C_in, C_out/groups, kH, kW), bias (C_out,). ``forward(input, output_size)``
    picks ``output_padding`` to reach ``output_size`` as PyTorch does.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'ConvTranspose2d only supports padding_mode="zeros", got {padding_mode!r}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         True, output_padding, groups, bias, padding_mode, device, dtype)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= s and op >= d:
                raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be "
                                 f"smaller than either stride {self.stride} or dilation {self.dilation}")

    def _output_padding(self, input, output_size):
        if output_size is None:
            return self.output_padding
        output_size = tuple(output_size)[-2:]
        if len(output_size) != 2:
            raise ValueError(f"ConvTranspose2d: output_size must have 2 or more elements, got {output_size}")
        pads = []
        for d in range(2):
            min_size = ((input.shape[d + 2] - 1) * self.stride[d] - 2 * self.padding[d]
                        + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            max_size = min_size + self.stride[d] - 1
            if not min_size <= output_size[d] <= max_size:
                raise ValueError(
                    f"ConvTranspose2d: requested output size {output_size} is not reachable from "
                    f"input shape {tuple(input.shape)}: each dim must lie in [{min_size}, {max_size}] "
                    f"(dim {d})")
            pads.append(output_size[d] - min_size)
        return tuple(pads)

    def forward(self, input, output_size=None):
        self._check_input(input)
        return F.conv_transpose2d(input, self.weight, self.bias, stride=self.stride,
                                  padding=self.padding,
                                  output_padding=self._output_padding(input, output_size),
                                  groups=self.groups, dilation=self.dilation)
