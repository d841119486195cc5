"""``dropout``: zero elements with probability p, scale the rest by 1/(1-p)."""
from __future__ import annotations

from .. import dtypes
from ..autograd.function import Function
from ..random import uniform_array
from . import inplace as inplace_ops
from ._check import check_float, check_tensor

__all__ = ["dropout"]


class Dropout(Function):
    """y = x * mask, mask in {0, 1/(1-p)}: kept where the ``uniform`` draw (x's shape, in [0, 1)) is >= p."""

    def __init__(self, p, uniform):
        self.p, self.uniform = p, uniform

    def forward(self, x):
        scale = 0.0 if self.p == 1 else 1.0 / (1.0 - self.p)
        self.mask = (self.uniform >= self.p).astype(x.dtype) * x.dtype.type(scale)
        self.uniform = None  # the mask is all backward needs
        return x * self.mask

    def backward(self, gy):
        return gy * gy._like(self.mask)


def dropout(input, p=0.5, training=True, inplace=False):
    """Inverted dropout on any float shape; identity (returns ``input``) unless ``training``.

    The mask is drawn from the default generator of input's device (``lumen.random``), so
    ``lumen.manual_seed`` makes it reproducible. ``inplace=True`` overwrites ``input`` and returns it.
    """
    op = "dropout"
    check_tensor(input, "input", op)
    if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability p must be between 0 and 1, got {p!r}")
    check_float(input, op)
    if not training or p == 0:
        return input
    uniform = uniform_array(input.shape, dtypes.float32, input.device)
    if inplace:
        return inplace_ops.out_of_place_then_write(input, lambda s: Dropout.apply(s, p=float(p), uniform=uniform))
    return Dropout.apply(input, p=float(p), uniform=uniform)
