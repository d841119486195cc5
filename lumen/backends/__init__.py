"""Backends: one per device family, all implementing :class:`lumen.backends.base.Backend`.

The CPU backend is always there; the CUDA backend is imported on first use, so
nothing on the CPU path imports CuPy.
"""
from __future__ import annotations

from . import conv  # lumen.backends.conv: the convolution algorithm settings of every backend
from .base import Backend

_loaded: dict[str, Backend] = {}


def get(device_type: str) -> Backend:
    """The backend instance for ``"cpu"`` or ``"cuda"``."""
    backend = _loaded.get(device_type)
    if backend is None:
        if device_type == "cpu":
            from .cpu import NumpyBackend
            backend = NumpyBackend()
        elif device_type == "cuda":
            from .cuda import CupyBackend
            backend = CupyBackend()
        else:
            raise ValueError(f"unknown device type {device_type!r}; expected 'cpu' or 'cuda'")
        _loaded[device_type] = backend
    return backend


def loaded():
    """Backends instantiated so far (seeding reaches each of them)."""
    return list(_loaded.values())


__all__ = ["Backend", "get", "loaded"]
