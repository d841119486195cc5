"""``dropout``: zero elements with probability p, scale the rest by 1/(1-p)."""
from __future__ import annotations

from ...autograd.function import Function
from ._util import check_float, check_tensor

__all__ = ["dropout"]


class Dropout(Function):
    """y = x * mask, mask in {0, 1/(1-p)} drawn from the backend's generator unless given."""

    def forward(self, x):
        if self.mask is None:
            keep = self.backend.generator().random(x.shape, dtype=self.xp.float32) >= self.p
            scale = 0.0 if self.p == 1 else 1.0 / (1.0 - self.p)
            self.mask = keep.astype(x.dtype) * x.dtype.type(scale)
        return x * self.mask

    def backward(self, gy):
        return Dropout.apply(gy, p=self.p, mask=self.mask)


def dropout(input, p=0.5, training=True, inplace=False):
    """Inverted dropout on any float shape; identity (returns ``input``) unless ``training``.

    The mask comes from the backend's generator, so ``lumen.manual_seed`` makes it reproducible.
    ``inplace=True`` overwrites ``input`` and returns it.
    """
    op = "dropout"
    check_tensor(input, "input", op)
    if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability p must be between 0 and 1, got {p!r}")
    check_float(input, op)
    if not training or p == 0:
        return input
    if inplace:
        return input._inplace(lambda s: Dropout.apply(s, p=float(p), mask=None))
    return Dropout.apply(input, p=float(p), mask=None)
