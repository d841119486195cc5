"""Whether operations record the graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``."""
from __future__ import annotations

import functools
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


def _set(flag: bool) -> None:
    _state.enabled = bool(flag)


class _GradMode:
    """Context manager and decorator that sets recording to ``self.mode`` and restores it after."""

    mode = True

    def __enter__(self):
        self.prev = is_grad_enabled()
        _set(self.mode)
        return self

    def __exit__(self, *exc):
        _set(self.prev)
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Operations inside record no graph (inference, optimizer updates)."""
    mode = False


class enable_grad(_GradMode):
    """Re-enables recording inside a ``no_grad`` block."""
    mode = True


class set_grad_enabled(_GradMode):
    """Sets recording on or off: as a context manager, a decorator, or (like PyTorch) a plain call."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.prev = is_grad_enabled()
        _set(self.mode)

    def __enter__(self):
        _set(self.mode)  # prev was taken by __init__, before the switch
        return self

    def __call__(self, fn):
        _set(self.prev)  # used as a decorator, __init__ must not leave the mode switched
        return super().__call__(fn)
