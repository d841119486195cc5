"""Lumen: eager, tape-based autograd on NumPy and CuPy backends, with reference convnets and FCNs."""
from __future__ import annotations

from . import autograd, backends, cuda
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (arange, as_tensor, empty, empty_like, eye, from_dlpack, from_numpy, full, full_like,
                       linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor,
                       zeros, zeros_like)
from .random import Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .device import device
from .dtypes import (bool_ as bool, dtype, float16, float32, float64, get_default_dtype, int8, int16, int32,
                     int64, set_default_dtype, uint8)
from .ops.arith import matmul, where
from .ops.shape import cat, chunk, split, stack
from .serialization import load, save
from .tensor import Tensor

half, float, double, long, int = float16, float32, float64, int64, int32

__version__ = "0.1.0"


def _method(name):
    def fn(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = name
    fn.__doc__ = f"``lumen.{name}(t, ...)`` is ``t.{name}(...)``."
    return fn


for _name in ("exp", "log", "sqrt", "rsqrt", "abs", "tanh", "sigmoid", "relu", "clamp", "clip", "maximum",
              "minimum", "sum", "mean", "max", "min", "amax", "var", "std", "logsumexp", "argmax", "argmin",
              "reshape", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "neg", "sign", "square",
              "isfinite", "isnan", "allclose", "softmax", "log_softmax", "narrow", "clone", "detach", "mm",
              "floor", "ceil", "round", "t", "pow", "add", "sub", "mul", "div", "masked_fill", "numel"):
    globals()[_name] = _method(_name)
del _name


def pad(input, pad, mode="constant", value=0.0):
    from .ops.shape import pad as _pad
    return _pad(input, pad, mode, value)


def is_tensor(obj):
    return isinstance(obj, Tensor)
