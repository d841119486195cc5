"""``linear``: y = x W^T + b."""
from __future__ import annotations

from ._check import check_float, check_same, check_tensor

__all__ = ["linear"]


def linear(input, weight, bias=None):
    """input (*, in_features) float, weight (out_features, in_features), bias (out_features,) or None
    -> (*, out_features)."""
    op = "linear"
    check_tensor(input, "input", op)
    check_tensor(weight, "weight", op)
    check_float(input, op)
    check_same(op, input, weight=weight, bias=bias)
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-d (out_features, in_features), got {tuple(weight.shape)}")
    if input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} does not match weight of shape "
                         f"{tuple(weight.shape)} (expected last dim {weight.shape[1]})")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"{op}: bias of shape {tuple(bias.shape)} does not match weight of shape "
                         f"{tuple(weight.shape)} (expected ({weight.shape[0]},))")
    y = input @ weight.t()
    return y if bias is None else y + bias
