"""Devices name a backend: ``lumen.device("cpu")``, ``lumen.device("cuda:0")``."""
from __future__ import annotations


class device:
    __slots__ = ("type", "index")

    def __init__(self, spec, index=None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {spec!r}; expected 'cpu', 'cuda' or 'cuda:N'")
        if idx:
            if not idx.isdigit():
                raise ValueError(f"unknown device {spec!r}; the index after ':' must be a number")
            index = int(idx)
        if kind == "cpu" and index not in (None, 0):
            raise ValueError(f"unknown device {spec!r}; the CPU has no index")
        self.type = kind
        self.index = (index or 0) if kind == "cuda" else None

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


CPU = device("cpu")
_default_device = CPU


def set_default_device(d) -> None:
    """The device creation functions (``zeros``, ``tensor``, ``rand``, layers' parameters...) use when given
    ``device=None``; ``None`` restores the CPU, as ``torch.set_default_device``."""
    global _default_device
    _default_device = CPU if d is None else as_device(d)


def get_default_device() -> device:
    return _default_device


def target_device(d) -> device:
    """The device a creation function with ``device=d`` makes its tensor on."""
    return _default_device if d is None else as_device(d)


def as_device(d) -> device:
    if d is None:
        return CPU
    if isinstance(d, device):
        return d
    return CPU if d == "cpu" else device(d)  # one CPU object, so device checks are identity checks
