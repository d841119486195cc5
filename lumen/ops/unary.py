"""Elementwise math of one tensor: exp, log, sqrt, abs, tanh, sigmoid, sin, cos, sign, rounding.

Integer inputs of the transcendental functions are computed in the default float dtype, as PyTorch."""
from __future__ import annotations

from .. import dtypes
from ..autograd.function import Function


def _float(x):
    return x if x.dtype.is_floating_point else x.to(dtypes.get_default_dtype())


class Neg(Function):
    def forward(self, a):
        return self.backend.negative(a)

    def backward(self, g):
        return -g


class Exp(Function):
    def forward(self, a):
        self.save_outputs(0)
        return self.backend.exp(a)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * y


class Log(Function):
    def forward(self, a):
        self.save_inputs(0)
        return self.backend.log(a)

    def backward(self, g):
        (a,) = self.saved_inputs
        return g / a


class Sqrt(Function):
    def forward(self, a):
        self.save_outputs(0)
        return self.backend.sqrt(a)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g / (2 * y)


class Abs(Function):
    def forward(self, a):
        self.save_inputs(0)
        return self.backend.abs(a)

    def backward(self, g):
        (a,) = self.saved_inputs
        return g * a.sign()


class Tanh(Function):
    def forward(self, a):
        self.save_outputs(0)
        return self.backend.tanh(a)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * (1 - y * y)


class Sigmoid(Function):
    def forward(self, a):
        self.save_outputs(0)
        b = self.backend
        # split by sign so exp never overflows
        e = b.exp(-b.abs(a))
        return b.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * y * (1 - y)


class Sin(Function):
    def forward(self, a):
        self.save_inputs(0)
        return self.backend.sin(a)

    def backward(self, g):
        (a,) = self.saved_inputs
        return g * a.cos()


class Cos(Function):
    def forward(self, a):
        self.save_inputs(0)
        return self.backend.cos(a)

    def backward(self, g):
        (a,) = self.saved_inputs
        return -g * a.sin()


class Piecewise(Function):
    """sign, floor, ceil, round: piecewise constant, so the gradient is zero (as PyTorch defines it)."""

    def __init__(self, fn):
        self.fn = fn

    def forward(self, a):
        return getattr(self.backend, self.fn)(a)

    def backward(self, g):
        return g.new_zeros(g.shape)


def neg(input):
    return Neg.apply(input)


def exp(input):
    return Exp.apply(_float(input))


def log(input):
    return Log.apply(_float(input))


def sqrt(input):
    return Sqrt.apply(_float(input))


def rsqrt(input):
    return 1 / sqrt(input)


def abs(input):
    return Abs.apply(input)


def tanh(input):
    return Tanh.apply(_float(input))


def sigmoid(input):
    return Sigmoid.apply(_float(input))


def sin(input):
    return Sin.apply(_float(input))


def cos(input):
    return Cos.apply(_float(input))


def square(input):
    return input * input


def sign(input):
    return Piecewise.apply(input, fn="sign")


def floor(input):
    return Piecewise.apply(input, fn="floor")


def ceil(input):
    return Piecewise.apply(input, fn="ceil")


def round(input):
    return Piecewise.apply(input, fn="round")
