"""Argument checks shared by the ops: each public op validates its arguments once, here."""
from __future__ import annotations
from ..tensor import Tensor  # defined before lumen.tensor imports the ops


def pair(value, name: str, op: str, minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints as ``(h, w)``, each at least ``minimum``."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
        out = tuple(value)
    else:
        out = (value, value)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in out):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(out) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return out


def check_tensor(t, name: str, op: str):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    return t


def check_4d(x, op: str, name: str = "input") -> None:
    check_tensor(x, name, op)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-d (N, C, H, W) {name}, got shape {tuple(x.shape)}")


def check_float(x, op: str, name: str = "input") -> None:
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}: expected a floating-point {name}, got {x.dtype} of shape {tuple(x.shape)}")


def check_same(op: str, main, **others) -> None:
    """Every tensor in ``others`` has ``main``'s dtype and device."""
    for name, t in others.items():
        if t is None:
            continue
        check_tensor(t, name, op)
        if t.device != main.device:
            raise RuntimeError(f"{op}: input is on {main.device} but {name} is on {t.device}")
        if t.dtype is not main.dtype:
            raise TypeError(f"{op}: input is {main.dtype} but {name} is {t.dtype} "
                            f"(shape {tuple(t.shape)}); convert one of them")
