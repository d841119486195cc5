"""Argument normalisation shared by the layers."""
from __future__ import annotations

import math
import operator

from lumen.nn import init


def _pair(x, name="argument"):
    """``k`` -> ``(k, k)``; a 2-sequence of ints -> a tuple; anything else is an error naming ``name``."""
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {x!r}")
        return tuple(operator.index(v) for v in x)
    try:
        v = operator.index(x)
    except TypeError:
        raise TypeError(f"{name} must be an int or a pair of ints, got {x!r}") from None
    return (v, v)


def default_reset(weight, bias) -> None:
    """PyTorch's default for Linear and conv layers: weight kaiming_uniform_(a=sqrt(5)),
    i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)
