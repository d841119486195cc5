"""Activations: ``relu`` (and in place), ``leaky_relu``, ``softmax``, ``log_softmax``."""
from __future__ import annotations

from .. import dtypes
from ..autograd.function import Function
from . import inplace as inplace_ops
from ._check import check_float, check_tensor
from .arith import where

__all__ = ["relu", "relu_", "leaky_relu", "softmax", "log_softmax"]


class Relu(Function):
    def forward(self, a):
        self.save_outputs(0)
        return self.backend.maximum(a, 0, dtype=a.dtype)

    def backward(self, g):
        (y,) = self.saved_outputs
        return ReluGrad.apply(g, y)


class ReluInplace(Relu):
    """relu written into its input's memory; its backward needs only the output, so no copy is kept."""

    inplace = True

    def forward(self, a):
        self.save_outputs(0)
        return self.backend.maximum(a, 0, out=a)


class ReluGrad(Function):
    """relu's backward, g masked by y > 0, as one backend pass; linear in g, so twice differentiable."""

    def forward(self, g, y):
        self.save_inputs(1)
        return self.backend.relu_backward(g, y)

    def backward(self, gg):
        (y,) = self.saved_inputs
        return ReluGrad.apply(gg, y), None


class LeakyRelu(Function):
    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, a):
        self.save_inputs(0)
        b = self.backend
        return b.where(a > 0, a, b.multiply(a, a.dtype.type(self.negative_slope)))

    def backward(self, g):
        (a,) = self.saved_inputs
        return where(a > 0, g, g * self.negative_slope)


class Softmax(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        b = self.backend
        e = b.exp(x - x.max(axis=self.dim, keepdims=True))
        e /= e.sum(axis=self.dim, keepdims=True)
        self.save_outputs(0)
        return e

    def backward(self, gy):
        (y,) = self.saved_outputs
        return y * (gy - (gy * y).sum(self.dim, keepdim=True))


class LogSoftmax(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        b = self.backend
        shifted = x - x.max(axis=self.dim, keepdims=True)
        shifted -= b.log(b.exp(shifted).sum(axis=self.dim, keepdims=True))
        self.save_outputs(0)
        return shifted

    def backward(self, gy):
        (y,) = self.saved_outputs
        return gy - y.exp() * gy.sum(self.dim, keepdim=True)


def relu(input, inplace=False):
    """max(input, 0), any shape. ``inplace=True`` overwrites ``input`` (bumping its version) and
    returns it; refused on a leaf that requires grad, as in PyTorch."""
    check_tensor(input, "input", "relu")
    return relu_(input) if inplace else Relu.apply(input)


def relu_(input):
    """relu in place, also under autograd without a copy: relu's backward needs only its output."""
    return inplace_ops.apply_inplace(ReluInplace, input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x`` where x > 0, else ``negative_slope * x``; any float shape, as PyTorch's."""
    check_tensor(input, "input", "leaky_relu")
    check_float(input, "leaky_relu")
    if inplace:
        return inplace_ops.out_of_place_then_write(
            input, lambda s: LeakyRelu.apply(s, negative_slope=negative_slope))
    return LeakyRelu.apply(input, negative_slope=negative_slope)


def _dim_and_cast(op, input, dim, dtype):
    check_tensor(input, "input", op)
    if dim is None:
        raise TypeError(f"{op}: dim must be given explicitly (input of shape {tuple(input.shape)})")
    ndim = max(input.ndim, 1)
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for input of shape {tuple(input.shape)}")
    if dtype is not None:
        input = input.to(dtypes.as_dtype(dtype))
    check_float(input, op)
    return input, dim % ndim if input.ndim else None


def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``; float input (cast to ``dtype`` first if given), same shape."""
    input, dim = _dim_and_cast("softmax", input, dim, dtype)
    return Softmax.apply(input, dim=dim)


def log_softmax(input, dim=None, dtype=None):
    """x - logsumexp(x) along ``dim``; float input (cast to ``dtype`` first if given), same shape."""
    input, dim = _dim_and_cast("log_softmax", input, dim, dtype)
    return LogSoftmax.apply(input, dim=dim)
