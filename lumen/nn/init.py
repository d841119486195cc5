"""In-place weight initialisers with PyTorch's names and formulas (``torch.nn.init``).

Every function fills its tensor in place under ``no_grad`` (the tensor's
version is bumped), draws from Lumen's seeded generator (``lumen.manual_seed``)
on the tensor's own device and dtype, and returns the tensor.
"""
from __future__ import annotations

import math
import warnings

import lumen
from lumen.ops.conv import bilinear_filter_shape

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_", "eye_", "dirac_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
           "bilinear_", "bilinear_factor", "bilinear_kernel", "uniform", "normal", "constant", "eye", "dirac",
           "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"]

_LINEAR_FNS = {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid"}


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for ``nonlinearity`` (PyTorch's table).

    linear/conv*/sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu: sqrt(2/(1+a^2))
    with ``a = param`` (default 0.01); selu: 3/4.
    """
    if nonlinearity in _LINEAR_FNS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError(
            f"Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
            f"(got shape {tuple(tensor.shape)})")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _check(tensor, fn):
    if not isinstance(tensor, lumen.Tensor):
        raise TypeError(f"nn.init.{fn} expects a lumen.Tensor, got {type(tensor).__name__}")
    if not tensor.dtype.is_floating_point:
        raise TypeError(f"nn.init.{fn} needs a floating point tensor, got dtype {tensor.dtype}")


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with U(a, b)."""
    _check(tensor, "uniform_")
    with lumen.no_grad():
        tensor.uniform_(a, b, generator=generator)
    return tensor


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with N(mean, std^2)."""
    _check(tensor, "normal_")
    with lumen.no_grad():
        tensor.normal_(mean, std, generator=generator)
    return tensor


def constant_(tensor, val: float):
    """Fill with ``val``."""
    if not isinstance(tensor, lumen.Tensor):
        raise TypeError(f"nn.init.constant_ expects a lumen.Tensor, got {type(tensor).__name__}")
    with lumen.no_grad():
        tensor.fill_(val)
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None):
    """U(-b, b) with ``b = gain * sqrt(3 / fan)`` (He et al. 2015); ``fan`` per ``mode``."""
    if 0 in tuple(tensor.shape):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None):
    """N(0, std^2) with ``std = gain / sqrt(fan)``."""
    if 0 in tuple(tensor.shape):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def bilinear_factor(size: int):
    """The 1-d FCN bilinear filter of ``size`` taps, a float64 CPU tensor
    (``lumen.ops.conv.bilinear_filter_shape`` gives its formula)."""
    factor, center = bilinear_filter_shape(size)
    return 1 - (lumen.arange(size, dtype=lumen.float64) - center).abs() / factor


def bilinear_kernel(kh: int, kw: int | None = None):
    """The FCN bilinear upsampling filter ``f(i) f(j)``, a float64 ``(kh, kw)`` CPU tensor."""
    kw = kh if kw is None else kw
    return bilinear_factor(kh).unsqueeze(1) * bilinear_factor(kw).unsqueeze(0)


def bilinear_(weight):
    """Fill a transposed-conv weight ``(C, C or 1, kH, kW)`` with the FCN bilinear kernel.

    ``weight[c, c]`` (or ``weight[c, 0]`` when the second dim is 1, i.e. a
    depthwise deconvolution) gets ``bilinear_kernel(kH, kW)``; every other entry
    is zero, so each class channel is upsampled on its own (FCN's ``surgery.interp``).
    """
    _check(weight, "bilinear_")
    if weight.ndim != 4:
        raise ValueError(f"nn.init.bilinear_ expects a 4-d (C_in, C_out, kH, kW) weight, "
                         f"got shape {tuple(weight.shape)}")
    c_in, c_out, kh, kw = weight.shape
    if c_in != c_out and c_out != 1:
        raise ValueError(
            f"nn.init.bilinear_ needs as many input as output channels, or one output channel "
            f"per group, got weight shape {tuple(weight.shape)}")
    w = lumen.zeros((c_in, c_out, kh, kw), dtype=lumen.float64)
    channels = lumen.arange(c_in)
    w[channels, channels if c_out == c_in else 0] = bilinear_kernel(kh, kw)
    with lumen.no_grad():
        weight.copy_(w.to(weight.device))
    return weight


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None):
    """Fill with N(mean, std^2) truncated to [a, b], by PyTorch's inverse-CDF method: uniform draws between the
    bounds' CDF values, mapped back through erfinv (then clamped, against rounding)."""
    _check(tensor, "trunc_normal_")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values may "
                      "be incorrect.", stacklevel=2)

    def norm_cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0
    low, high = norm_cdf((a - mean) / std), norm_cdf((b - mean) / std)
    with lumen.no_grad():
        tensor.uniform_(2 * low - 1, 2 * high - 1, generator=generator)
        tensor.erfinv_()
        tensor.mul_(std * math.sqrt(2.0))
        tensor.add_(mean)
        tensor.clamp_(min=a, max=b)
    return tensor


def eye_(tensor):
    """Fill a 2-d tensor with the identity (ones on the diagonal of a rectangular matrix)."""
    if tensor.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported (got shape {tuple(tensor.shape)})")
    with lumen.no_grad():
        tensor.copy_(lumen.eye(*tensor.shape, dtype=tensor.dtype, device=tensor.device))
    return tensor


def dirac_(tensor, groups: int = 1):
    """Fill a 3-, 4- or 5-d conv weight with the Dirac delta: each of the first ``min(out/groups, in)`` output
    channels of every group passes its input channel through unchanged (a centred one in the kernel)."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"Only tensors with 3, 4, or 5 dimensions are supported (got shape {tuple(tensor.shape)})")
    sizes = tuple(tensor.shape)
    if sizes[0] % groups != 0:
        raise ValueError(f"dim 0 must be divisible by groups (got {sizes[0]} and groups={groups})")
    per_group = sizes[0] // groups
    with lumen.no_grad():
        tensor.zero_()
        centre = tuple(k // 2 for k in sizes[2:])
        for g in range(groups):
            for d in range(min(per_group, sizes[1])):
                tensor[(g * per_group + d, d) + centre] = 1
    return tensor


def orthogonal_(tensor, gain: float = 1, generator=None):
    """Fill with a (semi-)orthogonal matrix (Saxe et al. 2013), of the tensor flattened to ``(rows, -1)``: the
    QR decomposition of a normal draw, Q's columns signed by R's diagonal (so Q is uniformly distributed), times
    ``gain``."""
    if tensor.ndim < 2:
        raise ValueError(f"Only tensors with 2 or more dimensions are supported (got shape {tuple(tensor.shape)})")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    with lumen.no_grad():
        flattened = tensor.new_empty((rows, cols)).normal_(0, 1, generator=generator)
        if rows < cols:
            flattened = flattened.t()
        q, r = lumen.linalg.qr(flattened)
        q = q * r.diagonal().sign()
        if rows < cols:
            q = q.t()
        tensor.copy_(q.reshape(tensor.shape) * gain)
    return tensor


def sparse_(tensor, sparsity, std: float = 0.01, generator=None):
    """Fill a 2-d tensor from N(0, std^2), then zero ``ceil(sparsity * rows)`` random rows of each column
    (Martens 2010)."""
    if tensor.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported (got shape {tuple(tensor.shape)})")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    with lumen.no_grad():
        tensor.normal_(0, std, generator=generator)
        for col in range(cols):
            zero_rows = lumen.randperm(rows, generator=generator, device=tensor.device)[:num_zeros]
            tensor[zero_rows, col] = 0
    return tensor


def _make_deprecate(method):
    new_name = method.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.", FutureWarning,
                      stacklevel=2)
        return method(*args, **kwargs)
    deprecated_init.__name__ = deprecated_init.__qualname__ = old_name
    deprecated_init.__doc__ = f"``{old_name}(...)``: deprecated (with torch's FutureWarning) for :func:`{new_name}`."
    return deprecated_init


uniform, normal, constant = _make_deprecate(uniform_), _make_deprecate(normal_), _make_deprecate(constant_)
eye, dirac = _make_deprecate(eye_), _make_deprecate(dirac_)
xavier_uniform, xavier_normal = _make_deprecate(xavier_uniform_), _make_deprecate(xavier_normal_)
kaiming_uniform, kaiming_normal = _make_deprecate(kaiming_uniform_), _make_deprecate(kaiming_normal_)
orthogonal, sparse = _make_deprecate(orthogonal_), _make_deprecate(sparse_)
