"""Elementwise math of one tensor: exp, log, sqrt, abs, the trigonometric and hyperbolic functions and
their inverses, log2/log10/log1p/expm1/exp2, erf/erfc/erfinv, reciprocal, sign, rounding.

Integer inputs of the transcendental functions are computed in the default float dtype, as PyTorch."""
from __future__ import annotations

import math

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


# The derivative of each smooth function below, in Lumen ops (so double backward is recorded too), from
# what it needs: "x" the input, "y" the output (kept instead of the input where that is cheaper).
_DERIVATIVES = {
    "tan": ("y", lambda y: 1 + y * y),
    "arcsin": ("x", lambda x: (1 - x * x).rsqrt()),
    "arccos": ("x", lambda x: -(1 - x * x).rsqrt()),
    "arctan": ("x", lambda x: 1 / (1 + x * x)),
    "sinh": ("x", lambda x: x.cosh()),
    "cosh": ("x", lambda x: x.sinh()),
    "arcsinh": ("x", lambda x: (x * x + 1).rsqrt()),
    "arccosh": ("x", lambda x: (x * x - 1).rsqrt()),
    "arctanh": ("x", lambda x: 1 / (1 - x * x)),
    "log2": ("x", lambda x: 1 / (x * math.log(2))),
    "log10": ("x", lambda x: 1 / (x * math.log(10))),
    "log1p": ("x", lambda x: 1 / (x + 1)),
    "expm1": ("y", lambda y: y + 1),
    "exp2": ("y", lambda y: y * math.log(2)),
    "erf": ("x", lambda x: (-x * x).exp() * (2 / math.sqrt(math.pi))),
    "erfc": ("x", lambda x: (-x * x).exp() * (-2 / math.sqrt(math.pi))),
    "erfinv": ("y", lambda y: (y * y).exp() * (math.sqrt(math.pi) / 2)),
    "reciprocal": ("y", lambda y: -y * y),
}


class Smooth(Function):
    """A differentiable elementwise function: the backend primitive ``fn`` forward, ``g`` times its
    derivative (:data:`_DERIVATIVES`) backward."""

    def __init__(self, fn):
        self.fn = fn

    def forward(self, a):
        if _DERIVATIVES[self.fn][0] == "x":
            self.save_inputs(0)
        else:
            self.save_outputs(0)
        return getattr(self.backend, self.fn)(a)

    def name(self):
        # PyTorch's node names: TanBackward, AsinBackward (numpy's arcsin), ...
        return ("a" + self.fn[3:] if self.fn.startswith("arc") else self.fn).capitalize() + "Backward"

    def __repr__(self):
        return f"<{self.name()}>"

    def backward(self, g):
        needs, derivative = _DERIVATIVES[self.fn]
        (z,) = self.saved_inputs if needs == "x" else self.saved_outputs
        return g * derivative(z)


class Piecewise(Function):
    """sign, floor, ceil, round, trunc: piecewise constant, so the gradient is zero (as PyTorch defines it)."""

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


def trunc(input):
    return input.clone() if not input.dtype.is_floating_point else Piecewise.apply(input, fn="trunc")


def frac(input):
    """``input - trunc(input)``, sign kept (gradient 1); floating inputs only, as PyTorch."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"frac: not implemented for {input.dtype} (shape {tuple(input.shape)}); "
                                  f"expected a floating-point tensor")
    return input - trunc(input).detach()


def sgn(input):
    """``sign`` (Lumen's tensors are real)."""
    return sign(input)


def _smooth(fn):
    def op(input):
        return Smooth.apply(_float(input), fn=fn)
    op.__name__ = op.__qualname__ = fn
    op.__doc__ = f"Elementwise ``{fn}``; integer inputs are computed in the default float dtype."
    return op


tan, asin, acos, atan = _smooth("tan"), _smooth("arcsin"), _smooth("arccos"), _smooth("arctan")
sinh, cosh, asinh, acosh, atanh = (_smooth("sinh"), _smooth("cosh"), _smooth("arcsinh"), _smooth("arccosh"),
                                   _smooth("arctanh"))
log2, log10, log1p, expm1, exp2 = (_smooth("log2"), _smooth("log10"), _smooth("log1p"), _smooth("expm1"),
                                   _smooth("exp2"))
erf, erfc, erfinv, reciprocal = _smooth("erf"), _smooth("erfc"), _smooth("erfinv"), _smooth("reciprocal")
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh
fix = trunc
