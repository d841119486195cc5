"""Dropout: elementwise (``dropout``), channel-wise (``dropout1d/2d/3d``, ``feature_alpha_dropout``) and
SELU's ``alpha_dropout``, with PyTorch's input-shape rules and warnings.

Masks are drawn from the default generator of the input's device (``lumen.random``), so
``lumen.manual_seed`` makes them reproducible; ``inplace=True`` overwrites the input and returns it.
"""
from __future__ import annotations

import math
import warnings

from .. import dtypes
from ..autograd.function import Function
from ..random import uniform_array
from . import inplace as inplace_ops
from ._check import check_float, check_tensor

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]

# SELU's negative saturation value -scale * alpha: dropped units of alpha dropout are set to it
_ALPHA_PRIME = 1.7580993408473766


class Dropout(Function):
    """y = x * mask (+ shift), kept where the ``uniform`` draw (in [0, 1), x's shape or a shape that
    broadcasts to it: one draw per channel) is >= p.

    Plain dropout: mask in {0, 1/(1-p)}, no shift. ``alpha``: kept units are scaled by ``a`` and dropped
    ones set to SELU's saturation, then shifted so that mean and variance are kept (PyTorch's formulas).
    """

    def __init__(self, p, uniform, alpha):
        self.p, self.uniform, self.alpha = p, uniform, alpha

    def forward(self, x):
        p, t = self.p, x.dtype.type
        keep = (self.uniform >= p).astype(x.dtype)
        self.uniform = None  # the mask is all backward needs
        if not self.alpha:
            self.mask = keep * t(0.0 if p == 1 else 1.0 / (1.0 - p))
            return x * self.mask
        if p == 1:
            self.mask = keep * t(0)
            return x * self.mask
        a = 1.0 / math.sqrt((_ALPHA_PRIME ** 2 * p + 1) * (1 - p))
        self.mask = keep * t(a)
        return x * self.mask + (keep - 1) * t(_ALPHA_PRIME * a) + t(_ALPHA_PRIME * a * p)

    def backward(self, gy):
        return gy * gy._like(self.mask)


def _check_p(op, p):
    if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p!r}")


def _drop(input, p, inplace, draw_shape, alpha=False):
    uniform = uniform_array(draw_shape, dtypes.float32, input.device)
    compute = lambda s: Dropout.apply(s, p=float(p), uniform=uniform, alpha=alpha)  # noqa: E731
    return inplace_ops.out_of_place_then_write(input, compute) if inplace else compute(input)


def _checked(op, input, p):
    check_tensor(input, "input", op)
    _check_p(op, p)
    check_float(input, op)


def dropout(input, p=0.5, training=True, inplace=False):
    """Inverted dropout on any float shape: each element zeroed with probability ``p``, the rest scaled
    by 1/(1-p); identity (returns ``input``) unless ``training``."""
    _checked("dropout", input, p)
    if not training or p == 0:
        return input
    return _drop(input, p, inplace, input.shape)


def _feature_dropout(op, input, p, training, inplace, alpha, batched=True):
    """Channel-wise dropout: one draw per (sample, channel) of an (N, C, *) input, or per channel of an
    unbatched (C, *) one."""
    if input.ndim + (not batched) < 2:
        raise RuntimeError(f"{op}: feature dropout requires at least 2 dimensions in the input, got shape "
                           f"{tuple(input.shape)}")
    if not training or p == 0:
        return input
    lead = 2 if batched else 1
    return _drop(input, p, inplace, tuple(input.shape[:lead]) + (1,) * (input.ndim - lead), alpha)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of an (N, C, L) or unbatched (C, L) input with probability ``p``."""
    op = "dropout1d"
    _checked(op, input, p)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: Expected 2D or 3D input, but received a {input.ndim}D input of shape "
                           f"{tuple(input.shape)}. Note that dropout1d exists to provide channel-wise dropout "
                           f"on inputs with 1 spatial dimension, a channel dimension, and an optional batch "
                           f"dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(op, input, p, training, inplace, alpha=False, batched=input.ndim == 3)


def _spatial_warning(op, ndim, spatial):
    warnings.warn(
        f"{op}: Received a {ndim}-D input to {op}, which is deprecated and will result in an error in a future "
        f"release. To retain the behavior and silence this warning, please use dropout instead. Note that "
        f"{op} exists to provide channel-wise dropout on inputs with {spatial} spatial dimensions, a channel "
        f"dimension, and an optional batch dimension (i.e. {spatial + 1}D or {spatial + 2}D inputs).",
        UserWarning, stacklevel=3)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of an (N, C, H, W) input with probability ``p``.

    As PyTorch (see pytorch#77081), a 3-d input is read as (N, C, L), with a warning, and other ranks
    are dropped channel-wise along dim 1 with a deprecation warning."""
    op = "dropout2d"
    _checked(op, input, p)
    if input.ndim not in (3, 4):
        _spatial_warning(op, input.ndim, 2)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
            "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will "
            "change in a future release to interpret the input as one without a batch dimension, i.e. shape "
            "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d "
            "instead.", UserWarning, stacklevel=2)
    return _feature_dropout(op, input, p, training, inplace, alpha=False)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of an (N, C, D, H, W) or unbatched (C, D, H, W) input with probability ``p``
    (other ranks: a deprecation warning, and read as unbatched unless 5-d, as PyTorch)."""
    op = "dropout3d"
    _checked(op, input, p)
    if input.ndim not in (4, 5):
        _spatial_warning(op, input.ndim, 3)
    return _feature_dropout(op, input, p, training, inplace, alpha=False, batched=input.ndim == 5)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks: keeps zero mean and unit variance of its input (Klambauer et al.)."""
    op = "alpha_dropout"
    _checked(op, input, p)
    if not training or p == 0:
        return input
    return _drop(input, p, inplace, input.shape, alpha=True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """alpha_dropout of whole channels of an (N, C, *) input."""
    op = "feature_alpha_dropout"
    _checked(op, input, p)
    return _feature_dropout(op, input, p, training, inplace, alpha=True)
