"""``linear``: y = x W^T + b; ``bilinear``: y = x1^T A x2 + b, one bilinear form per output feature."""
from __future__ import annotations

from ._check import check_float, check_same, check_tensor

__all__ = ["linear", "bilinear"]


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


def bilinear(input1, input2, weight, bias=None):
    """input1 (*, in1), input2 (*, in2) of one leading shape, weight (out, in1, in2), bias (out,) or None
    -> (*, out) with ``y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]``."""
    op = "bilinear"
    for name, t in (("input1", input1), ("input2", input2), ("weight", weight)):
        check_tensor(t, name, op)
    check_float(input1, op, "input1")
    check_same(op, input1, input2=input2, weight=weight, bias=bias)
    if weight.ndim != 3:
        raise RuntimeError(f"{op}: weight must be 3-d (out_features, in1_features, in2_features), got "
                           f"{tuple(weight.shape)}")
    out, in1, in2 = weight.shape
    if input1.ndim < 1 or input1.shape[-1] != in1:
        raise RuntimeError(f"{op}: input1 of shape {tuple(input1.shape)} does not match weight "
                           f"{tuple(weight.shape)} (expected last dim {in1})")
    if input2.ndim < 1 or input2.shape[-1] != in2:
        raise RuntimeError(f"{op}: input2 of shape {tuple(input2.shape)} does not match weight "
                           f"{tuple(weight.shape)} (expected last dim {in2})")
    if tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise RuntimeError(f"{op}: input1 {tuple(input1.shape)} and input2 {tuple(input2.shape)} must have the "
                           f"same leading dims")
    if bias is not None and tuple(bias.shape) != (out,):
        raise RuntimeError(f"{op}: bias of shape {tuple(bias.shape)} does not match weight "
                           f"{tuple(weight.shape)} (expected ({out},))")
    lead = tuple(input1.shape[:-1])
    x1, x2 = input1.reshape((-1, in1)), input2.reshape((-1, 1, in2))
    # (M, in1) @ (in1, out * in2): each sample's x1^T A_o for every o, then the dot with x2
    left = (x1 @ weight.permute(1, 0, 2).reshape((in1, out * in2))).reshape((-1, out, in2))
    y = (left * x2).sum(2).reshape(lead + (out,))
    return y if bias is None else y + bias
