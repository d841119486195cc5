"""``Linear`` and ``Identity``."""
from __future__ import annotations

import lumen
from lumen.nn import functional as F
from lumen.nn.module import Module
from lumen.nn.parameter import Parameter
from lumen.nn.modules.utils import default_reset

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
        """PyTorch's default: weight and bias U(-1/sqrt(in_features), 1/sqrt(in_features))."""
        default_reset(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
