"""Lumen's dtypes and PyTorch's type-promotion rules."""
from __future__ import annotations

import numpy as np


class dtype:
    """A tensor element type; ``.np`` is the numpy dtype that stores it."""

    __slots__ = ("name", "np", "category")

    def __init__(self, name: str, np_dtype, category: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.category = category  # 0 bool, 1 integer, 2 floating: promotion climbs categories

    @property
    def is_floating_point(self) -> bool:
        return self.category == 2

    @property
    def itemsize(self) -> int:
        return self.np.itemsize

    def __repr__(self):
        return f"lumen.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))


bool_ = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
float16 = dtype("float16", np.float16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_FROM_NP = {d.np: d for d in ALL}
_NAMES = {d.name: d for d in ALL}
_NAMES.update({"float": float32, "double": float64, "half": float16, "long": int64, "int": int32})

_default_float = float32


def _by_name(name):
    return _NAMES[name]


def get_default_dtype() -> dtype:
    return _default_float


def set_default_dtype(d) -> None:
    global _default_float
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_float = d


def representable_integers(d) -> tuple:
    """(low, high): the integers dtype ``d`` holds, every one exactly (for floats, up to 2**(mantissa + 1))."""
    d = as_dtype(d)
    if d is bool_:
        return 0, 1
    if d.is_floating_point:
        exact = 2 ** (np.finfo(d.np).nmant + 1)
        return -exact, exact
    info = np.iinfo(d.np)
    return int(info.min), int(info.max)


def as_dtype(d) -> dtype:
    """Accept a lumen dtype, a numpy dtype/type, a Python type or a name."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return _default_float
    if d is int:
        return int64
    if d is bool:
        return bool_
    if isinstance(d, str) and d in _NAMES:
        return _NAMES[d]
    try:
        return _FROM_NP[np.dtype(d)]
    except (TypeError, KeyError):
        raise TypeError(f"unknown dtype {d!r}; expected one of "
                        f"{', '.join(x.name for x in ALL)}") from None


def from_numpy_dtype(d) -> dtype:
    try:
        return _FROM_NP[np.dtype(d)]
    except KeyError:
        raise TypeError(f"numpy dtype {np.dtype(d)} has no lumen equivalent; expected one of "
                        f"{', '.join(x.name for x in ALL)}") from None


def scalar_category(value) -> int:
    if isinstance(value, (bool, np.bool_)):
        return 0
    if isinstance(value, (int, np.integer)):
        return 1
    return 2


def promote(tensor_dtypes, zero_dim_dtypes=(), scalars=()) -> dtype:
    """Result dtype of an op, by PyTorch's rule.

    Dimensioned tensors outrank zero-dim tensors, which outrank Python scalars;
    a lower-ranked operand only matters when it belongs to a higher category
    (e.g. ``int_tensor * 0.5`` is float, ``float16_tensor * 2.0`` stays float16).
    """
    groups = [list(tensor_dtypes), list(zero_dim_dtypes)]
    best_cat = max((d.category for g in groups for d in g), default=-1)
    scalar_cat = max((scalar_category(s) for s in scalars), default=-1)
    for g in groups:
        in_cat = [d for d in g if d.category == max(best_cat, scalar_cat)]
        if in_cat and max(best_cat, scalar_cat) == best_cat:
            out = in_cat[0].np
            for d in in_cat[1:]:
                out = np.promote_types(out, d.np)
            return _FROM_NP[out]
    return {0: bool_, 1: int64, 2: _default_float}[scalar_cat]


class finfo:
    """``torch.finfo``: a floating dtype's limits (``bits``, ``eps``, ``max``, ``min``, ``tiny`` =
    ``smallest_normal``, ``resolution``, ``dtype`` its name); ``finfo()`` describes the default dtype."""

    def __init__(self, type=None):
        d = get_default_dtype() if type is None else as_dtype(type)
        if not d.is_floating_point:
            raise TypeError(f"torch.finfo() requires a floating point input type, got {d}. Use torch.iinfo to "
                            f"handle integer types")
        info = np.finfo(d.np)
        self.bits, self.dtype = info.bits, d.name
        self.eps, self.max, self.min = float(info.eps), float(info.max), float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -info.precision  # not float(info.resolution), which is rounded to the dtype

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """``torch.iinfo``: an integer dtype's ``bits``, ``min``, ``max`` and ``dtype`` (its name)."""

    def __init__(self, type):
        d = as_dtype(type)
        if d.category != 1:
            raise TypeError(f"torch.iinfo() requires an integer input type, got {d}. Use torch.finfo to handle "
                            f"floating types")
        info = np.iinfo(d.np)
        self.bits, self.min, self.max, self.dtype = info.bits, int(info.min), int(info.max), d.name

    def __repr__(self):
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def promote_types(type1, type2) -> dtype:
    """``torch.promote_types``: the dtype two tensors' op gives (the higher category wins, as PyTorch, so
    float16 with int64 is float16)."""
    return promote([as_dtype(type1), as_dtype(type2)])


def can_cast(from_, to) -> bool:
    """``torch.can_cast``: whether PyTorch's in-place ops may write ``from_`` into ``to`` (never down a category:
    floating to integer, integer to bool)."""
    return as_dtype(from_).category <= as_dtype(to).category
