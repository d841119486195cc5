"""Elementwise arithmetic, unary math and matmul, with broadcasting and PyTorch's promotion."""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from .. import dtypes


def sum_to(g, shape):
    """Reduce a broadcast gradient back to ``shape`` (differentiable)."""
    if g.shape == shape:
        return g
    return SumTo.apply(g, shape=shape)


class SumTo(Function):
    def forward(self, g):
        self.in_shape = g.shape
        lead = g.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(self.shape)
                                          if n == 1 and g.shape[lead + i] != 1)
        return g.sum(axis=axes, keepdims=True).reshape(self.shape) if axes else g.reshape(self.shape)

    def backward(self, gy):
        return gy.expand(self.in_shape)


class Add(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, g):
        return sum_to(g, self.shapes[0]), sum_to(g, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, g):
        return sum_to(g, self.shapes[0]), sum_to(-g, self.shapes[1])


class Mul(Function):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return a * b

    def backward(self, g):
        a, b = self.saved_inputs
        return (sum_to(g * b, a.shape) if a.requires_grad else None,
                sum_to(g * a, b.shape) if b.requires_grad else None)


class Div(Function):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return a / b

    def backward(self, g):
        a, b = self.saved_inputs
        ga = sum_to(g / b, a.shape) if a.requires_grad else None
        gb = sum_to(-g * a / (b * b), b.shape) if b.requires_grad else None
        return ga, gb


class Pow(Function):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        self.save_outputs(0)
        return a ** b

    def backward(self, g):
        a, b = self.saved_inputs
        (y,) = self.saved_outputs
        ga = sum_to(g * b * a ** (b - 1), a.shape) if a.requires_grad else None
        gb = None
        if b.requires_grad:
            # d(a^b)/db = a^b log a, taken as 0 where a == 0 (the limit for b > 0)
            safe = where(a > 0, a, a.new_ones(()))
            gb = sum_to(g * y * safe.log(), b.shape)
        return ga, gb


class Maximum(Function):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return self.xp.maximum(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        # ties split the gradient evenly, as PyTorch does
        wa = (a > b).to(g.dtype) + (a == b).to(g.dtype) * 0.5
        return sum_to(g * wa, a.shape), sum_to(g * (1 - wa), b.shape)


class Minimum(Function):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return self.xp.minimum(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        wa = (a < b).to(g.dtype) + (a == b).to(g.dtype) * 0.5
        return sum_to(g * wa, a.shape), sum_to(g * (1 - wa), b.shape)


class Where(Function):
    def forward(self, cond, a, b):
        self.cond = cond
        self.shapes = (a.shape, b.shape)
        return self.xp.where(cond, a, b)

    def backward(self, g):
        from ..tensor import Tensor
        c = Tensor._wrap(self.cond, g.device, backend=self.backend)
        zero = g.new_zeros(())
        return None, sum_to(where(c, g, zero), self.shapes[0]), sum_to(where(c, zero, g), self.shapes[1])


class Piecewise(Function):
    """sign, floor, ceil, round: piecewise constant, so the gradient is zero (as PyTorch defines it)."""

    def forward(self, a):
        return getattr(self.xp, self.fn)(a)

    def backward(self, g):
        return g.new_zeros(g.shape)


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Exp(Function):
    def forward(self, a):
        self.save_outputs(0)
        return self.xp.exp(a)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * y


class Log(Function):
    def forward(self, a):
        self.save_inputs(0)
        return self.xp.log(a)

    def backward(self, g):
        (a,) = self.saved_inputs
        return g / a


class Sqrt(Function):
    def forward(self, a):
        self.save_outputs(0)
        return self.xp.sqrt(a)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g / (2 * y)


class Abs(Function):
    def forward(self, a):
        self.save_inputs(0)
        return self.xp.abs(a)

    def backward(self, g):
        (a,) = self.saved_inputs
        return g * a.sign()


class Tanh(Function):
    def forward(self, a):
        self.save_outputs(0)
        return self.xp.tanh(a)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * (1 - y * y)


class Sigmoid(Function):
    def forward(self, a):
        self.save_outputs(0)
        xp = self.xp
        # split by sign so exp never overflows
        e = xp.exp(-xp.abs(a))
        return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)

    def backward(self, g):
        (y,) = self.saved_outputs
        return g * y * (1 - y)


class Relu(Function):
    def forward(self, a):
        self.save_outputs(0)
        return self.xp.maximum(a, 0, dtype=a.dtype)

    def backward(self, g):
        (y,) = self.saved_outputs
        return ReluGrad.apply(g, y)


class ReluGrad(Function):
    """relu's backward, g masked by y > 0, as one backend pass; linear in g, so twice differentiable."""

    def forward(self, g, y):
        self.save_inputs(1)
        return self.backend.relu_backward(g, y)

    def backward(self, gg):
        (y,) = self.saved_inputs
        return ReluGrad.apply(gg, y), None


class ReluInplace(Relu):
    """relu written into its input's memory (``Tensor.relu_``); the backward is relu's."""

    def forward(self, a):
        self.save_outputs(0)
        return self.xp.maximum(a, 0, out=a)


class Clamp(Function):
    def forward(self, a):
        self.save_inputs(0)
        return self.xp.clip(a, self.min, self.max).astype(a.dtype, copy=False)

    def backward(self, g):
        (a,) = self.saved_inputs
        inside = a.new_ones(a.shape, dtype=dtypes.bool_)
        if self.min is not None:
            inside = inside & (a >= self.min)
        if self.max is not None:
            inside = inside & (a <= self.max)
        return g * inside.to(g.dtype)


class Cast(Function):
    def forward(self, a):
        self.src = a.dtype
        return a.astype(self.dtype.np)

    def backward(self, g):
        return g.to(dtypes.from_numpy_dtype(self.src))


class MatMul(Function):
    """Batched matmul of operands with at least 2 dims (1-D cases are reshaped by the caller)."""

    def forward(self, a, b):
        self.save_inputs(0, 1)
        return self.backend.matmul(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        ga = sum_to(g @ b.mT, a.shape) if a.requires_grad else None
        gb = sum_to(a.mT @ g, b.shape) if b.requires_grad else None
        return ga, gb


def where(condition, a, b):
    """Elements of ``a`` where ``condition`` holds, else of ``b`` (either may be a Python scalar)."""
    from ..tensor import Tensor
    ref = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else condition
    ta = [t.dtype for t in (a, b) if isinstance(t, Tensor) and t.ndim]
    tz = [t.dtype for t in (a, b) if isinstance(t, Tensor) and not t.ndim]
    sc = [t for t in (a, b) if not isinstance(t, Tensor)]
    d = dtypes.promote(ta, tz, sc)
    a, b = (t.to(d) if isinstance(t, Tensor) else ref.new_full((), t, dtype=d) for t in (a, b))
    if condition.dtype is not dtypes.bool_:
        condition = condition != 0
    try:
        np.broadcast_shapes(condition.shape, a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"where: condition {tuple(condition.shape)}, input {tuple(a.shape)} and other "
                           f"{tuple(b.shape)} cannot be broadcast together") from None
    return Where.apply(condition, a, b)


def matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    ka, kb = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise RuntimeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                           f"({ka} != {kb})")
    if a.dtype is not b.dtype:
        d = dtypes.promote([a.dtype, b.dtype])
        a, b = a.to(d), b.to(d)
    if a.ndim == 1 and b.ndim == 1:
        return MatMul.apply(a.reshape(1, -1), b.reshape(-1, 1)).reshape(())
    if a.ndim == 1:
        return MatMul.apply(a.reshape(1, -1), b).squeeze(-2)
    if b.ndim == 1:
        return MatMul.apply(a, b.reshape(-1, 1)).squeeze(-1)
    return MatMul.apply(a, b)
