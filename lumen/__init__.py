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
from .ops.activation import log_softmax, relu, softmax
from .ops.arith import (add, allclose, clamp, div, equal, masked_fill, matmul, maximum, minimum, mul, pow,
                        rsub, sub, where)
from .ops.reduce import amax, argmax, argmin, logsumexp, max, mean, min, std, sum, var
from .ops.shape import (cat, chunk, clone, flatten, narrow, pad, permute, reshape, split, squeeze, stack, t,
                        transpose, unsqueeze)
from .ops.unary import abs, ceil, cos, exp, floor, log, neg, round, rsqrt, sigmoid, sign, sin, sqrt, square, tanh
from .serialization import load, save
from .tensor import Tensor

half, float, double, long, int = float16, float32, float64, int64, int32
clip, mm, negative = clamp, matmul, neg

__version__ = "0.1.0"


def isfinite(input):
    return input.isfinite()


def isnan(input):
    return input.isnan()


def detach(input):
    return input.detach()


def numel(input):
    return input.numel()


def is_tensor(obj):
    return isinstance(obj, Tensor)
