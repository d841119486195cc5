"""Activations: ``relu``, ``softmax``, ``log_softmax``."""
from __future__ import annotations

from ...autograd.function import Function
from ... import dtypes
from ._util import check_float, check_tensor

__all__ = ["relu", "softmax", "log_softmax"]


class Softmax(Function):
    def forward(self, x):
        e = self.xp.exp(x - x.max(axis=self.dim, keepdims=True))
        e /= e.sum(axis=self.dim, keepdims=True)
        self.save_outputs(0)
        return e

    def backward(self, gy):
        (y,) = self.saved_outputs
        return y * (gy - (gy * y).sum(self.dim, keepdim=True))


class LogSoftmax(Function):
    def forward(self, x):
        shifted = x - x.max(axis=self.dim, keepdims=True)
        shifted -= self.xp.log(self.xp.exp(shifted).sum(axis=self.dim, keepdims=True))
        self.save_outputs(0)
        return shifted

    def backward(self, gy):
        (y,) = self.saved_outputs
        return gy - y.exp() * gy.sum(self.dim, keepdim=True)


def relu(input, inplace=False):
    """max(input, 0), any shape. ``inplace=True`` overwrites ``input`` (bumping its version) and
    returns it; refused on a leaf that requires grad, as in PyTorch."""
    check_tensor(input, "input", "relu")
    return input.relu_() if inplace else input.relu()


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
