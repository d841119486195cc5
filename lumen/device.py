"""Devices name a backend: ``lumen.device("cpu")``, ``lumen.device("cuda:1")``; :func:`placed` runs code on one."""
from __future__ import annotations

import contextlib
import functools
import sys


def current_cuda_index() -> int:
    """The current CUDA device's index (``lumen.cuda.current_device()``); 0 while the CUDA backend has not been
    imported, so that naming ``"cuda"`` never imports CuPy."""
    backend = sys.modules.get("lumen.backends.cuda")
    return 0 if backend is None else backend.current_device()


class device:
    """``device("cpu")``, ``device("cuda:1")``, ``device("cuda", 1)`` or ``device(1)`` (CUDA device 1).

    ``device("cuda")`` names the current CUDA device (``lumen.cuda.current_device()``) at the time it is made,
    so its index is never None; PyTorch keeps ``index=None`` and resolves it when the device is used.
    """
    __slots__ = ("type", "index")

    def __init__(self, spec, index=None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if isinstance(spec, int) and not isinstance(spec, bool):
            spec, index = "cuda", spec  # PyTorch: an ordinal names a device of the accelerator
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
        if index is not None and index < 0:
            raise RuntimeError(f"device: index must not be negative, got {index}")
        self.type = kind
        self.index = (current_cuda_index() if index is None else index) if kind == "cuda" else None

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


_ANYWHERE = contextlib.nullcontext()


def placed(d):
    """A context manager inside which new backend arrays and kernel launches land on device ``d``: CUDA's
    current device becomes ``d``'s (restored on exit; a RuntimeError for an index past the device count);
    nothing changes for the CPU."""
    if d is CPU:  # the hot path: every op on a CPU tensor asks
        return _ANYWHERE
    dev = as_device(d)
    backend = sys.modules.get("lumen.backends.cuda") if dev.type == "cuda" else None
    # Before the CUDA backend is imported no CUDA array exists to place (the creation functions get the backend,
    # and so import it, before they place their arrays).
    return _ANYWHERE if backend is None else backend.device_context(dev.index)


def on_input_device(fn):
    """``fn`` (an op that works on its tensors' arrays outside a Function) run with its first tensor argument's
    CUDA device current, as every Function's forward and backward are: CuPy works on the current device."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        dev = getattr(args[0], "_device", None) if args else None
        if dev is None:
            dev = next((a._device for a in args if hasattr(a, "_device")), CPU)
        if dev is CPU or dev.type != "cuda":
            return fn(*args, **kwargs)
        with placed(dev):
            return fn(*args, **kwargs)
    return run


def mismatch_error(first, second) -> RuntimeError:
    """PyTorch's error for an op given tensors on two devices (``first`` the one seen first)."""
    return RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                        f"{first} and {second}!")
