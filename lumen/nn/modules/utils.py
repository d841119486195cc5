"""Argument normalisation shared by the layers."""
from __future__ import annotations

import operator


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
