"""Elementwise math of one tensor: exp, log, sqrt, abs, the trigonometric and hyperbolic functions and
their inverses, log2/log10/log1p/expm1/exp2, erf/erfc/erfinv, reciprocal, sign, rounding.

Integer inputs of the transcendental functions are computed in the default float dtype, as PyTorch."""
from __future__ import annotations

import math
from collections import namedtuple

from .. import dtypes
from ..autograd.function import Function
from .arith import where


def _float(x):
    return x if x._data.dtype.kind == "f" else x.to(dtypes.get_default_dtype())


class Neg(Function):
    backward_on_arrays = True

    def forward(self, a):
        return self.backend.negative(a)

    def backward(self, g):
        return -g


class Exp(Function):
    backward_on_arrays = True

    def forward(self, a):
        self.save_outputs(0)
        return self.backend.exp(a)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * y


class Log(Function):
    backward_on_arrays = True

    def forward(self, a):
        self.save_inputs(0)
        return self.backend.log(a)

    def backward(self, g):
        (a,) = self.saved_inputs
        return g / a


class Sqrt(Function):
    backward_on_arrays = True

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
    backward_on_arrays = True

    def forward(self, a):
        self.save_outputs(0)
        return self.backend.tanh(a)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * (1 - y * y)


class Sigmoid(Function):
    backward_on_arrays = True

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
    "lgamma": ("x", lambda x: x.digamma()),
    "digamma": ("x", lambda x: polygamma(1, x)),
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
lgamma, digamma = _smooth("lgamma"), _smooth("digamma")
psi = digamma
absolute = abs


class Polygamma(Function):
    """The ``n``-th derivative of digamma; its own derivative is the ``n + 1``-th."""

    def __init__(self, n):
        self.n = n

    def forward(self, a):
        self.save_inputs(0)
        return self.backend.polygamma(self.n, a)

    def backward(self, g):
        (a,) = self.saved_inputs
        return g * polygamma(self.n + 1, a)


def polygamma(n, input):
    """``torch.polygamma(n, input)``: the ``n``-th derivative of digamma (``n = 0`` is digamma itself)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise RuntimeError(f"polygamma: n must be a non-negative integer, got {n!r}")
    return digamma(input) if n == 0 else Polygamma.apply(_float(input), n=n)


def mvlgamma(input, p):
    """The log of the multivariate gamma function of dimension ``p``:
    ``p (p - 1) / 4 log(pi) + sum_i lgamma(input - i / 2)``. Elements at or below ``(p - 1) / 2`` (outside
    its domain) are not refused: torch 2.13 no longer checks them either."""
    if p < 1:
        raise RuntimeError(f"mvlgamma: p has to be greater than or equal to 1, got {p}")
    x = _float(input)
    offsets = x.new_tensor([-i / 2 for i in range(p)])
    return (x.unsqueeze(-1) + offsets).lgamma().sum(-1) + p * (p - 1) / 4 * math.log(math.pi)


def logit(input, eps=None):
    """``log(p / (1 - p))``; with ``eps`` the input is first clamped to ``[eps, 1 - eps]`` (so the gradient is 0
    outside it, as PyTorch's)."""
    x = _float(input)
    if eps is not None:
        x = x.clamp(eps, 1 - eps)
    return x.log() - (-x).log1p()


class Sinc(Function):
    """``sin(pi x) / (pi x)``, 1 at 0; derivative ``(cos(pi x) - sinc(x)) / x``, 0 at 0."""

    def forward(self, a):
        self.save_inputs(0)
        self.save_outputs(0)
        return self.backend.sinc(a)

    def backward(self, g):
        (x,), (y,) = self.saved_inputs, self.saved_outputs
        at_zero = x == 0
        safe = x.masked_fill(at_zero, 1)  # no 0/0 in the branch not taken, nor in its derivative
        # at 0 the derivative is 0 and its own slope -pi^2/3: the Taylor term there keeps double backward right
        return g * where(at_zero, x * (-math.pi ** 2 / 3), ((safe * math.pi).cos() - y) / safe)


def sinc(input):
    return Sinc.apply(_float(input))


def deg2rad(input):
    return _float(input) * (math.pi / 180)


def rad2deg(input):
    return _float(input) * (180 / math.pi)


def frexp(input):
    """``(mantissa, exponent)`` with ``input = mantissa * 2 ** exponent``, the mantissa in [0.5, 1) in magnitude
    and the exponent int32 (torch.return_types.frexp); floating inputs only. Not differentiable."""
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"frexp: only supports floating-point dtypes, got {input.dtype} of shape "
                           f"{tuple(input.shape)}")
    mantissa, exponent = input._backend.frexp(input._data)
    return return_types.frexp(input._like(mantissa), input._like(exponent.astype(dtypes.int32.np, copy=False)))


class return_types:
    frexp = namedtuple("frexp", ["mantissa", "exponent"])


def _in_place_function(name):
    """``torch.<name>(input, ...)``: the in-place Tensor method as a function (``torch.abs_(x)`` is
    ``x.abs_()``)."""
    def op(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``input.{name}(...)``: in place, returning ``input``."
    return op


(abs_, acos_, acosh_, arccos_, arccosh_, arcsin_, arcsinh_, arctan_, arctanh_, asin_, asinh_, atan_, atanh_, ceil_,
 clamp_, clamp_max_, clamp_min_, clip_, cos_, cosh_, deg2rad_, erf_, erfc_, exp2_, exp_, expm1_, fill_, fix_, floor_,
 frac_, gcd_, lcm_, ldexp_, log10_, log1p_, log2_, log_, logit_, nan_to_num_, neg_, negative_, rad2deg_,
 reciprocal_, round_, rsqrt_, sigmoid_, sin_, sinc_, sinh_, sqrt_, square_, tan_, tanh_, trunc_, xlogy_, zero_) = (
    _in_place_function(n) for n in (
        "abs_", "acos_", "acosh_", "arccos_", "arccosh_", "arcsin_", "arcsinh_", "arctan_", "arctanh_", "asin_",
        "asinh_", "atan_", "atanh_", "ceil_", "clamp_", "clamp_max_", "clamp_min_", "clip_", "cos_", "cosh_",
        "deg2rad_", "erf_", "erfc_", "exp2_", "exp_", "expm1_", "fill_", "fix_", "floor_", "frac_", "gcd_", "lcm_",
        "ldexp_", "log10_", "log1p_", "log2_", "log_", "logit_", "nan_to_num_", "neg_", "negative_", "rad2deg_",
        "reciprocal_", "round_", "rsqrt_", "sigmoid_", "sin_", "sinc_", "sinh_", "sqrt_", "square_", "tan_",
        "tanh_", "trunc_", "xlogy_", "zero_"))
