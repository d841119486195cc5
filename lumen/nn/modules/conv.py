"""Convolution layers: ``Conv1d``/``2d``/``3d`` and ``ConvTranspose1d``/``2d``/``3d`` (Caffe's Deconvolution)."""
from __future__ import annotations

import operator

import lumen
from lumen.nn import functional as F
from lumen.nn.module import Module
from lumen.nn.parameter import Parameter
from lumen.nn import init
from lumen.nn.modules.utils import _pair, default_reset
from lumen.ops.conv import bilinear_upsample2d

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(x, n, name="argument"):
    """``k`` -> ``(k,) * n``; an n-sequence of ints -> a tuple; anything else is an error naming ``name``."""
    if n == 2:
        return _pair(x, name)
    if isinstance(x, (tuple, list)):
        if len(x) != n:
            raise ValueError(f"{name} must be an int or {n} ints, got {x!r}")
        return tuple(operator.index(v) for v in x)
    try:
        return (operator.index(x),) * n
    except TypeError:
        raise TypeError(f"{name} must be an int or {n} ints, got {x!r}") from None


class _ConvNd(Module):
    _dims = 2  # spatial dims, set by each layer

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, device, dtype):
        super().__init__()
        name = type(self).__name__
        n = self._dims
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
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size")
        self.stride = _ntuple(stride, n, "stride")
        self.dilation = _ntuple(dilation, n, "dilation")
        if isinstance(padding, str):
            if transposed or padding not in ("same", "valid"):
                allowed = ("an int or a pair of ints" if n == 2 else f"an int or {n} ints") + (
                    "" if transposed else ", 'same' or 'valid'")
                raise ValueError(f"{name}: padding must be {allowed}, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions "
                                 f"(stride={self.stride})")
            self.padding = padding  # F.conv*d resolves it, PyTorch's way
            # what F.pad adds for a padding_mode other than zeros: 'same' puts an odd extra at the end
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)] if padding == "same" else [0] * n
            self._reversed_padding_repeated_twice = tuple(
                p for t in reversed(totals) for p in (t // 2, t - t // 2))
        else:
            self.padding = _ntuple(padding, n, "padding")
            self._reversed_padding_repeated_twice = tuple(p for q in reversed(self.padding) for p in (q, q))
        self.transposed = transposed
        self.output_padding = _ntuple(output_padding, n, "output_padding")
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
        n = self._dims
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0,) * n:
            s += ", padding={padding}"
        if self.dilation != (1,) * n:
            s += ", dilation={dilation}"
        if self.output_padding != (0,) * n:
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)

    _conv = None  # F.conv1d/2d/3d, per layer

    def _conv_forward(self, input, weight, bias):
        """This layer's convolution of input with ``weight`` and ``bias`` (PyTorch's name and signature, which
        layers such as weight-standardised convolutions call with their own weight); a padding_mode other
        than zeros pads explicitly first ("reflect", "replicate", "circular"), as PyTorch does."""
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return self._conv(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return self._conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_ConvNd):
    """1-d convolution. input (N, C_in, L) or (C_in, L) -> (N, C_out, L_out).

    weight (C_out, C_in/groups, k), bias (C_out,); ``padding`` an int, ``'same'`` or ``'valid'``.
    """

    _dims, _conv = 1, staticmethod(F.conv1d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)



class Conv2d(_ConvNd):
    """2-d convolution. input (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    weight (C_out, C_in/groups, kH, kW), bias (C_out,). ``padding_mode`` other than
    "zeros" pads explicitly ("reflect", "replicate", "circular") before a convolution
    without padding, as PyTorch does.
    """

    _conv = staticmethod(F.conv2d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)



class Conv3d(_ConvNd):
    """3-d convolution. input (N, C_in, D, H, W) or unbatched -> (N, C_out, D_out, H_out, W_out).

    weight (C_out, C_in/groups, kD, kH, kW), bias (C_out,).
    """

    _dims, _conv = 3, staticmethod(F.conv3d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)



class _ConvTransposeNd(_ConvNd):
    """A transposed convolution: ``forward(input, output_size)`` picks ``output_padding`` to reach
    ``output_size`` (its last n entries) as PyTorch does."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, output_padding, groups,
                 bias, dilation, padding_mode, device, dtype):
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f'{name} only supports padding_mode="zeros", got {padding_mode!r}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         True, output_padding, groups, bias, padding_mode, device, dtype)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= s and op >= d:
                raise ValueError(f"{name}: output_padding {self.output_padding} must be "
                                 f"smaller than either stride {self.stride} or dilation {self.dilation}")

    def _output_padding(self, input, output_size):
        if output_size is None:
            return self.output_padding
        name, n = type(self).__name__, self._dims
        output_size = tuple(output_size)
        if len(output_size) not in (n, n + 1, n + 2):
            raise ValueError(f"{name}: output_size must have {n} or {n + 2} elements (got {len(output_size)})")
        output_size = output_size[-n:]
        pads = []
        for d in range(n):
            size = input.shape[input.ndim - n + d]
            min_size = ((size - 1) * self.stride[d] - 2 * self.padding[d]
                        + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            max_size = min_size + self.stride[d] - 1
            if not min_size <= output_size[d] <= max_size:
                raise ValueError(
                    f"{name}: requested output size {output_size} is not reachable from "
                    f"input shape {tuple(input.shape)}: each dim must lie in [{min_size}, {max_size}] "
                    f"(dim {d})")
            pads.append(output_size[d] - min_size)
        return tuple(pads)


class ConvTranspose1d(_ConvTransposeNd):
    """1-d transposed convolution. (N, C_in, L) or (C_in, L) -> (N, C_out, L_out),
    ``L_out = (L-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1``; weight (C_in, C_out/groups, k)."""

    _dims = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups,
                         bias, dilation, padding_mode, device, dtype)

    def forward(self, input, output_size=None):
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose3d(_ConvTransposeNd):
    """3-d transposed convolution. (N, C_in, D, H, W) or unbatched -> (N, C_out, D_out, H_out, W_out);
    weight (C_in, C_out/groups, kD, kH, kW)."""

    _dims = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups,
                         bias, dilation, padding_mode, device, dtype)

    def forward(self, input, output_size=None):
        return F.conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """2-d transposed convolution (Caffe's Deconvolution). (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    ``H_out = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1``.
    weight (C_in, C_out/groups, kH, kW), bias (C_out,). ``forward(input, output_size)``
    picks ``output_padding`` to reach ``output_size`` as PyTorch does.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups,
                         bias, dilation, padding_mode, device, dtype)
        self._bilinear_version = None  # the weight's version when fix_bilinear_ set it

    def fix_bilinear_(self) -> "ConvTranspose2d":
        """Make this a fixed bilinear upsampling (FCN's frozen ``interp`` deconvolution): fill the weight
        with ``nn.init.bilinear_``, freeze it, and let ``forward`` compute it as two banded GEMMs per
        plane (:func:`lumen.ops.conv.bilinear_upsample2d`) for as long as the weight stays frozen and
        unmodified (its version unchanged); otherwise ``forward`` is the general deconvolution.
        Returns the layer."""
        name = type(self).__name__
        if self.in_channels != self.out_channels or self.groups not in (1, self.in_channels):
            raise ValueError(f"{name}.fix_bilinear_: needs in_channels == out_channels with groups 1 or "
                             f"in_channels (each channel upsampled on its own), got {self.in_channels} -> "
                             f"{self.out_channels} with groups={self.groups}")
        if self.dilation != (1, 1):
            raise ValueError(f"{name}.fix_bilinear_: needs dilation 1, got {self.dilation}")
        init.bilinear_(self.weight)
        self.weight.requires_grad_(False)
        self._bilinear_version = self.weight._version
        return self

    def is_fixed_bilinear(self) -> bool:
        """Whether ``forward`` takes the bilinear fast path: ``fix_bilinear_`` was called and the weight
        has stayed frozen and unwritten since (a write, a load or a new requires_grad turns it off)."""
        # None first: reading a parametrized weight computes it (a spectral norm's power step), and the
        # forward's own read must stay the only one, as in torch
        return (self._bilinear_version is not None and self._bilinear_version == self.weight._version
                and not self.weight.requires_grad)

    def _apply(self, fn):
        # A move or cast (Module.to) replaces the weight's storage and bumps its version, but the values
        # are still the bilinear kernel's.
        fixed = self.is_fixed_bilinear()
        super()._apply(fn)
        if fixed:
            self._bilinear_version = self.weight._version
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args):
        # Loading the very values the fixed kernel holds (a resumed or staged run's checkpoint) keeps the
        # fast path; any other weight ends it. Compared once here, at load time, never per forward.
        value = state_dict.get(prefix + "weight")
        unchanged = self.is_fixed_bilinear() and value is not None and tuple(value.shape) == tuple(
            self.weight.shape) and lumen.equal(lumen.as_tensor(value).to(device=self.weight.device,
                                                                          dtype=self.weight.dtype), self.weight)
        super()._load_from_state_dict(state_dict, prefix, *args)
        if unchanged:
            self._bilinear_version = self.weight._version

    def __getstate__(self):
        # A copy (deepcopy, pickle) gets a weight with a fresh version counter: carry whether the fast
        # path held when it was made, and re-arm it on the copy's weight in __setstate__.
        state = self.__dict__.copy()
        state["_bilinear_version"] = self.is_fixed_bilinear()
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._bilinear_version = self.weight._version if state.get("_bilinear_version") else None

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        if self.is_fixed_bilinear():
            return bilinear_upsample2d(input, self.kernel_size, self.stride, self.padding, output_padding,
                                       self.bias)
        return F.conv_transpose2d(input, self.weight, self.bias, stride=self.stride, padding=self.padding,
                                  output_padding=output_padding, groups=self.groups, dilation=self.dilation)
