"""``Linear`` and ``Identity``."""
from __future__ import annotations

import math

import lumen
from lumen.nn import functional as F
from lumen.nn import init
from lumen.nn.module import Module
from lumen.nn.parameter import Parameter

__all__ = ["Linear", "Identity"]


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
        self.weight = Parameter(lumen.empty((out_features, in_features), dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(lumen.empty((out_features,), dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        if not isinstance(input, lumen.Tensor) or input.ndim < 1 or input.shape[-1] != self.in_features:
            shape = tuple(input.shape) if isinstance(input, lumen.Tensor) else type(input).__name__
            raise ValueError(f"Linear: expected input of shape (*, {self.in_features}), got {shape}")
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
