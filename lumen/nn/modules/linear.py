"""``Linear``, ``Bilinear`` and ``Identity``."""
from __future__ import annotations

import math

import lumen
from lumen.nn import functional as F
from lumen.nn import init
from lumen.nn.module import Module
from lumen.nn.parameter import Parameter
from lumen.nn.modules.utils import default_reset

__all__ = ["Linear", "Bilinear", "Identity", "NonDynamicallyQuantizableLinear"]


def _add_weight_and_bias(module, weight_shape, bias, device, dtype):
    """Uninitialised ``weight`` of ``weight_shape`` and ``bias`` (weight_shape[0],) (or None) on ``module``."""
    module.weight = Parameter(lumen.empty(weight_shape, dtype=dtype, device=device))
    if bias:
        module.bias = Parameter(lumen.empty((weight_shape[0],), dtype=dtype, device=device))
    else:
        module.register_parameter("bias", None)


class Identity(Module):
    """Returns its input unchanged (accepts and ignores constructor arguments, as PyTorch's)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """``y = x @ weight.T + bias``. input (*, in_features) -> (*, out_features).

    weight (out_features, in_features), bias (out_features,); PyTorch's default init.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        _add_weight_and_bias(self, (out_features, in_features), bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight and bias U(-1/sqrt(in_features), 1/sqrt(in_features))."""
        default_reset(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear under the name PyTorch gives MultiheadAttention's ``out_proj`` (so that reprs match)."""


class Bilinear(Module):
    """``y = x1^T A x2 + b``: input1 (*, in1_features), input2 (*, in2_features) -> (*, out_features).

    weight (out_features, in1_features, in2_features), bias (out_features,); both U(-1/sqrt(in1_features),
    1/sqrt(in1_features)) as PyTorch's.
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        _add_weight_and_bias(self, (out_features, in1_features, in2_features), bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.in1_features <= 0:
            raise ValueError(f"Bilinear: in1_features must be > 0, but got (in1_features={self.in1_features})")
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
